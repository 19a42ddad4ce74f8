"""`docket ledger retain` and `docket ledger erase` on a state folder's ledger."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from docket.usecases import resolve_spec
from models.settings import Settings
from serving.ledger import DecisionLog
from tests.serving.review.helpers import FakeClock, record_decision

runner = CliRunner()


@pytest.fixture
def ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DecisionLog:
    settings = Settings.local(tmp_path / "home").ensure()
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    log = DecisionLog(settings.database_url)
    log.migrate()
    return log


def test_retain_erases_what_is_past_the_shipped_period(ledger: DecisionLog) -> None:
    days = resolve_spec("credit-eligibility").retention.payload_days  # type: ignore[union-attr]
    # one decision final long before the period, one made just now
    old = record_decision(
        ledger, FakeClock(datetime(2020, 1, 6, tzinfo=UTC)), recommendation="approve",
        outcome="approved",
    )  # fmt: skip
    new = record_decision(
        ledger, FakeClock(datetime.now(UTC)), recommendation="approve", outcome="approved"
    )
    dry = runner.invoke(app, ["ledger", "retain", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.stdout)
    assert [d["decision_id"] for d in planned["erased"]] == [old.decision_id]
    assert planned["periods_days"] == {"credit-eligibility": days}
    done = runner.invoke(app, ["ledger", "retain"])
    assert done.exit_code == 0, done.output
    assert f"erased {old.decision_id} (credit-eligibility" in done.stdout
    assert "1 not yet due" in done.stdout
    kept = next(e for e in ledger.entries_for(new.decision_id) if e.kind == "decision")
    assert ledger.get_payload(kept.entry_id).payload is not None
    assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0


def test_erase_on_request_and_its_errors(ledger: DecisionLog) -> None:
    decided = record_decision(
        ledger, FakeClock(datetime.now(UTC)), recommendation="approve", outcome="approved"
    )
    args = ["ledger", "erase", "--decision", decided.decision_id, "--reason", "request 2026-118"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0 and "erased 1 personal payload(s)" in done.stdout
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and "nothing left to erase" in again.stdout
    unknown = runner.invoke(app, ["ledger", "erase", "--decision", "nope", "--reason", "x"])
    assert unknown.exit_code == 2 and "no decision has decision_id 'nope'" in unknown.output
    blank = runner.invoke(
        app, ["ledger", "erase", "--decision", decided.decision_id, "--reason", " "]
    )
    assert blank.exit_code == 2 and "needs a reason" in blank.output
    assert runner.invoke(app, ["ledger", "verify"]).exit_code == 0


def test_export_writes_only_consenting_decisions(ledger: DecisionLog, tmp_path: Path) -> None:
    clock = FakeClock(datetime.now(UTC))
    agreed = record_decision(
        ledger, clock, recommendation="approve", outcome="approved", training_consent=True
    )
    record_decision(ledger, clock, recommendation="approve", outcome="approved")
    out = tmp_path / "out" / "training.csv"
    done = runner.invoke(
        app, ["ledger", "export", "--use-case", "credit-eligibility", "-o", str(out), "--json"]
    )
    assert done.exit_code == 0, done.output
    result = json.loads(done.stdout)
    assert result["exported"] == 1 and result["left_out_without_training_consent"] == 1
    import pandas as pd

    frame = pd.read_csv(out)
    assert frame["__decision_id"].tolist() == [agreed.decision_id]
    bad = runner.invoke(
        app, ["ledger", "export", "--use-case", "credit-eligibility", "-o", str(tmp_path / "x.txt")]
    )
    assert bad.exit_code == 2 and "--output must end in .csv or .parquet" in bad.output
