"""`docket monitor`: the report over the state folder's ledger, alerts recorded, exit codes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings
from serving.ledger import DecisionLog
from serving.monitoring.state import current_alerts
from tests.serving.review.helpers import FakeClock, record_decision

runner = CliRunner()


@pytest.fixture
def ledger(
    served_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> DecisionLog:
    # the shared registry (read only) for the reference; the ledger and the page in tmp
    for key, value in served_settings.as_env().items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DOCKET_HOME", str(home))
    url = f"sqlite:///{home / 'decisions.db'}"
    monkeypatch.setenv("DOCKET_DATABASE_URL", url)
    log = DecisionLog(url)
    log.migrate()
    return log


def test_bad_window_is_exit_2(ledger: DecisionLog) -> None:
    result = runner.invoke(app, ["monitor", "credit-eligibility", "--window", "month"])
    assert result.exit_code == 2
    assert "'--window' must be one of ['day', 'week', '1d', '7d'] (got 'month')" in result.output


@pytest.mark.parametrize(("given", "kind"), [("7d", "week"), ("1d", "day"), ("day", "day")])
def test_window_spellings(ledger: DecisionLog, given: str, kind: str) -> None:
    result = runner.invoke(app, ["monitor", "credit-eligibility", "--window", given, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["window"] == kind


def test_an_empty_ledger_has_no_alert(ledger: DecisionLog) -> None:
    result = runner.invoke(app, ["monitor", "credit-eligibility", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["alerts"] == [] and out["report"]["windows"] == []
    assert Path(out["page"]).is_file()


def test_one_applicant_over_and_over_drifts_and_is_recorded_once(ledger: DecisionLog) -> None:
    # the same applicant 200 times: every feature's distribution is one point, far from
    # the training data's, so drift alerts whatever the thresholds
    clock = FakeClock(datetime(2026, 11, 3, 9, tzinfo=UTC))
    for _ in range(200):
        record_decision(ledger, clock, recommendation="approve", outcome="approved")
    result = runner.invoke(app, ["monitor", "credit-eligibility", "--json"])
    assert result.exit_code == 1, result.output
    out = json.loads(result.stdout)
    assert {a["kind"] for a in out["alerts"]} == {"drift"}
    assert out["recorded"] and all(r["state"] == "raised" for r in out["recorded"])
    raised = current_alerts(ledger, "credit-eligibility")
    assert {a.key for a in raised} == {r["key"] for r in out["recorded"]}
    page = Path(out["page"]).read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Drift over time" in page
    again = runner.invoke(app, ["monitor", "credit-eligibility", "--json"])
    assert again.exit_code == 1 and json.loads(again.stdout)["recorded"] == []
