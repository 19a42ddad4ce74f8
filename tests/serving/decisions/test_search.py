"""Searching the ledger's decisions: each filter, days as UTC, paging, and bad queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from serving.decisions import DecisionQuery, search_decisions
from serving.decisions.record import DecisionRecord
from serving.ledger import DecisionLog
from tests.serving.review.helpers import FakeClock, record_decision


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))


@pytest.fixture
def log(db_url: str, clock: FakeClock) -> Iterator[DecisionLog]:
    # SQLite and PostgreSQL: the outcome filter reads JSON differently on each
    with DecisionLog(db_url, clock=clock) as decision_log:
        decision_log.migrate()
        yield decision_log


def _other_use_case(log: DecisionLog, clock: FakeClock, use_case: str) -> DecisionRecord:
    """A final decision of another use case, appended as the engine would."""
    base = record_decision(log, clock, recommendation="approve", outcome="approved")
    record = base.model_copy(update={"use_case": use_case, "decision_id": uuid.uuid4().hex})
    log.append("decision", use_case, record.model_dump(mode="json"), subject_id=record.decision_id)
    return record


def _ids(log: DecisionLog, **query: object) -> list[str]:
    page = search_decisions(log, DecisionQuery.model_validate(query))
    return [row.record.decision_id for row in page.rows]


def test_an_empty_query_finds_every_decision_newest_first(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given: three decisions, and a non-decision entry about the first
    made = []
    for _ in range(3):
        made.append(record_decision(log, clock, recommendation="approve", outcome="approved"))
        clock.advance(minutes=1)
    log.append("admin", "credit-eligibility", {"action": "note"}, subject_id=made[0].decision_id)

    # when
    found = _ids(log)

    # then: each once, the last made first
    assert found == [r.decision_id for r in reversed(made)]


def test_outcome_filter_finds_exactly_the_decisions_with_that_automated_outcome(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given: two of each outcome, interleaved
    made: dict[str, list[str]] = {"approved": [], "declined": [], "referred": []}
    for _ in range(2):
        for outcome, recommendation in (
            ("approved", "approve"),
            ("declined", "decline"),
            ("referred", "uncertain"),
        ):
            record = record_decision(log, clock, recommendation=recommendation, outcome=outcome)
            made[outcome].append(record.decision_id)

    # when / then: newest first within each outcome, no other outcome
    for outcome, ids in made.items():
        assert _ids(log, outcome=outcome) == list(reversed(ids)), outcome


def test_use_case_and_id_filters(log: DecisionLog, clock: FakeClock) -> None:
    # given: one credit decision and one of another use case
    credit = record_decision(log, clock, recommendation="approve", outcome="approved")
    other = _other_use_case(log, clock, "retention-propensity")

    # when
    by_use_case = _ids(log, use_case="retention-propensity")
    by_full_id = _ids(log, decision_id=credit.decision_id)
    by_prefix = _ids(log, decision_id=other.decision_id[:10])
    by_wildcard = _ids(log, decision_id="%")

    # then: a LIKE wildcard is taken literally (no id holds "%")
    assert by_use_case == [other.decision_id]
    assert by_full_id == [credit.decision_id]
    assert by_prefix == [other.decision_id]
    assert by_wildcard == []


def test_days_are_utc_and_both_ends_are_included(log: DecisionLog, clock: FakeClock) -> None:
    # given: decisions at the last instant of 1 March, during 2 March, and at midnight of 3 March
    clock.now = datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    late_first = record_decision(log, clock, recommendation="approve", outcome="approved")
    clock.now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    second = record_decision(log, clock, recommendation="approve", outcome="approved")
    clock.now = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)
    third = record_decision(log, clock, recommendation="approve", outcome="approved")

    # when
    only_second = _ids(log, date_from="2026-03-02", date_to="2026-03-02")
    up_to_first = _ids(log, date_to="2026-03-01")
    from_second = _ids(log, date_from="2026-03-02")

    # then
    assert only_second == [second.decision_id]
    assert up_to_first == [late_first.decision_id]
    assert from_second == [third.decision_id, second.decision_id]


def test_pages_follow_one_another_without_gaps_or_repeats(
    log: DecisionLog, clock: FakeClock
) -> None:
    # given: five decisions
    made = [
        record_decision(log, clock, recommendation="approve", outcome="approved").decision_id
        for _ in range(5)
    ]

    # when: pages of two
    seen: list[str] = []
    pages = 0
    before = None
    while True:
        page = search_decisions(log, DecisionQuery(), limit=2, before_seq=before)
        pages += 1
        seen += [row.record.decision_id for row in page.rows]
        if page.next_before is None:
            break
        before = page.next_before

    # then: 2 + 2 + 1
    assert pages == 3
    assert seen == list(reversed(made))


def test_a_full_last_page_says_there_is_nothing_older(log: DecisionLog, clock: FakeClock) -> None:
    # given: exactly two decisions
    for _ in range(2):
        record_decision(log, clock, recommendation="approve", outcome="approved")

    # when
    page = search_decisions(log, DecisionQuery(), limit=2)

    # then
    assert len(page.rows) == 2 and page.next_before is None


def test_blank_form_fields_do_not_filter() -> None:
    # given: what an unfilled HTML form sends
    sent = {"decision_id": " ", "use_case": "", "outcome": "", "date_from": "", "date_to": ""}

    # when
    query = DecisionQuery.model_validate(sent)

    # then
    assert query == DecisionQuery()


def test_a_malformed_date_is_refused_naming_the_field() -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        DecisionQuery.model_validate({"date_from": "31/02/2026"})

    # then
    assert [e["loc"] for e in caught.value.errors()] == [("date_from",)]


def test_an_unknown_outcome_is_refused_naming_the_field() -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        DecisionQuery.model_validate({"outcome": "maybe"})

    # then
    assert [e["loc"] for e in caught.value.errors()] == [("outcome",)]


def test_dates_out_of_order_are_refused_naming_both() -> None:
    # when
    with pytest.raises(ValidationError) as caught:
        DecisionQuery(date_from=date(2026, 3, 5), date_to=date(2026, 3, 4))

    # then
    message = str(caught.value)
    assert "date_from=2026-03-05" in message and "date_to=2026-03-04" in message


@pytest.mark.parametrize("limit", [0, 501])
def test_a_page_size_out_of_range_is_refused(log: DecisionLog, limit: int) -> None:
    # when / then
    with pytest.raises(ValueError, match=f"got {limit}"):
        search_decisions(log, DecisionQuery(), limit=limit)
