"""``append(..., check=ConnectionCheck(...))``: a check given the transaction's connection.

The common decision's check (its stop switch) reads through the connection alone, so the
group leader hands its session to no one; the check's guarantees are those of any check.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session

from serving.ledger import DecisionLog, GroupCommitSettings, LogWriteError
from serving.ledger.group_commit import ConnectionCheck
from serving.ledger.schema import ChainHeadRow, LogEntryRow

USE_CASE = "credit-eligibility"


class Stopped(Exception):
    """What a check raises when the append must not happen."""


@pytest.fixture(params=[True, False], ids=["grouped", "alone"])
def any_log(request: pytest.FixtureRequest, db_url: str) -> Iterator[DecisionLog]:
    settings = GroupCommitSettings(enabled=request.param)
    with DecisionLog(db_url, group_commit=settings) as log:
        log.migrate()
        yield log


def test_a_connection_check_reads_the_log_just_before_its_entry(any_log: DecisionLog) -> None:
    # given
    any_log.append("admin", USE_CASE, {"n": 0})
    seen: list[tuple[type, int, int]] = []

    def check(connection: Connection) -> None:
        head = connection.execute(select(ChainHeadRow.seq)).scalar_one()
        entries = connection.execute(select(func.count()).select_from(LogEntryRow)).scalar()
        seen.append((type(connection), head, int(entries or 0)))

    # when
    entry = any_log.append(
        "decision", USE_CASE, {"n": 1}, {"p": 1}, "d1", check=ConnectionCheck(check)
    )

    # then: a connection, in the transaction that holds the entry, before it was chained
    assert [(issubclass(kind, Connection), head, n) for kind, head, n in seen] == [(True, 1, 1)]
    assert entry.seq == 2
    assert any_log.verify().ok


def test_a_connection_check_that_raises_writes_nothing(any_log: DecisionLog) -> None:
    def check(connection: Connection) -> None:
        raise Stopped("stopped")

    with pytest.raises(Stopped):
        any_log.append("decision", USE_CASE, {"n": 1}, {"p": 1}, "d1", check=ConnectionCheck(check))
    assert any_log.append("decision", USE_CASE, {"n": 2}).seq == 1
    assert any_log.verify().ok


def test_a_database_error_in_a_connection_check_is_a_write_error(any_log: DecisionLog) -> None:
    def check(connection: Connection) -> None:
        connection.exec_driver_sql("SELECT 1 FROM no_such_table")

    with pytest.raises(LogWriteError, match="append decision"):
        any_log.append("decision", USE_CASE, {"n": 1}, check=ConnectionCheck(check))
    assert any_log.append("decision", USE_CASE, {"n": 2}).seq == 1
    assert any_log.verify().ok


def test_a_connection_check_called_with_a_session_runs_on_its_connection(
    any_log: DecisionLog,
) -> None:
    seen: list[Connection] = []
    check = ConnectionCheck(seen.append)
    with Session(any_log.engine) as session, session.begin():
        check(session)
        assert seen == [session.connection()]


def test_the_leader_hands_its_session_only_to_hooks_and_plain_checks(db_url: str) -> None:
    # given: a log whose appends are grouped
    with DecisionLog(db_url, group_commit=GroupCommitSettings(enabled=True)) as log:
        log.migrate()
        given: list[Session] = []

        # when: connection checks only, then a plain check, then a hook
        for n in range(3):
            log.append("decision", USE_CASE, {"n": n}, check=ConnectionCheck(lambda c: None))
        log.append("decision", USE_CASE, {"n": 3}, check=given.append)
        log.append("decision", USE_CASE, {"n": 4}, also=lambda s, e: given.append(s))
        log.append("decision", USE_CASE, {"n": 5}, check=ConnectionCheck(lambda c: None))

        # then: each that saw a session had a fresh one, which no later group reused
        assert len(given) == 2
        assert given[0] is not given[1]
        assert all(session is not log._group_session() for session in given)
        assert [e.seq for e in log.iter_entries()] == [1, 2, 3, 4, 5, 6]
        assert log.verify().ok
