"""``GET /admin/status`` lists the monitoring alerts raised now, and answers without them
when the ledger cannot be read."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, Literal

from fastapi.testclient import TestClient

from audits.monitoring import Alert, Window
from serving.decisions import DecisionEngine
from serving.http.app import create_app
from serving.ledger import DecisionLog
from serving.monitoring.state import alert_digest, subject_of


class _Engine(DecisionEngine):
    """Just what the status route reads of the engine (no models, no registry)."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log

    def status(self) -> dict[str, Any]:
        return {"served": {}}


def _client(engine: _Engine) -> TestClient:
    app = create_app()
    app.state.engine = engine
    app.state.checkpointing = None
    return TestClient(app)


def test_a_raised_alert_is_a_line_and_a_cleared_one_is_not(tmp_path: Path) -> None:
    # given: two alerts raised in one week, then the second cleared
    log = DecisionLog(f"sqlite:///{tmp_path / 'ledger.db'}")
    log.migrate()
    week = Window("week", dt.date(2026, 11, 30))
    income = Alert("drift", "alert", week, "psi", "income", 0.41, 0.25)
    gap = Alert("system", "warn", week, "override_rate_gap", "sex", 0.2, 0.1, ("f", "m"))
    subject = subject_of("credit-eligibility")
    steps: list[tuple[Alert, Literal["raised", "cleared"]]] = [
        (income, "raised"),
        (gap, "raised"),
        (gap, "cleared"),
    ]
    for alert, state in steps:
        log.append("admin", "credit-eligibility", alert_digest(alert, state), subject_id=subject)

    # when
    answer = _client(_Engine(log)).get("/admin/status")

    # then: one line, the drift alert, with its figure and threshold
    assert answer.status_code == 200, answer.text
    lines = answer.json()["monitoring"]
    assert [(x["kind"], x["what"], x["subject"]) for x in lines] == [("drift", "psi", "income")]
    assert lines[0]["value"] == 0.41 and lines[0]["threshold"] == 0.25
    assert lines[0]["use_case"] == "credit-eligibility" and lines[0]["status"] == "alert"
    log.close()


def test_the_status_still_answers_when_the_ledger_cannot_be_read() -> None:
    # a port nothing listens on: every connection is refused
    unreachable = DecisionLog("postgresql+psycopg://postgres@127.0.0.1:9/none")
    answer = _client(_Engine(unreachable)).get("/admin/status")
    assert answer.status_code == 200, answer.text
    assert answer.json()["monitoring"].startswith("unknown")
