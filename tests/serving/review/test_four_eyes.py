"""Four eyes (R23): some resolutions wait for a second, different person with the senior_reviewer role.

The credit spec's rule: approving what the model would decline, when Amount
is above 3,000, needs a senior reviewer.
"""

from __future__ import annotations

from typing import Any

import pytest

from serving.ledger import DecisionLog
from serving.review import CaseConflict, InvalidResolution, ReviewDesk, ReviewForbidden
from tests.serving.review.helpers import (
    ANN,
    BOB,
    FEATURES,
    SAM,
    TIA,
    FakeClock,
    record_decision,
    work,
)

HIGH_STAKES = {**FEATURES, "Amount": 5000}
NOTE = "payslips and bank statements show income twice what was declared"


def _proposed(desk: ReviewDesk, log: DecisionLog, clock: FakeClock, by: dict[str, Any]) -> str:
    """A declined-by-the-model, high-stakes case that ``by`` proposes to approve."""
    record = record_decision(log, clock, recommendation="decline", features=HIGH_STAKES)
    assert record.case is not None
    work(desk, record.case.case_id, by, clock)
    desk.resolve(
        record.case.case_id, **by, outcome="approved", reason_code="income_verified", note=NOTE
    )
    return record.case.case_id


def test_a_matching_resolution_waits_for_a_second_review(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    case_id = _proposed(desk, log, clock, ANN)

    # when
    case = desk.get(case_id)

    # then
    assert case.status == "awaiting_second_review"
    assert (case.proposed_outcome, case.proposed_by_id) == ("approved", "p-ann")
    assert case.outcome is None
    assert [c.case_id for c in desk.queue(status=["awaiting_second_review"])] == [case_id]
    [entry] = [
        e
        for e in log.entries_for(case.decision_id)
        if e.digest.get("action") == "second_review_requested"
    ]
    assert entry.digest["second_review_rule"].startswith("Approving a high-stakes amount")
    assert desk.final_outcome(case.decision_id).status == "pending_review"
    with pytest.raises(CaseConflict, match="is awaiting a second review of Ann Lee's proposed"):
        desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")


def test_below_the_limit_or_agreeing_with_the_model_needs_no_second_review(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: a small amount approved against the model; a large amount declined with it
    small = record_decision(log, clock, recommendation="decline")
    large = record_decision(log, clock, recommendation="decline", features=HIGH_STAKES)
    assert small.case is not None and large.case is not None

    # when
    work(desk, small.case.case_id, ANN, clock)
    first = desk.resolve(
        small.case.case_id, **ANN, outcome="approved", reason_code="income_verified", note=NOTE
    )
    work(desk, large.case.case_id, ANN, clock)
    second = desk.resolve(
        large.case.case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed"
    )

    # then
    assert first.case.status == second.case.status == "resolved"


def test_the_proposer_cannot_second_review_under_any_spelling_of_their_name(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: Sam (a senior reviewer) proposed the resolution
    case_id = _proposed(desk, log, clock, SAM)

    # when / then: the same person id, whatever name comes with it
    for name in ("Sam Senior", "sam senior", "S. Senior", "ＳＡＭ SENIOR"):
        me = {**SAM, "person_name": name}
        with pytest.raises(
            ReviewForbidden, match=r"four eyes: the second review .* other than Sam Senior"
        ):
            desk.open(case_id, **me)
        with pytest.raises(ReviewForbidden, match="four eyes"):
            desk.second_review(case_id, **me, confirm=True)
    assert desk.get(case_id).status == "awaiting_second_review"


def test_a_second_review_needs_the_senior_role(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    case_id = _proposed(desk, log, clock, ANN)

    # when / then
    with pytest.raises(
        ReviewForbidden, match=r"needs one of the roles \['senior_reviewer'\]; Bob Roe"
    ):
        desk.open(case_id, **BOB)
    with pytest.raises(ReviewForbidden, match=r"\['senior_reviewer'\]; Bob Roe"):
        desk.second_review(case_id, **BOB, confirm=True)
    with pytest.raises(
        CaseConflict, match="awaiting a second review of Ann Lee's proposed outcome"
    ):
        desk.claim(case_id, **BOB)


def test_the_second_reviewer_must_open_the_case_and_take_the_minimum_time(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    case_id = _proposed(desk, log, clock, ANN)

    # when / then
    with pytest.raises(CaseConflict, match="has not opened it since"):
        desk.second_review(case_id, **TIA, confirm=True)
    opened = desk.open(case_id, **TIA)
    with pytest.raises(CaseConflict, match="at least 60 s must pass"):
        desk.second_review(case_id, **TIA, confirm=True)
    assert opened.proposal is not None
    assert (opened.proposal.outcome, opened.proposal.proposed_by_name) == ("approved", "Ann Lee")
    assert opened.proposal.note == NOTE


def test_a_confirmed_resolution_is_final_and_names_both_people(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    case_id = _proposed(desk, log, clock, ANN)
    desk.open(case_id, **TIA)
    clock.advance(seconds=120)

    # when
    result = desk.second_review(case_id, **TIA, confirm=True)

    # then
    case = result.case
    assert case.status == "resolved"
    assert (case.outcome, case.reason_code) == ("approved", "income_verified")
    assert (case.resolved_by_id, case.second_reviewer_id) == ("p-ann", "p-tia")
    final = desk.final_outcome(case.decision_id)
    assert (final.status, final.outcome, final.decided_by_name, final.second_reviewer_name) == (
        "final",
        "approved",
        "Ann Lee",
        "Tia Senior",
    )
    with pytest.raises(
        CaseConflict, match="has no resolution awaiting a second review; its status is resolved"
    ):
        desk.second_review(case_id, **SAM, confirm=True)
    assert log.verify().ok


def test_a_rejected_resolution_needs_a_note_and_returns_the_case_to_the_queue(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    case_id = _proposed(desk, log, clock, ANN)
    desk.open(case_id, **TIA)
    clock.advance(seconds=120)

    # when / then
    with pytest.raises(InvalidResolution, match="rejecting a proposed resolution needs a 'note'"):
        desk.second_review(case_id, **TIA, confirm=False)
    result = desk.second_review(
        case_id, **TIA, confirm=False, note="the bank statements are not the applicant's"
    )

    # then
    assert result.case.status == "open"
    assert result.case.proposed_outcome is None and result.case.outcome is None
    assert desk.claim(case_id, **BOB).case.claimed_by_id == "p-bob"
    actions = [e.digest.get("action") for e in log.entries_for(result.case.decision_id)]
    assert actions[-2:] == ["second_review_rejected", "claimed"]


def test_when_the_features_were_erased_the_rule_counts_as_matched(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: a small amount, whose payload is erased before the review
    record = record_decision(log, clock, recommendation="decline")
    assert record.case is not None
    [decision] = [e for e in log.entries_for(record.decision_id) if e.kind == "decision"]
    log.erase_payload(decision.entry_id, "erasure request")
    work(desk, record.case.case_id, ANN, clock)

    # when
    result = desk.resolve(
        record.case.case_id, **ANN, outcome="approved", reason_code="income_verified", note=NOTE
    )

    # then
    assert result.case.status == "awaiting_second_review"
    assert log.verify().ok
