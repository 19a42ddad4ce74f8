"""The state machine of a case: opening with its decision, claim, lease, open, release, resolve (R8, R21)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from serving.ledger import DecisionLog, LogWriteError
from serving.ledger.schema import LogEntryRow
from serving.review import (
    CaseConflict,
    CaseNotFound,
    InvalidResolution,
    ReviewDesk,
    ReviewForbidden,
    ReviewNotConfigured,
    open_referral_case,
)
from serving.review.cases import _MESSAGE_NOT_OPENED, _transition, load_case
from serving.review.schema import CaseRow
from tests.serving.review.helpers import (
    ANN,
    AUDITOR,
    BOB,
    USE_CASE,
    FakeClock,
    credit_spec,
    record_decision,
    work,
)


def _actions(log: DecisionLog, decision_id: str) -> list[str]:
    return [e.digest["action"] for e in log.entries_for(decision_id) if e.kind != "decision"]


def _entries(log: DecisionLog) -> int:
    with Session(log.engine) as session:
        return int(session.scalar(select(func.count()).select_from(LogEntryRow)) or 0)


# -- opening a case with its decision --------------------------------------------------


def test_a_referred_decision_opens_exactly_one_case_with_it(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # when
    record = record_decision(log, clock, recommendation="decline", rules=("adverse_review",))
    record_decision(log, clock, outcome="declined")  # automated: no case

    # then
    [case] = desk.queue()
    assert record.case is not None
    assert case.case_id == record.case.case_id
    assert case.decision_id == record.decision_id
    assert case.status == "open" and case.kind == "referral"
    assert case.referral_rules == ("adverse_review",)
    assert case.model_recommendation == "decline"
    assert case.deadline == "2026-03-04T09:00:00.000000Z"  # decided 2026-03-02 09:00 + 48 h
    assert not case.overdue


def test_the_same_case_cannot_be_opened_twice_and_the_decision_is_not_written_either(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    before = _entries(log)

    # when: a second decision entry naming the same decision and case
    with pytest.raises(LogWriteError):
        log.append(
            "decision",
            USE_CASE,
            record.model_dump(mode="json"),
            subject_id=record.decision_id,
            also=lambda session, entry: open_referral_case(session, record),
        )

    # then
    assert _entries(log) == before
    assert log.verify().ok


def test_a_hook_given_a_record_without_case_writes_nothing(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given
    automated = record_decision(log, clock, outcome="approved", recommendation="approve")
    before = _entries(log)

    # when / then
    with pytest.raises(ValueError, match="only a referred decision with its 'case'"):
        log.append(
            "decision",
            USE_CASE,
            {"decision_id": "x"},
            subject_id="x",
            also=lambda session, entry: open_referral_case(session, automated),
        )
    assert _entries(log) == before


# -- claim, open, resolve ----------------------------------------------------------------


def test_claim_open_resolve_records_every_step_and_makes_the_outcome_final(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock, recommendation="decline")
    assert record.case is not None
    case_id = record.case.case_id

    # when
    claimed = desk.claim(case_id, **ANN)
    opened = desk.open(case_id, **ANN)
    clock.advance(seconds=90)
    resolved = desk.resolve(
        case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed"
    )

    # then
    assert claimed.case.status == "claimed"
    assert claimed.case.claimed_by_name == "Ann Lee"
    assert claimed.case.lease_until == "2026-03-02T09:30:00.000000Z"  # lease_minutes = 30
    assert opened.record.decision_id == record.decision_id
    assert opened.record.referral_reasons[0].rule == "adverse_review"
    assert opened.record.rationale.reasons[0].code == "INC01"
    assert opened.personal is not None and opened.personal.features["Amount"] == 1000
    assert opened.personal.recourse == {"found": False, "changes": []}
    assert resolved.case.status == "resolved"
    assert (resolved.case.outcome, resolved.case.resolved_by_id) == ("declined", "p-ann")
    assert _actions(log, record.decision_id) == ["claimed", "opened", "resolved"]
    resolution = log.entries_for(record.decision_id)[-1]
    assert resolution.kind == "review_action"
    assert resolution.digest["review_seconds"] == 90
    assert resolution.digest["override"] is False
    final = desk.final_outcome(record.decision_id)
    assert (final.status, final.outcome, final.decided_by) == ("final", "declined", "review")
    assert final.decided_by_name == "Ann Lee"
    assert desk.queue() == []
    assert log.verify().ok


def test_a_claimed_case_cannot_be_claimed_opened_or_resolved_by_another(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock)

    # when / then
    for act in (desk.claim, desk.open, desk.release):
        with pytest.raises(CaseConflict, match="is claimed by Ann Lee until 2026-03-02T09:30"):
            act(case_id, **BOB)
    with pytest.raises(CaseConflict, match="is claimed by Ann Lee"):
        desk.resolve(case_id, **BOB, outcome="declined", reason_code="model_reasons_confirmed")
    assert _actions(log, record.decision_id) == ["claimed", "opened"]


def test_resolving_without_opening_after_the_claim_is_refused(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: Ann opened the case under an earlier claim, released it, and claimed it again
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock, seconds=120)
    desk.release(case_id, **ANN)
    desk.claim(case_id, **ANN)
    clock.advance(seconds=120)

    # when / then
    expected = _MESSAGE_NOT_OPENED.format(
        case_id=case_id, name="Ann Lee", since="2026-03-02T09:02:00.000000Z"
    )
    with pytest.raises(CaseConflict, match=re.escape(expected)):
        desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")


def test_the_case_view_names_who_opened_it_during_the_live_claim_only(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id

    # when / then: claimed, not opened; opened; released; claimed again
    assert desk.claim(case_id, **ANN).case.opened_by_id is None
    assert desk.open(case_id, **ANN).case.opened_by_id == ANN["person_id"]
    assert desk.get(case_id).opened_by_id == ANN["person_id"]
    assert desk.release(case_id, **ANN).case.opened_by_id is None
    assert desk.claim(case_id, **ANN).case.opened_by_id is None


def test_resolving_before_the_minimum_time_is_refused_and_allowed_once_it_passed(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: min_review_seconds = 60 in the credit spec
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock, seconds=59)

    # when / then
    with pytest.raises(CaseConflict, match=r"opened 59 s ago; at least 60 s must pass .* wait 1 s"):
        desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")
    clock.advance(seconds=1)
    result = desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")
    assert result.case.status == "resolved"


def test_minimum_time_runs_from_the_first_opening(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: opened at 09:00, opened again at 09:00:50
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock, seconds=50)
    desk.open(case_id, **ANN)
    clock.advance(seconds=10)

    # when
    result = desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")

    # then
    assert result.case.status == "resolved"
    assert log.get(result.entry_id).digest["review_seconds"] == 60


def test_a_resolved_case_cannot_be_resolved_or_claimed_again(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock)
    desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")

    # when / then
    message = r"already resolved \(declined, by Ann Lee at 2026-03-02T09:01:00.000000Z\)"
    with pytest.raises(CaseConflict, match=message):
        desk.resolve(case_id, **ANN, outcome="approved", reason_code="income_verified", note="x")
    with pytest.raises(CaseConflict, match=message):
        desk.claim(case_id, **BOB)
    assert _actions(log, record.decision_id).count("resolved") == 1


def test_release_returns_the_case_to_the_queue(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    desk.claim(case_id, **ANN)

    # when
    released = desk.release(case_id, **ANN)

    # then
    assert released.case.status == "open"
    assert released.case.claimed_by_id is None
    assert desk.claim(case_id, **BOB).case.claimed_by_name == "Bob Roe"


# -- leases ------------------------------------------------------------------------------


def test_an_expired_lease_returns_the_case_to_the_queue_for_someone_else(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: Ann claims at 09:00 with a 30-minute lease, then walks away
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock, seconds=60)

    # when: at 09:30 the lease still holds; one second later it does not
    clock.advance(seconds=29 * 60)
    assert [c.status for c in desk.queue()] == ["claimed"]
    with pytest.raises(CaseConflict, match="claimed by Ann Lee"):
        desk.claim(case_id, **BOB)
    clock.advance(seconds=1)
    [waiting] = desk.queue()
    taken = desk.claim(case_id, **BOB)

    # then
    assert waiting.status == "open" and waiting.claimed_by_id is None
    assert taken.case.claimed_by_id == "p-bob"
    assert log.get(taken.entry_id).digest["took_over_from_id"] == "p-ann"
    with pytest.raises(CaseConflict, match="is claimed by Bob Roe"):
        desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")


def test_the_holder_cannot_resolve_after_the_lease_expired(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock, seconds=30 * 60 + 1)

    # when / then
    with pytest.raises(
        CaseConflict, match=re.escape("your claim expired at 2026-03-02T09:30:00.000000Z")
    ):
        desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")


def test_claiming_again_renews_the_lease_and_keeps_the_opening(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id
    work(desk, case_id, ANN, clock, seconds=25 * 60)

    # when
    renewed = desk.claim(case_id, **ANN)
    clock.advance(seconds=10 * 60)
    result = desk.resolve(case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed")

    # then
    assert renewed.case.lease_until == "2026-03-02T09:55:00.000000Z"
    assert result.case.status == "resolved"
    assert _actions(log, record.decision_id) == ["claimed", "opened", "claim_renewed", "resolved"]


def test_a_lease_comes_from_the_spec(log: DecisionLog, clock: FakeClock) -> None:
    # given
    desk = ReviewDesk(log, {USE_CASE: credit_spec(lease_minutes=5)}.get, clock=clock)
    record = record_decision(log, clock)
    assert record.case is not None

    # when
    claimed = desk.claim(record.case.case_id, **ANN)

    # then
    assert claimed.case.lease_until == "2026-03-02T09:05:00.000000Z"


# -- what a resolution must say ----------------------------------------------------------


@pytest.fixture
def held(desk: ReviewDesk, log: DecisionLog, clock: FakeClock) -> str:
    """A case (model recommends decline) Ann claimed and opened a minute ago."""
    record = record_decision(log, clock, recommendation="decline")
    assert record.case is not None
    work(desk, record.case.case_id, ANN, clock)
    return record.case.case_id


def test_outcome_and_reason_code_must_be_allowed(desk: ReviewDesk, held: str) -> None:
    # when / then
    with pytest.raises(
        InvalidResolution,
        match=re.escape(
            "'outcome' must be one of ['approved', 'declined']; got 'referred' instead"
        ),
    ):
        desk.resolve(held, **ANN, outcome="referred", reason_code="model_reasons_confirmed")
    with pytest.raises(InvalidResolution) as info:
        desk.resolve(held, **ANN, outcome="declined", reason_code="looks fine")
    assert str(info.value) == (
        "'reason_code' must be one of the review codes of 'credit-eligibility':"
        " ['additional_documents', 'data_error', 'income_verified', 'model_reasons_confirmed',"
        " 'policy_exception']; got 'looks fine' instead"
    )


def test_an_override_needs_a_code_that_justifies_it_and_a_note(
    desk: ReviewDesk, log: DecisionLog, held: str
) -> None:
    # when / then: approving what the model would decline
    with pytest.raises(
        InvalidResolution, match="reason_code 'model_reasons_confirmed' cannot justify"
    ):
        desk.resolve(
            held, **ANN, outcome="approved", reason_code="model_reasons_confirmed", note="n"
        )
    with pytest.raises(InvalidResolution, match="so 'note' must say why"):
        desk.resolve(held, **ANN, outcome="approved", reason_code="income_verified", note="  ")
    result = desk.resolve(
        held, **ANN, outcome="approved", reason_code="income_verified", note="payslips for 3 months"
    )

    # then: the note is personal data, kept in the erasable payload
    assert result.case.outcome == "approved"
    entry = log.get(result.entry_id)
    assert entry.digest["override"] is True and entry.digest["has_note"] is True
    assert "note" not in entry.digest
    assert log.get_payload(result.entry_id).payload == {"note": "payslips for 3 months"}


def test_only_reviewers_act_on_cases(desk: ReviewDesk, log: DecisionLog, clock: FakeClock) -> None:
    # given
    record = record_decision(log, clock)
    assert record.case is not None

    # when / then
    with pytest.raises(
        ReviewForbidden,
        match=r"needs one of the roles \['reviewer', 'senior_reviewer'\]; Aud Itor \(p-aud\) has \['auditor'\]",
    ):
        desk.claim(record.case.case_id, **AUDITOR)
    with pytest.raises(ReviewForbidden, match="person_id must be a non-empty str"):
        desk.claim(record.case.case_id, person_id=" ", person_name="Ann", roles={"reviewer"})


def test_a_use_case_without_review_section_cannot_resolve(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given
    desk = ReviewDesk(log, {USE_CASE: credit_spec(review=None)}.get, clock=clock)
    record = record_decision(log, clock)
    assert record.case is not None
    work(desk, record.case.case_id, ANN, clock)

    # when / then
    with pytest.raises(
        ReviewNotConfigured, match=r"has no \[review\] section in its decision spec"
    ):
        desk.resolve(record.case.case_id, **ANN, outcome="declined", reason_code="x")


def test_an_unknown_case_is_not_found(desk: ReviewDesk) -> None:
    with pytest.raises(CaseNotFound, match="no review case has case_id 'nope'"):
        desk.claim("nope", **ANN)
    with pytest.raises(CaseNotFound):
        desk.get("nope")


def test_a_transition_whose_condition_no_longer_holds_changes_nothing(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    # given: a case read as open, then claimed by Bob before the guarded UPDATE runs
    record = record_decision(log, clock)
    assert record.case is not None
    case_id = record.case.case_id

    # when / then
    with pytest.raises(CaseConflict, match="changed while claiming"), log.transaction() as tx:
        stale = load_case(tx.session, case_id)
        assert stale.status == "open"
        tx.session.connection().execute(
            update(CaseRow)
            .where(CaseRow.case_id == case_id)
            .values(status="claimed", claimed_by_id="p-bob", lease_until="9999")
        )
        _transition(
            tx.session, stale, [CaseRow.status == "open"], {"claimed_by_id": "p-ann"}, "claiming"
        )
    assert desk.get(case_id).status == "open"
