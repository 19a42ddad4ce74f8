"""Retention and erasure: payloads go when their period ends, the ledger keeps verifying."""

from __future__ import annotations

from datetime import timedelta

import pytest

from serving.ledger import DecisionLog, EntryNotFoundError
from serving.review import ReviewDesk
from serving.review.retention import erase_decision, retain
from tests.serving.review.helpers import ANN, USE_CASE, FakeClock, record_decision, work

DAYS = 30


def _payloads(log: DecisionLog, decision_id: str) -> list[object]:
    return [
        log.get_payload(e.entry_id).payload
        for e in log.entries_for(decision_id)
        if e.kind in ("decision", "review_action") and e.payload_hash is not None
    ]


def test_a_final_decision_is_erased_only_after_its_period(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given: an automated decision, final at once
    final = record_decision(log, clock, recommendation="approve", outcome="approved")
    # when: a day before the period ends, then a day after
    early = retain(log, {USE_CASE: DAYS}, now=clock() + timedelta(days=DAYS - 1))
    late = retain(log, {USE_CASE: DAYS}, now=clock() + timedelta(days=DAYS + 1))
    # then
    assert early.erased == [] and early.not_yet_due == 1
    assert [d.decision_id for d in late.erased] == [final.decision_id]
    assert _payloads(log, final.decision_id) == [None]
    entry = next(e for e in log.entries_for(final.decision_id) if e.kind == "decision")
    erasures = [e for e in log.entries_for(entry.entry_id) if e.kind == "admin"]
    assert len(erasures) == 1 and "retention period ended: 30 days" in erasures[0].digest["reason"]
    assert log.verify().ok


def test_a_referred_decision_counts_from_its_resolution(
    log: DecisionLog, desk: ReviewDesk, clock: FakeClock
) -> None:
    # given: a referred decision, pending for 40 days, then resolved
    referred = record_decision(log, clock)
    assert referred.case is not None
    pending = retain(log, {USE_CASE: DAYS}, now=clock() + timedelta(days=DAYS + 5))
    assert pending.erased == [] and pending.pending_review == 1
    clock.advance(days=40)
    work(desk, referred.case.case_id, ANN, clock)
    desk.resolve(
        referred.case.case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed"
    )
    # when: 40 days after the decision, but only days after the resolution
    soon = retain(log, {USE_CASE: DAYS}, now=clock() + timedelta(days=DAYS - 1))
    later = retain(log, {USE_CASE: DAYS}, now=clock() + timedelta(days=DAYS + 1))
    # then: kept until the period after the resolution ends; then every payload goes
    assert soon.erased == []
    assert [d.decision_id for d in later.erased] == [referred.decision_id]
    assert all(p is None for p in _payloads(log, referred.decision_id))
    assert log.verify().ok


def test_a_use_case_without_a_period_is_kept_and_said_so(
    log: DecisionLog, clock: FakeClock
) -> None:
    record_decision(log, clock, recommendation="approve", outcome="approved")
    report = retain(log, {}, now=clock() + timedelta(days=3650))
    assert report.erased == [] and report.no_period == {USE_CASE: 1}


def test_a_dry_run_erases_nothing(log: DecisionLog, clock: FakeClock) -> None:
    final = record_decision(log, clock, recommendation="approve", outcome="approved")
    report = retain(log, {USE_CASE: 1}, now=clock() + timedelta(days=2), dry_run=True)
    assert [d.decision_id for d in report.erased] == [final.decision_id]
    assert _payloads(log, final.decision_id) != [None]


def test_erasure_on_request(log: DecisionLog, clock: FakeClock) -> None:
    decided = record_decision(log, clock, recommendation="approve", outcome="approved")
    erased = erase_decision(log, decided.decision_id, "erasure request 2026-118")
    assert len(erased) == 1 and _payloads(log, decided.decision_id) == [None]
    assert erase_decision(log, decided.decision_id, "again") == ()  # nothing left
    with pytest.raises(EntryNotFoundError, match="no decision has decision_id 'nope'"):
        erase_decision(log, "nope", "erasure request")
    with pytest.raises(ValueError, match="needs a reason"):
        erase_decision(log, decided.decision_id, " ")
    assert log.verify().ok


def test_the_schedule_runs_once_per_period(log: DecisionLog, clock: FakeClock) -> None:
    from serving.review.retention import RetentionSchedule

    final = record_decision(log, clock, recommendation="approve", outcome="approved")
    schedule = RetentionSchedule(log, lambda: {USE_CASE: 1}, every_seconds=86400, clock=clock)
    assert schedule.run_if_due() is None  # the first run is a day after the start
    clock.advance(days=1)
    first = schedule.run_if_due()
    assert first is not None and [d.decision_id for d in first.erased] == [final.decision_id]
    clock.advance(hours=23)
    assert schedule.run_if_due() is None  # not again within the day
