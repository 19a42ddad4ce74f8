"""Per-reviewer statistics (R8) against a hand-computed example."""

from __future__ import annotations

from typing import Any

import pytest

from serving.ledger import DecisionLog
from serving.review import ReviewDesk
from tests.serving.review.helpers import ANN, BOB, FEATURES, TIA, FakeClock, record_decision, work

NOTE = "documented in the file"


def _resolve(
    desk: ReviewDesk,
    log: DecisionLog,
    clock: FakeClock,
    person: dict[str, Any],
    recommendation: str,
    outcome: str,
    code: str,
    seconds: float,
    features: dict[str, Any] | None = None,
) -> str:
    record = record_decision(log, clock, recommendation=recommendation, features=features)
    assert record.case is not None
    work(desk, record.case.case_id, person, clock, seconds=seconds)
    desk.resolve(record.case.case_id, **person, outcome=outcome, reason_code=code, note=NOTE)
    return record.case.case_id


def test_statistics_per_reviewer_match_a_hand_computed_example(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    #   Ann: decline->declined (agrees, 60 s); decline->approved (override income_verified,
    #        100 s); uncertain->approved (no recommendation, 80 s)
    #   Bob: approve->approved (agrees, 70 s); approve->declined (override data_error, 90 s);
    #        decline->declined (agrees, 200 s); decline->approved on a high-stakes amount
    #        (override policy_exception, 120 s, sent to Tia, who confirms after 60 s)
    _resolve(desk, log, clock, ANN, "decline", "declined", "model_reasons_confirmed", 60)
    _resolve(desk, log, clock, ANN, "decline", "approved", "income_verified", 100)
    _resolve(desk, log, clock, ANN, "uncertain", "approved", "model_reasons_confirmed", 80)
    _resolve(desk, log, clock, BOB, "approve", "approved", "model_reasons_confirmed", 70)
    _resolve(desk, log, clock, BOB, "approve", "declined", "data_error", 90)
    _resolve(desk, log, clock, BOB, "decline", "declined", "model_reasons_confirmed", 200)
    high = {**FEATURES, "Amount": 8000}
    case_id = _resolve(desk, log, clock, BOB, "decline", "approved", "policy_exception", 120, high)
    desk.open(case_id, **TIA)
    clock.advance(seconds=60)
    desk.second_review(case_id, **TIA, confirm=True)

    # when
    ann, bob, tia = desk.stats()

    # then
    #   Ann: 3 cases, 2 with a recommendation, 1 agreement -> 0.5; median(60, 100, 80) = 80
    assert (ann.person_name, ann.cases, ann.with_recommendation, ann.agreements) == (
        "Ann Lee",
        3,
        2,
        1,
    )
    assert ann.agreement_rate == pytest.approx(0.5)
    assert (ann.overrides, ann.overrides_by_reason) == (1, {"income_verified": 1})
    assert ann.median_seconds == pytest.approx(80)
    #   Bob: 4 cases, all with a recommendation, 2 agreements -> 0.5;
    #   median(70, 90, 200, 120) = (90 + 120) / 2 = 105
    assert (bob.cases, bob.with_recommendation, bob.agreements) == (4, 4, 2)
    assert bob.agreement_rate == pytest.approx(0.5)
    assert (bob.overrides, bob.overrides_by_reason) == (2, {"data_error": 1, "policy_exception": 1})
    assert bob.median_seconds == pytest.approx(105)
    assert bob.second_reviews == 0
    #   Tia resolved nothing herself and made one second review
    assert (tia.cases, tia.agreement_rate, tia.median_seconds, tia.second_reviews) == (
        0,
        None,
        None,
        1,
    )


def test_statistics_of_one_use_case_and_from_a_date(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: one resolution at 09:01, another at 09:03
    _resolve(desk, log, clock, ANN, "decline", "declined", "model_reasons_confirmed", 60)
    since = clock.advance(seconds=60)
    _resolve(desk, log, clock, ANN, "decline", "declined", "model_reasons_confirmed", 60)

    # when / then
    [ann] = desk.stats(since=since)
    assert ann.cases == 1
    assert desk.stats(use_case="retention-propensity") == []
    assert [s.cases for s in desk.stats(use_case="credit-eligibility")] == [2]
