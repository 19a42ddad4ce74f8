"""Deadlines (R24): the queue is ordered by deadline, overdue cases show it, and are escalated once."""

from __future__ import annotations

import pytest

from serving.ledger import DecisionLog
from serving.review import ReviewDesk
from serving.review.errors import ReviewError
from tests.serving.review.helpers import ANN, BOB, FakeClock, record_decision, work


def _escalations(log: DecisionLog) -> list[dict[str, object]]:
    return [e.digest for e in log.iter_entries() if e.digest.get("action") == "escalated"]


def test_the_queue_is_oldest_deadline_first_and_marks_overdue_cases(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: decided at 09:00 with deadlines 09:00 + 5 h, + 1 h, + 3 h
    late = record_decision(log, clock, deadline_hours=5)
    early = record_decision(log, clock, deadline_hours=1)
    middle = record_decision(log, clock, deadline_hours=3)

    # when: at 13:30
    clock.advance(hours=4, minutes=30)
    queue = desk.queue()

    # then
    assert [c.decision_id for c in queue] == [
        early.decision_id,
        middle.decision_id,
        late.decision_id,
    ]
    assert [c.overdue for c in queue] == [True, True, False]
    assert [c.overdue_seconds for c in queue] == [3.5 * 3600, 1.5 * 3600, 0.0]
    assert [c.decision_id for c in desk.overdue()] == [early.decision_id, middle.decision_id]


def test_an_overdue_case_is_escalated_exactly_once(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: a case due at 10:00
    record = record_decision(log, clock, deadline_hours=1)
    assert record.case is not None

    # when: the periodic check runs at 09:59, 10:00, 10:15 and 11:00
    runs = []
    for minutes in (59, 1, 15, 45):
        clock.advance(minutes=minutes)
        runs.append(desk.escalate_overdue())

    # then: only the run at 10:15 escalates (10:00 is not yet past the deadline)
    assert [len(r) for r in runs] == [0, 0, 1, 0]
    [escalation] = runs[2]
    assert escalation.case_id == record.case.case_id
    assert escalation.overdue_seconds == 15 * 60
    [entry] = _escalations(log)
    assert entry["case_id"] == record.case.case_id
    assert entry["overdue_seconds"] == 900
    assert entry["person_name"] == "system"
    [case] = desk.queue()
    assert case.status == "escalated"
    assert case.escalated_at == "2026-03-02T10:15:00.000000Z"
    assert case.overdue_seconds == 3600
    assert log.verify().ok


def test_an_escalated_case_can_still_be_worked_and_returns_escalated_when_released(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock, deadline_hours=1)
    assert record.case is not None
    case_id = record.case.case_id
    clock.advance(hours=2)
    desk.escalate_overdue()

    # when
    desk.claim(case_id, **ANN)
    released = desk.release(case_id, **ANN)
    work(desk, case_id, BOB, clock)
    resolved = desk.resolve(
        case_id, **BOB, outcome="declined", reason_code="model_reasons_confirmed"
    )

    # then
    assert released.case.status == "escalated"
    assert resolved.case.status == "resolved"
    assert resolved.case.overdue is False
    assert desk.overdue() == []


def test_a_claimed_overdue_case_is_escalated_once_and_stays_with_its_reviewer(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: Ann holds the case when it falls due
    record = record_decision(log, clock, deadline_hours=1)
    assert record.case is not None
    case_id = record.case.case_id
    clock.advance(minutes=50)
    desk.claim(case_id, **ANN)

    # when
    clock.advance(minutes=20)
    first = desk.escalate_overdue()
    clock.advance(minutes=1)
    second = desk.escalate_overdue()

    # then
    assert [e.case_id for e in first] == [case_id] and second == []
    case = desk.get(case_id)
    assert (case.status, case.claimed_by_id) == ("claimed", "p-ann")
    # when the lease lapses, the case is back in the queue as escalated
    clock.advance(minutes=30)
    assert desk.get(case_id).status == "escalated"
    assert len(_escalations(log)) == 1


def test_resolved_cases_are_never_escalated(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock, deadline_hours=1)
    assert record.case is not None
    work(desk, record.case.case_id, ANN, clock)
    desk.resolve(
        record.case.case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed"
    )

    # when
    clock.advance(hours=3)

    # then
    assert desk.escalate_overdue() == []
    assert desk.overdue() == []


def test_the_queue_filters_by_status_and_use_case(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    claimed = record_decision(log, clock)
    waiting = record_decision(log, clock)
    assert claimed.case is not None
    desk.claim(claimed.case.case_id, **ANN)

    # when / then
    assert [c.decision_id for c in desk.queue(status=["claimed"])] == [claimed.decision_id]
    assert [c.decision_id for c in desk.queue(status=["open"])] == [waiting.decision_id]
    assert desk.queue(use_case="retention-propensity") == []
    with pytest.raises(
        ReviewError, match=r"'status' must be among \[.*\]; got \['pending'\] instead"
    ):
        desk.queue(status=["pending"])
