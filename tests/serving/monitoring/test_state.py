"""Alert state read back from the ledger: the latest entry of each key decides."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from audits.monitoring import Alert, Window
from serving.ledger.entries import LogKind
from serving.ledger.store import DecisionLog
from serving.monitoring.state import alert_digest, alert_entries, current_alerts, subject_of


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}") as decision_log:
        decision_log.migrate()
        yield decision_log


def _alert(what: str, start: dt.date, value: float = 0.4) -> Alert:
    return Alert("drift", "alert", Window("week", start), what, "income", value, 0.25)


def _record(log: DecisionLog, use_case: str, alert: Alert, state: str) -> int:
    entry = log.append(
        LogKind.ADMIN,
        use_case,
        alert_digest(alert, state),  # type: ignore[arg-type]
        subject_id=subject_of(use_case),
    )
    return entry.seq


def test_latest_entry_of_a_key_decides(log: DecisionLog) -> None:
    week1, week2 = dt.date(2026, 1, 5), dt.date(2026, 1, 12)
    raised_psi = _record(log, "credit", _alert("psi", week1), "raised")
    _record(log, "credit", _alert("score_psi", week1), "raised")
    _record(log, "credit", _alert("score_psi", week2), "cleared")
    # another use case's alert and an unrelated admin entry are not this use case's
    other = _record(log, "hiring", _alert("psi", week1), "raised")
    log.append(LogKind.ADMIN, "credit", {"action": "stop"}, subject_id="switch:credit")

    now = current_alerts(log, "credit")
    assert [(a.what, a.seq, a.window, a.state) for a in now] == [
        ("psi", raised_psi, "week 2026-01-05", "raised")
    ]
    assert now[0].use_case == "credit"
    assert now[0].value == 0.4 and now[0].threshold == 0.25
    assert now[0].raised_at
    everywhere = current_alerts(log)
    assert [(a.use_case, a.seq) for a in everywhere] == [("credit", raised_psi), ("hiring", other)]
    assert len(alert_entries(log, "credit")) == 3


def test_raised_again_after_cleared_is_current(log: DecisionLog) -> None:
    week1 = dt.date(2026, 1, 5)
    _record(log, "credit", _alert("psi", week1), "raised")
    _record(log, "credit", _alert("psi", week1), "cleared")
    assert current_alerts(log, "credit") == []
    again = _record(log, "credit", _alert("psi", dt.date(2026, 1, 19), 0.5), "raised")
    now = current_alerts(log, "credit")
    assert [(a.seq, a.value, a.window) for a in now] == [(again, 0.5, "week 2026-01-19")]
