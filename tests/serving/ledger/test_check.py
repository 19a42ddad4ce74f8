"""``DecisionLog.append(..., check=...)``: a read-only check in the entry's transaction.

Every test runs on SQLite and PostgreSQL, with group commit on and off where both
paths matter. A group is made deterministic as in test_group_commit.py: a first
append whose hook blocks holds the lead while the others queue behind it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session

from serving.decisions.schema import SwitchRow
from serving.ledger import DecisionLog, GroupCommitSettings, LogEntry, LogWriteError
from serving.ledger.schema import ChainHeadRow, LogEntryRow, PayloadRow

USE_CASE = "credit-eligibility"
AT = "2026-01-01T00:00:00+00:00"
WAIT_S = 30.0
Check = Callable[[Session], None]
Hook = Callable[[Session, LogEntry], None]


class Stopped(Exception):
    """What a check raises when the append must not happen."""


def _switch(use_case: str) -> SwitchRow:
    return SwitchRow(use_case=use_case, stopped=True, changed_at=AT, changed_by="t", reason="r")


def _counts(log: DecisionLog) -> tuple[int, int]:
    with Session(log.engine) as session:
        entries = session.scalar(select(func.count()).select_from(LogEntryRow))
        payloads = session.scalar(select(func.count()).select_from(PayloadRow))
    return int(entries or 0), int(payloads or 0)


def _savepoints(log: DecisionLog) -> list[str]:
    """A list that grows by one for every savepoint the log's engine opens from now on."""
    opened: list[str] = []
    event.listen(log.engine, "savepoint", lambda conn, name: opened.append(str(name)))
    return opened


@pytest.fixture(params=[True, False], ids=["grouped", "alone"])
def any_log(request: pytest.FixtureRequest, db_url: str) -> Iterator[DecisionLog]:
    """A migrated, empty log, with group commit on and off."""
    settings = GroupCommitSettings(enabled=request.param)
    with DecisionLog(db_url, group_commit=settings) as log:
        log.migrate()
        yield log


@pytest.fixture
def grouped(db_url: str) -> Iterator[DecisionLog]:
    with DecisionLog(db_url, group_commit=GroupCommitSettings(enabled=True)) as log:
        log.migrate()
        yield log


def test_check_runs_in_the_transaction_under_the_lock_before_the_entry(
    any_log: DecisionLog,
) -> None:
    # given: a head the check reads, in the transaction that will hold the entry
    any_log.append("admin", USE_CASE, {"n": 0})
    seen: list[tuple[int, int]] = []

    def check(session: Session) -> None:
        head = session.execute(select(ChainHeadRow.seq)).scalar_one()
        entries = session.scalar(select(func.count()).select_from(LogEntryRow)) or 0
        seen.append((head, int(entries)))

    # when
    entry = any_log.append("decision", USE_CASE, {"n": 1}, {"p": 1}, "d1", check=check)

    # then: the check saw the log as it was just before the entry was chained
    assert seen == [(1, 1)]
    assert entry.seq == 2
    assert _counts(any_log) == (2, 1)
    assert any_log.verify().ok


def test_a_check_that_raises_refuses_the_append_and_writes_nothing(any_log: DecisionLog) -> None:
    # given
    before = any_log.head()

    def check(session: Session) -> None:
        raise Stopped("the use case is stopped")

    # when / then
    with pytest.raises(Stopped, match="the use case is stopped"):
        any_log.append("decision", USE_CASE, {"n": 1}, {"p": 1}, "d1", check=check)
    assert _counts(any_log) == (0, 0)
    assert any_log.head() == before
    after = any_log.append("decision", USE_CASE, {"n": 2})
    assert after.seq == 1
    assert any_log.verify().ok


def test_a_check_that_raises_runs_no_also_hook(any_log: DecisionLog) -> None:
    ran: list[str] = []

    def check(session: Session) -> None:
        raise Stopped("no")

    with pytest.raises(Stopped):
        any_log.append(
            "decision", USE_CASE, {"n": 1}, check=check, also=lambda s, e: ran.append("also")
        )
    assert ran == []
    assert _counts(any_log) == (0, 0)


def test_a_database_error_in_a_check_is_a_write_error_and_writes_nothing(
    any_log: DecisionLog,
) -> None:
    def check(session: Session) -> None:
        session.execute(text("SELECT 1 FROM no_such_table"))

    with pytest.raises(LogWriteError, match="append decision"):
        any_log.append("decision", USE_CASE, {"n": 1}, check=check)
    assert _counts(any_log) == (0, 0)
    assert any_log.append("decision", USE_CASE, {"n": 2}).seq == 1
    assert any_log.verify().ok


class Outcome:
    def __init__(self) -> None:
        self.entry: LogEntry | None = None
        self.error: BaseException | None = None


def _append_in_thread(
    log: DecisionLog, name: str, check: Check | None = None, also: Hook | None = None
) -> tuple[threading.Thread, Outcome]:
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.entry = log.append(
                "decision", USE_CASE, {"name": name}, {"ref": name}, name, check=check, also=also
            )
        except BaseException as error:
            outcome.error = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {WAIT_S} s"
        time.sleep(0.002)


def _one_group_after_a_blocker(
    log: DecisionLog, members: list[tuple[str, Check | None, Hook | None]]
) -> list[Outcome]:
    """A blocker holds the lead while ``members`` queue; then they are written as one group."""
    committer = log.group_committer
    assert committer is not None
    entered, release = threading.Event(), threading.Event()

    def block(session: Session, entry: LogEntry) -> None:
        entered.set()
        release.wait(WAIT_S)

    blocker_thread, blocker = _append_in_thread(log, "blocker", also=block)
    assert entered.wait(WAIT_S), "the blocker never led"
    started: list[tuple[threading.Thread, Outcome]] = []
    for name, check, also in members:
        started.append(_append_in_thread(log, name, check=check, also=also))
        queued = len(started)

        def all_queued(q: int = queued) -> bool:
            return committer.queued == q

        _wait_until(all_queued, f"{name} to queue")
    groups_before = committer.groups
    release.set()
    for thread, _ in [(blocker_thread, blocker), *started]:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    assert blocker.error is None
    # the blocker's group (still being written when counted), then the members' one
    assert committer.groups == groups_before + 2
    return [outcome for _, outcome in started]


def test_in_a_group_a_failing_check_refuses_only_its_own_append_without_a_savepoint(
    grouped: DecisionLog,
) -> None:
    # given
    def passes(session: Session) -> None:
        session.execute(select(func.count()).select_from(SwitchRow))

    def refuses(session: Session) -> None:
        raise Stopped("b is stopped")

    members: list[tuple[str, Check | None, Hook | None]] = [
        ("a", passes, None),
        ("b", refuses, None),
        ("c", passes, None),
        ("d", None, None),
        ("e", passes, lambda session, entry: None),
    ]

    # when: the group's savepoints are counted from after the blocker's (it has a hook)
    opened: list[str] = []
    outcomes = _one_group_after_a_blocker_counting(grouped, members, opened)

    # then
    a, b, c, d, e = outcomes
    assert isinstance(b.error, Stopped)
    assert b.entry is None
    assert all(o.error is None for o in (a, c, d, e))
    assert [o.entry.seq for o in (a, c, d, e) if o.entry] == [2, 3, 4, 5]
    # one savepoint in the group: e's (it has an also hook), none for the checks
    assert len(opened) == 1
    rows = list(grouped.iter_entries())
    assert [r.subject_id for r in rows] == ["blocker", "a", "c", "d", "e"]
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert _counts(grouped) == (5, 5)
    result = grouped.verify()
    assert result.ok, result.detail


def _one_group_after_a_blocker_counting(
    log: DecisionLog,
    members: list[tuple[str, Check | None, Hook | None]],
    opened: list[str],
) -> list[Outcome]:
    """As :func:`_one_group_after_a_blocker`; ``opened`` gets the members' group's savepoints."""
    started = threading.Event()

    def count_from_now(session: Session) -> None:
        # the first member's check runs first in the members' group
        if not started.is_set():
            started.set()
            event.listen(log.engine, "savepoint", lambda conn, name: opened.append(str(name)))

    first_name, first_check, first_also = members[0]

    def first(session: Session) -> None:
        count_from_now(session)
        if first_check is not None:
            first_check(session)

    return _one_group_after_a_blocker(log, [(first_name, first, first_also), *members[1:]])


def test_a_check_sees_what_an_earlier_hook_of_its_group_wrote(grouped: DecisionLog) -> None:
    # given: "a" opens a row in the group's transaction; "b" checks for it
    seen: list[bool] = []

    def opens(session: Session, entry: LogEntry) -> None:
        session.add(_switch("opened-by-a"))

    def looks(session: Session) -> None:
        found = session.get(SwitchRow, "opened-by-a")
        seen.append(found is not None)

    # when
    a, b = _one_group_after_a_blocker(grouped, [("a", None, opens), ("b", looks, None)])

    # then: one transaction (the row was not committed when b's check ran)
    assert seen == [True]
    assert a.entry is not None and b.entry is not None
    assert b.entry.seq == a.entry.seq + 1
    assert grouped.verify().ok


def test_a_passing_check_opens_no_savepoint_where_also_opens_one(any_log: DecisionLog) -> None:
    opened = _savepoints(any_log)
    any_log.append("decision", USE_CASE, {"n": 1}, check=lambda session: None)
    assert opened == []
    any_log.append("decision", USE_CASE, {"n": 2}, also=lambda session, entry: None)
    # the alone path runs also without a savepoint (the transaction is its own)
    grouped = any_log.group_committer is not None
    assert len(opened) == (1 if grouped else 0)
    assert _counts(any_log) == (2, 0)
