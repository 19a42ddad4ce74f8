"""Group commit (serving/ledger/group_commit.py): many writers, one verifiable chain.

Every test runs on SQLite and PostgreSQL (the ``log`` / ``db_url`` fixtures). Groups
are made deterministic where a test needs one: a first append whose hook blocks holds
the lead while the others queue behind it, so they are written as one group.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, SessionTransaction

from serving.decisions.schema import SwitchRow
from serving.ledger import DecisionLog, LogEntry, LogWriteError
from serving.ledger.group_commit import (
    GROUP_COMMIT_ENV,
    GROUP_MAX_ENV,
    GROUP_WINDOW_ENV,
    GroupCommitSettings,
    GroupCommitter,
)
from serving.ledger.schema import PayloadRow

USE_CASE = "credit-eligibility"
AT = "2026-01-01T00:00:00+00:00"
WAIT_S = 30.0
Hook = Callable[[Session, LogEntry], None]


class Refused(Exception):
    """What a caller's hook raises to abandon its own entry."""


def _switch(use_case: str) -> SwitchRow:
    return SwitchRow(use_case=use_case, stopped=True, changed_at=AT, changed_by="t", reason="r")


def _switches(log: DecisionLog) -> set[str]:
    with Session(log.engine) as session:
        return set(session.scalars(select(SwitchRow.use_case)))


def _payload_count(log: DecisionLog) -> int:
    with Session(log.engine) as session:
        return int(session.scalar(select(func.count()).select_from(PayloadRow)) or 0)


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what} after {WAIT_S} s"
        time.sleep(0.002)


@pytest.fixture
def grouped(db_url: str) -> Iterator[DecisionLog]:
    """A migrated, empty log with group commit on (whatever the environment says)."""
    with DecisionLog(db_url, group_commit=GroupCommitSettings(enabled=True)) as log:
        log.migrate()
        yield log


class Outcome:
    """What one threaded append ended with."""

    def __init__(self) -> None:
        self.entry: LogEntry | None = None
        self.error: BaseException | None = None


def _append_in_thread(
    log: DecisionLog, name: str, also: Hook | None = None, payload: bool = True
) -> tuple[threading.Thread, Outcome]:
    outcome = Outcome()

    def run() -> None:
        try:
            outcome.entry = log.append(
                "decision",
                USE_CASE,
                {"name": name},
                {"ref": name} if payload else None,
                subject_id=name,
                also=also,
            )
        except BaseException as error:
            outcome.error = error

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _one_group_after_a_blocker(
    log: DecisionLog, members: list[tuple[str, Hook | None]]
) -> tuple[Outcome, list[Outcome]]:
    """A blocker's append holds the lead while ``members`` queue; then they go as one group."""
    committer = log.group_committer
    assert committer is not None
    entered, release = threading.Event(), threading.Event()

    def block(session: Session, entry: LogEntry) -> None:
        entered.set()
        release.wait(WAIT_S)

    blocker_thread, blocker = _append_in_thread(log, "blocker", also=block)
    assert entered.wait(WAIT_S), "the blocker never led"
    started: list[tuple[threading.Thread, Outcome]] = []
    for name, hook in members:
        started.append(_append_in_thread(log, name, also=hook))
        queued = len(started)

        def all_queued(q: int = queued) -> bool:
            return committer.queued == q

        _wait_until(all_queued, f"{name} to queue")
    release.set()
    for thread, _ in [(blocker_thread, blocker), *started]:
        thread.join(WAIT_S)
        assert not thread.is_alive()
    return blocker, [outcome for _, outcome in started]


def test_appends_queued_behind_a_leader_are_written_as_one_group(grouped: DecisionLog) -> None:
    # when
    blocker, outcomes = _one_group_after_a_blocker(grouped, [(f"m{i}", None) for i in range(5)])

    # then: two transactions for six entries, chained in queue order
    committer = grouped.group_committer
    assert committer is not None
    assert (committer.groups, committer.grouped) == (2, 6)
    assert blocker.error is None and blocker.entry is not None
    entries = [blocker.entry] + [o.entry for o in outcomes if o.entry is not None]
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e.subject_id for e in entries[1:]] == [f"m{i}" for i in range(5)]
    assert [e.entry_id for e in grouped.iter_entries()] == [e.entry_id for e in entries]
    assert _payload_count(grouped) == 6
    assert grouped.verify().ok


def test_a_failing_hook_in_a_group_loses_only_its_own_entry(grouped: DecisionLog) -> None:
    # given: a taken switch key, for a hook that fails in the database
    grouped.append("admin", USE_CASE, {"n": 0}, also=lambda s, e: s.add(_switch("taken")))

    def refuse(session: Session, entry: LogEntry) -> None:
        session.add(_switch("refused"))
        session.flush()
        raise Refused("no")

    def add(name: str) -> Hook:
        return lambda session, entry: session.add(_switch(name))

    members: list[tuple[str, Hook | None]] = [
        ("a", None),
        ("b", refuse),
        ("c", add("c-row")),
        ("d", add("taken")),  # duplicate key: a database error in the hook
        ("e", None),
        ("f", add("f-row")),
    ]

    # when
    _, outcomes = _one_group_after_a_blocker(grouped, members)

    # then: b and d fail alone, nothing of theirs is written, the others are chained
    by_name = dict(zip([name for name, _ in members], outcomes, strict=True))
    assert isinstance(by_name["b"].error, Refused)
    assert isinstance(by_name["d"].error, LogWriteError)
    assert "append decision" in str(by_name["d"].error)
    written = [by_name[n].entry for n in ("a", "c", "e", "f")]
    assert all(entry is not None for entry in written)
    assert [e.seq for e in written if e is not None] == [3, 4, 5, 6]
    held = [e.subject_id for e in grouped.iter_entries()]
    assert held == [None, "blocker", "a", "c", "e", "f"]
    assert _switches(grouped) == {"taken", "c-row", "f-row"}
    assert _payload_count(grouped) == 5
    result = grouped.verify()
    assert result.ok, result.detail
    committer = grouped.group_committer
    assert committer is not None and committer.groups == 3


def test_a_database_error_writing_the_group_writes_each_append_alone(
    grouped: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the group's write fails once, before its commit (a lost connection, say)
    real = grouped._write_group_locked
    calls: list[int] = []

    def fail_once(session: Session, group: list[Any], head: tuple[int, str]) -> Any:
        calls.append(len(group))
        if len(calls) == 2:
            raise OperationalError("INSERT", {}, Exception("connection reset"))
        return real(session, group, head)

    monkeypatch.setattr(grouped, "_write_group_locked", fail_once)

    # when
    _, outcomes = _one_group_after_a_blocker(grouped, [(f"m{i}", None) for i in range(3)])

    # then: the three were written one by one, in queue order, and the chain verifies
    assert calls == [1, 3]
    assert [o.error for o in outcomes] == [None, None, None]
    assert [o.entry.seq for o in outcomes if o.entry is not None] == [2, 3, 4]
    assert [e.subject_id for e in grouped.iter_entries()] == ["blocker", "m0", "m1", "m2"]
    assert grouped.verify().ok


def test_a_failed_commit_fails_every_caller_of_the_group_and_writes_nothing(
    grouped: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the second transaction's commit fails (``with session.begin()`` commits
    # through its SessionTransaction)
    commits: list[int] = []
    real_tx_commit = SessionTransaction.commit

    def tx_commit(tx: SessionTransaction, _to_root: bool = False) -> None:
        if tx.nested or tx.parent is not None:
            real_tx_commit(tx, _to_root)
            return
        commits.append(1)
        if len(commits) == 2:
            raise OperationalError("COMMIT", {}, Exception("server closed the connection"))
        real_tx_commit(tx, _to_root)

    monkeypatch.setattr(SessionTransaction, "commit", tx_commit)

    # when
    blocker, outcomes = _one_group_after_a_blocker(grouped, [(f"m{i}", None) for i in range(3)])

    # then: not acknowledged, not written (no retry: a failed commit may not be undone)
    assert blocker.error is None
    assert all(isinstance(o.error, LogWriteError) for o in outcomes)
    assert "append a group of 3" in str(outcomes[0].error)
    assert [e.subject_id for e in grouped.iter_entries()] == ["blocker"]
    assert grouped.verify().ok


def test_threads_appending_at_once_build_one_chain_of_exactly_their_entries(
    grouped: DecisionLog,
) -> None:
    # given
    threads, each = 8, 25
    acknowledged: list[list[str]] = [[] for _ in range(threads)]

    def write(t: int) -> None:
        for i in range(each):
            entry = grouped.append("decision", USE_CASE, {"t": t, "i": i}, {"p": i}, f"t{t}-{i}")
            acknowledged[t].append(entry.entry_id)

    pool = [threading.Thread(target=write, args=(t,)) for t in range(threads)]

    # when
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(WAIT_S * 2)

    # then
    assert not any(thread.is_alive() for thread in pool)
    entries = list(grouped.iter_entries())
    assert [e.seq for e in entries] == list(range(1, threads * each + 1))
    assert sorted(e.entry_id for e in entries) == sorted(i for ids in acknowledged for i in ids)
    for t in range(threads):  # each thread's entries in the order it wrote them
        mine = [e.subject_id for e in entries if e.subject_id and e.subject_id.startswith(f"t{t}-")]
        assert mine == [f"t{t}-{i}" for i in range(each)]
    committer = grouped.group_committer
    assert committer is not None and committer.grouped == threads * each
    result = grouped.verify()
    assert result.ok, result.detail


def test_processes_of_several_threads_build_one_gap_free_chain(
    grouped: DecisionLog, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import _group_commit_worker as worker_module

    processes, threads, each = 3, 4, 15
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    pool = [
        context.Process(
            target=worker_module.append_in_threads, args=(db_url, w, threads, each, start)
        )
        for w in range(processes)
    ]

    # when
    for process in pool:
        process.start()
    deadline = time.monotonic() + WAIT_S * 2
    for process in pool:
        process.join(max(0.0, deadline - time.monotonic()))
    stuck = [process for process in pool if process.is_alive()]
    for process in stuck:
        process.kill()
        process.join()

    # then
    assert not stuck, f"{len(stuck)} workers still running"
    assert [process.exitcode for process in pool] == [0] * processes
    entries = list(grouped.iter_entries())
    total = processes * threads * each
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert len({e.subject_id for e in entries}) == total
    result = grouped.verify()
    assert result.ok, result.detail


def test_a_writer_killed_mid_group_leaves_every_acknowledged_entry_and_nothing_half_written(
    grouped: DecisionLog, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a process appending from 6 threads, acknowledging each entry in a file
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import _group_commit_worker as worker_module

    acks = tmp_path / "acknowledged.txt"
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=worker_module.append_until_killed, args=(db_url, 6, str(acks)))
    process.start()
    try:
        _wait_until(
            lambda: acks.exists() and acks.read_bytes().count(b"\n") >= 150,
            "150 acknowledged entries",
        )
    finally:
        # when: killed while its threads keep appending (groups in flight)
        os.kill(process.pid or 0, signal.SIGKILL)
        process.join(WAIT_S)

    # then: every acknowledged entry is held, the chain and its head verify, and no
    # payload, entry or head move is left from the group the kill interrupted
    assert process.exitcode == -signal.SIGKILL
    acknowledged = acks.read_text().splitlines()
    assert len(acknowledged) >= 150
    entries = list(grouped.iter_entries())
    held = {e.entry_id for e in entries}
    assert set(acknowledged) <= held
    # at most the groups committed but not yet acknowledged when the kill came
    assert len(held) - len(acknowledged) <= 6
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert grouped.head().seq == len(entries)
    assert _payload_count(grouped) == len(entries)
    result = grouped.verify()
    assert result.ok, result.detail


#: "check"/"stop": a read-only check that passes / refuses (no hook)
_HOOKS = st.sampled_from(["none", "row", "refuse", "check", "stop"])


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(plan=st.lists(st.lists(_HOOKS, min_size=1, max_size=6), min_size=1, max_size=5))
def test_any_interleaving_yields_a_verifying_chain_of_exactly_the_acknowledged_entries(
    db_url: str, plan: list[list[str]]
) -> None:
    # given: one thread per inner list, each appending with the hooks it lists
    with DecisionLog(db_url, group_commit=GroupCommitSettings(enabled=True)) as log:
        log.migrate()
        start_seq = log.head().seq
        acknowledged: list[str] = []
        with_rows: list[str] = []
        refused = 0
        lock = threading.Lock()

        def write(t: int, hooks: list[str]) -> None:
            nonlocal refused
            for i, hook in enumerate(hooks):
                name = f"{start_seq}-{t}-{i}"

                def also(
                    session: Session, entry: LogEntry, hook: str = hook, name: str = name
                ) -> None:
                    if hook == "row":
                        session.add(_switch(f"s-{entry.entry_id}"))
                    elif hook == "refuse":
                        raise Refused(name)

                def check(session: Session, hook: str = hook, name: str = name) -> None:
                    session.execute(select(func.count()).select_from(SwitchRow))
                    if hook == "stop":
                        raise Refused(name)

                checked = hook in {"check", "stop"}
                try:
                    entry = log.append(
                        "decision",
                        USE_CASE,
                        {"n": name},
                        {"p": i},
                        name,
                        check=check if checked else None,
                        also=None if checked else also,
                    )
                except Refused:
                    with lock:
                        refused += 1
                    continue
                with lock:
                    acknowledged.append(entry.entry_id)
                    if hook == "row":
                        with_rows.append(entry.entry_id)

        pool = [threading.Thread(target=write, args=(t, h)) for t, h in enumerate(plan)]

        # when
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join(WAIT_S)

        # then
        assert not any(thread.is_alive() for thread in pool)
        expected_refused = sum(h in {"refuse", "stop"} for hooks in plan for h in hooks)
        assert refused == expected_refused
        new = list(log.iter_entries(start_seq=start_seq + 1))
        assert sorted(e.entry_id for e in new) == sorted(acknowledged)
        assert [e.seq for e in new] == list(range(start_seq + 1, start_seq + len(new) + 1))
        # the hooks' rows: exactly those of the entries written (the log outlives an example)
        new_ids = {e.entry_id for e in new}
        rows = {s for s in _switches(log) if s.startswith("s-") and s[2:] in new_ids}
        assert rows == {f"s-{i}" for i in with_rows}
        assert len(with_rows) == sum(h == "row" for hooks in plan for h in hooks)
        result = log.verify()
        assert result.ok, result.detail


def test_settings_come_from_the_environment_with_clear_errors() -> None:
    assert GroupCommitSettings.from_env({}) == GroupCommitSettings()
    assert GroupCommitSettings.from_env({GROUP_COMMIT_ENV: "off"}).enabled is False
    on = GroupCommitSettings.from_env(
        {GROUP_COMMIT_ENV: "on", GROUP_WINDOW_ENV: "2.5", GROUP_MAX_ENV: "64"}
    )
    assert on == GroupCommitSettings(enabled=True, window_s=0.0025, max_entries=64)
    with pytest.raises(ValueError, match=f"{GROUP_COMMIT_ENV} must be 'on' or 'off'.*'maybe'"):
        GroupCommitSettings.from_env({GROUP_COMMIT_ENV: "maybe"})
    with pytest.raises(ValueError, match=f"{GROUP_WINDOW_ENV} must be .*'-1'"):
        GroupCommitSettings.from_env({GROUP_WINDOW_ENV: "-1"})
    with pytest.raises(ValueError, match=f"{GROUP_MAX_ENV} must be .*'lots'"):
        GroupCommitSettings.from_env({GROUP_MAX_ENV: "lots"})


def test_group_commit_off_appends_each_entry_alone(db_url: str) -> None:
    with DecisionLog(db_url, group_commit=GroupCommitSettings(enabled=False)) as log:
        log.migrate()
        entry = log.append("decision", USE_CASE, {"n": 1}, {"p": 1}, "d1")
        assert log.group_committer is None
        assert entry.seq == 1 and log.verify().ok


def test_a_window_makes_the_leader_wait_for_a_full_group() -> None:
    # given: a committer whose writer records the groups it gets (no database needed)
    seen: list[int] = []

    def write(take: Callable[[], list[Any]]) -> None:
        group = take()
        seen.append(len(group))
        for pending in group:
            pending.entry = pending.prepared

    committer = GroupCommitter(GroupCommitSettings(window_s=0.2, max_entries=4), write)
    results: list[object] = []
    pool = [
        threading.Thread(target=lambda i=i: results.append(committer.submit(i, None)))  # type: ignore[arg-type]
        for i in range(4)
    ]

    # when
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(WAIT_S)

    # then: the first leader waited until all four queued (well within its 0.2 s)
    assert seen == [4]
    assert sorted(results) == [0, 1, 2, 3]  # type: ignore[type-var]
