"""Entries and other rows written together: ``append(..., also=...)`` and ``transaction()``.

Both commit everything or nothing, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.decisions.schema import SwitchRow
from serving.ledger import DecisionLog, LogEntry, LogWriteError
from serving.ledger.schema import LogEntryRow, PayloadRow
from serving.ledger.store import LogTransaction

USE_CASE = "credit-eligibility"
AT = "2026-01-01T00:00:00+00:00"


class Refused(Exception):
    """What a caller's callback raises to abandon the write."""


def _switch(use_case: str) -> SwitchRow:
    return SwitchRow(use_case=use_case, stopped=True, changed_at=AT, changed_by="t", reason="r")


def _counts(log: DecisionLog) -> tuple[int, int, int]:
    with Session(log.engine) as session:
        entries = session.scalar(select(func.count()).select_from(LogEntryRow))
        payloads = session.scalar(select(func.count()).select_from(PayloadRow))
        switches = session.scalar(select(func.count()).select_from(SwitchRow))
    return int(entries or 0), int(payloads or 0), int(switches or 0)


def test_also_runs_in_the_transaction_of_the_entry(log: DecisionLog) -> None:
    # given
    seen: list[LogEntry] = []

    def add_row(session: Session, entry: LogEntry) -> None:
        seen.append(entry)
        session.add(_switch(entry.subject_id or "?"))

    # when
    entry = log.append("decision", USE_CASE, {"n": 1}, {"p": 1}, subject_id="d1", also=add_row)

    # then
    assert seen == [entry]
    assert _counts(log) == (1, 1, 1)
    assert log.verify().ok


def test_an_also_that_raises_writes_neither_the_entry_nor_its_rows(log: DecisionLog) -> None:
    # given
    before = log.head()

    def add_then_refuse(session: Session, entry: LogEntry) -> None:
        session.add(_switch("x"))
        session.flush()
        raise Refused("no")

    # when
    with pytest.raises(Refused):
        log.append("decision", USE_CASE, {"n": 1}, {"p": 1}, subject_id="d1", also=add_then_refuse)

    # then
    assert _counts(log) == (0, 0, 0)
    assert log.head() == before
    assert log.verify().ok


def test_a_database_error_in_also_is_a_write_error_and_writes_nothing(log: DecisionLog) -> None:
    # given: a row whose key is already taken
    log.append("admin", USE_CASE, {"n": 0}, also=lambda s, e: s.add(_switch("taken")))

    # when
    with pytest.raises(LogWriteError, match="append decision"):
        log.append("decision", USE_CASE, {"n": 1}, also=lambda s, e: s.add(_switch("taken")))

    # then
    assert _counts(log) == (1, 0, 1)
    assert log.verify().ok


def test_a_transaction_commits_several_entries_and_rows_together(log: DecisionLog) -> None:
    # when
    with log.transaction() as tx:
        first = tx.append("review_action", USE_CASE, {"action": "a"}, subject_id="d1")
        tx.session.add(_switch("one"))
        second = tx.append("review_action", USE_CASE, {"action": "b"}, {"note": "n"}, "d1")

    # then
    assert isinstance(tx, LogTransaction)
    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.entry_hash
    assert [e.entry_id for e in log.entries_for("d1")] == [first.entry_id, second.entry_id]
    assert log.get_payload(second.entry_id).payload == {"note": "n"}
    assert _counts(log) == (2, 1, 1)
    assert log.verify().ok


def test_a_transaction_that_raises_writes_nothing(log: DecisionLog) -> None:
    # given
    kept = log.append("admin", USE_CASE, {"n": 0})

    # when
    with pytest.raises(Refused), log.transaction() as tx:
        tx.append("review_action", USE_CASE, {"action": "a"}, {"note": "n"}, "d1")
        tx.session.add(_switch("one"))
        tx.session.flush()
        raise Refused("no")

    # then
    assert _counts(log) == (1, 0, 0)
    assert log.head().entry_hash == kept.entry_hash
    assert log.verify().ok


def test_a_bad_entry_in_a_transaction_is_refused_like_append(log: DecisionLog) -> None:
    # when / then
    with pytest.raises(ValueError, match="'kind' of a decision-log entry"), log.transaction() as tx:
        tx.append("gossip", USE_CASE, {"action": "a"})
    assert _counts(log) == (0, 0, 0)


def test_a_database_error_in_a_transaction_is_a_write_error(log: DecisionLog) -> None:
    # given
    log.append("admin", USE_CASE, {"n": 0}, also=lambda s, e: s.add(_switch("taken")))

    # when
    with pytest.raises(LogWriteError, match="transaction"), log.transaction() as tx:
        tx.append("review_action", USE_CASE, {"action": "a"})
        tx.session.add(_switch("taken"))
        tx.session.flush()

    # then
    assert _counts(log) == (1, 0, 1)
    assert log.verify().ok
