"""`docket review stats` and `docket review overdue` read what the review desk recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from serving.ledger import DecisionLog
from serving.review import ReviewDesk
from tests.serving.review.helpers import FakeClock, credit_spec, record_decision, work

ANN = {"person_id": "p-ann", "person_name": "Ann Lee", "roles": ["reviewer"]}


def test_review_stats_and_overdue_from_the_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: under DOCKET_HOME, one case Ann resolved against the model's decline, and one
    # case left waiting past its deadline
    home = tmp_path / "home"
    monkeypatch.setenv("DOCKET_HOME", str(home))
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    home.mkdir()
    log = DecisionLog(f"sqlite:///{home / 'decisions.db'}")
    log.migrate()
    clock = FakeClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    spec = credit_spec()
    desk = ReviewDesk(log, lambda _: spec, clock=clock)
    worked = record_decision(log, clock)
    waiting = record_decision(log, clock, deadline_hours=1)
    assert worked.case is not None and waiting.case is not None
    work(desk, worked.case.case_id, ANN, clock, seconds=120)
    desk.resolve(
        worked.case.case_id,
        **ANN,
        outcome="approved",
        reason_code="income_verified",
        note="payslips for three months",
    )
    log.close()

    # when
    stats = CliRunner().invoke(app, ["review", "stats", "--json"])
    overdue = CliRunner().invoke(app, ["review", "overdue", "--json"])
    human = CliRunner().invoke(app, ["review", "stats"])

    # then: one case, an override of the model's decline for income_verified, 120 s
    assert stats.exit_code == 0, stats.output
    (ann,) = json.loads(stats.stdout)
    assert (ann["person_name"], ann["cases"], ann["overrides"]) == ("Ann Lee", 1, 1)
    assert ann["overrides_by_reason"] == {"income_verified": 1}
    assert ann["agreement_rate"] == 0.0
    assert "Ann Lee: 1 case(s), agreement with the model 0%" in human.stdout
    # the waiting case's deadline (1 h after 09:00) has passed on the real clock
    assert [c["case_id"] for c in json.loads(overdue.stdout)] == [waiting.case.case_id]
