"""Appeals (R9, R25): a linked case for someone who took no part; its resolution is final."""

from __future__ import annotations

import pytest

from serving.decisions.validation import InvalidFeatures
from serving.ledger import DecisionLog
from serving.review import AppealRefused, CaseNotFound, ReviewDesk, ReviewForbidden
from serving.review.errors import ReviewError
from tests.serving.review.helpers import (
    ANN,
    BOB,
    CAT,
    FEATURES,
    SAM,
    TIA,
    FakeClock,
    record_decision,
    work,
)

STATEMENT = "My income rose in January; I attach my new contract."


def _reviewed(desk: ReviewDesk, log: DecisionLog, clock: FakeClock) -> str:
    """A referred decision Ann claimed and released, then Bob declined; returns its id."""
    record = record_decision(log, clock, recommendation="decline")
    assert record.case is not None
    case_id = record.case.case_id
    desk.claim(case_id, **ANN)
    desk.release(case_id, **ANN)
    work(desk, case_id, BOB, clock)
    desk.resolve(case_id, **BOB, outcome="declined", reason_code="model_reasons_confirmed")
    return record.decision_id


def test_an_appeal_opens_a_linked_case_with_its_own_deadline(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    decision_id = _reviewed(desk, log, clock)
    [referral] = desk.queue(status=["resolved"])

    # when: filed at 09:01; the credit spec gives appeals 120 hours
    result = desk.appeal(
        decision_id, statement=STATEMENT, filed_by="loans-app", features={"Income": 300}
    )

    # then
    case = result.case
    assert (case.kind, case.status, case.decision_id) == ("appeal", "open", decision_id)
    assert case.appeal_of == referral.case_id
    assert case.deadline == "2026-03-07T09:01:00.000000Z"
    assert case.excluded == ("p-ann", "p-bob")
    entry = log.get(result.entry_id)
    assert entry.kind == "appeal" and entry.subject_id == decision_id
    assert entry.digest["new_information"] == ["Income"]
    assert STATEMENT not in str(entry.digest)
    assert log.get_payload(result.entry_id).payload == {
        "statement": STATEMENT,
        "features": {"Income": 300},
    }
    final = desk.final_outcome(decision_id)
    assert (final.status, final.outcome, final.under_appeal) == ("pending_review", "declined", True)


def test_only_reviewers_who_took_no_part_may_work_the_appeal(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    decision_id = _reviewed(desk, log, clock)
    case_id = desk.appeal(decision_id, statement=STATEMENT, filed_by="loans-app").case.case_id

    # when / then: Ann only claimed the first case, Bob resolved it
    for person in (ANN, BOB, {**BOB, "person_name": "B. Roe"}):
        with pytest.raises(
            ReviewForbidden, match=r"took part in decision .* may not work its appeal"
        ):
            desk.claim(case_id, **person)
    assert [c.case_id for c in desk.queue(person_id="p-bob")] == []
    assert [c.case_id for c in desk.queue(person_id="p-cat")] == [case_id]
    assert desk.claim(case_id, **CAT).case.claimed_by_id == "p-cat"


def test_the_appeal_resolution_is_the_final_outcome_linked_to_the_original(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    decision_id = _reviewed(desk, log, clock)
    case_id = desk.appeal(
        decision_id, statement=STATEMENT, filed_by="loans-app", features={"Income": 300}
    ).case.case_id

    # when
    desk.claim(case_id, **CAT)
    opened = desk.open(case_id, **CAT)
    clock.advance(minutes=5)
    desk.resolve(
        case_id,
        **CAT,
        outcome="approved",
        reason_code="income_verified",
        note="new contract checked",
    )

    # then
    assert opened.appeal is not None
    assert (opened.appeal.statement, opened.appeal.features) == (STATEMENT, {"Income": 300})
    assert opened.case.appeal_of is not None
    final = desk.final_outcome(decision_id)
    assert (final.status, final.outcome, final.decided_by) == ("final", "approved", "appeal")
    assert (final.case_id, final.decided_by_name, final.under_appeal) == (case_id, "Cat Poe", False)
    actions = [(e.kind, e.action, e.person_name) for e in desk.history(decision_id)]
    assert actions == [
        ("review_action", "claimed", "Ann Lee"),
        ("review_action", "released", "Ann Lee"),
        ("review_action", "claimed", "Bob Roe"),
        ("review_action", "opened", "Bob Roe"),
        ("review_action", "resolved", "Bob Roe"),
        ("appeal", "appeal_filed", None),
        ("review_action", "claimed", "Cat Poe"),
        ("review_action", "opened", "Cat Poe"),
        ("review_action", "resolved", "Cat Poe"),
    ]
    assert log.verify().ok


def test_an_appeal_of_an_appeal_is_refused(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    decision_id = _reviewed(desk, log, clock)
    case_id = desk.appeal(decision_id, statement=STATEMENT, filed_by="loans-app").case.case_id
    work(desk, case_id, CAT, clock)
    desk.resolve(case_id, **CAT, outcome="declined", reason_code="model_reasons_confirmed")

    # when / then
    with pytest.raises(AppealRefused) as info:
        desk.appeal(decision_id, statement="again", filed_by="loans-app")
    assert str(info.value) == (
        f"decision {decision_id} was already appealed (appeal case {case_id}, status resolved);"
        " the appeal's resolution is final and an appeal cannot itself be appealed"
    )


def test_an_appeal_of_a_decision_pending_review_is_refused(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None

    # when / then
    with pytest.raises(AppealRefused) as info:
        desk.appeal(record.decision_id, statement=STATEMENT, filed_by="loans-app")
    assert str(info.value) == (
        f"decision {record.decision_id} is still pending review (case {record.case.case_id},"
        " status open); it can be appealed once that review is resolved"
    )


def test_an_automated_decision_can_be_appealed_by_anyone_with_the_role(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock, outcome="declined", recommendation="decline")

    # when
    case = desk.appeal(record.decision_id, statement=STATEMENT, filed_by="loans-app").case

    # then
    assert (case.appeal_of, case.excluded, case.model_recommendation) == (None, (), "decline")
    assert desk.claim(case.case_id, **ANN).case.status == "claimed"


def test_a_senior_second_reviewer_of_an_appeal_must_have_taken_no_part(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: Sam second-reviewed the original high-stakes case; Cat proposes to approve on appeal
    record = record_decision(
        log, clock, recommendation="decline", features={**FEATURES, "Amount": 5000}
    )
    assert record.case is not None
    work(desk, record.case.case_id, ANN, clock)
    desk.resolve(
        record.case.case_id,
        **ANN,
        outcome="approved",
        reason_code="income_verified",
        note="checked",
    )
    desk.open(record.case.case_id, **SAM)
    clock.advance(minutes=2)
    desk.second_review(record.case.case_id, **SAM, confirm=False, note="not convincing")
    work(desk, record.case.case_id, BOB, clock)
    desk.resolve(
        record.case.case_id, **BOB, outcome="declined", reason_code="model_reasons_confirmed"
    )
    case_id = desk.appeal(
        record.decision_id, statement=STATEMENT, filed_by="loans-app"
    ).case.case_id
    work(desk, case_id, CAT, clock)
    desk.resolve(
        case_id, **CAT, outcome="approved", reason_code="additional_documents", note="documents"
    )

    # when / then
    with pytest.raises(ReviewForbidden, match=r"Sam Senior .* took part in decision"):
        desk.open(case_id, **SAM)
    desk.open(case_id, **TIA)
    clock.advance(minutes=2)
    assert desk.second_review(case_id, **TIA, confirm=True).case.status == "resolved"


def test_bad_appeals_say_what_is_wrong(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock, outcome="declined")

    # when / then
    with pytest.raises(CaseNotFound, match="no decision has decision_id 'nope'"):
        desk.appeal("nope", statement=STATEMENT, filed_by="loans-app")
    with pytest.raises(
        ReviewError, match=r"'statement' must be a non-empty str .*; got '  ' instead"
    ):
        desk.appeal(record.decision_id, statement="  ", filed_by="loans-app")
    with pytest.raises(InvalidFeatures) as info:
        desk.appeal(
            record.decision_id,
            statement=STATEMENT,
            filed_by="loans-app",
            features={"Income": -5, "Salary": 1},
        )
    problems = {p.loc[-1]: p.msg for p in info.value.problems}
    assert set(problems) == {"Income", "Salary"}
    assert problems["Income"].startswith("must be between 0 and")
    assert problems["Salary"].startswith("unknown feature; allowed features:")
