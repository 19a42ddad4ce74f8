"""``LogTransaction.append_many``: many entries chained in one transaction, one insert.

Every test runs on SQLite and PostgreSQL (the ``log`` / ``db_url`` fixtures).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from serving.ledger import (
    GENESIS_HASH,
    CanonicalJSONError,
    DecisionLog,
    GroupCommitSettings,
    LogEntry,
    LogKind,
    NewEntry,
    compute_entry_hash,
    compute_payload_hash,
    store,
)
from serving.ledger.schema import LogEntryRow, PayloadRow
from serving.ledger.store import (
    _MESSAGE_BAD_ENTRIES,
    _MESSAGE_BAD_KIND,
    _MESSAGE_BAD_MAPPING,
    _MESSAGE_BAD_NEW_ENTRY,
    _MESSAGE_BAD_TEXT,
)

USE_CASE = "credit-eligibility"
AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _new(i: int, payload: bool = True) -> NewEntry:
    return NewEntry(
        kind="decision",
        use_case=USE_CASE,
        digest={"n": i, "score": i / 7, "reasons": ["R01", f"R{i:02d}"], "é": None},
        payload={"ref": f"A-{i}", "income": 1000.5 + i} if payload else None,
        subject_id=f"d{i}",
    )


def _rows(log: DecisionLog) -> list[LogEntryRow]:
    with Session(log.engine) as session:
        rows = list(session.scalars(select(LogEntryRow).order_by(LogEntryRow.seq)))
        session.expunge_all()
        return rows


def _payloads(log: DecisionLog) -> dict[str, PayloadRow]:
    with Session(log.engine) as session:
        rows = {row.entry_id: row for row in session.scalars(select(PayloadRow))}
        session.expunge_all()
        return rows


def _count(log: DecisionLog) -> int:
    with Session(log.engine) as session:
        return int(session.scalar(select(func.count()).select_from(LogEntryRow)) or 0)


def _recomputed(row: LogEntryRow) -> str:
    """The entry hash of a stored row, from the reference definition (chain.py)."""
    return compute_entry_hash(
        {
            "seq": row.seq,
            "entry_id": row.entry_id,
            "kind": row.kind,
            "use_case": row.use_case,
            "subject_id": row.subject_id,
            "recorded_at": row.recorded_at,
            "digest": json.loads(row.digest),
            "payload_hash": row.payload_hash,
            "prev_hash": row.prev_hash,
        }
    )


def test_append_many_chains_the_entries_in_order_and_the_log_verifies(log: DecisionLog) -> None:
    # given
    news = [_new(i, payload=i % 2 == 0) for i in range(1, 8)]

    # when
    with log.transaction() as tx:
        entries = tx.append_many(news)

    # then
    rows = _rows(log)
    assert [row.seq for row in rows] == list(range(1, 8))
    assert [e.entry_id for e in entries] == [row.entry_id for row in rows]
    assert rows[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.entry_hash
    for new, entry, row in zip(news, entries, rows, strict=True):
        assert row.entry_hash == entry.entry_hash == _recomputed(row)
        assert entry.digest == json.loads(row.digest) == new.digest
        assert (row.subject_id, row.kind) == (new.subject_id, "decision")
    payloads = _payloads(log)
    assert set(payloads) == {e.entry_id for e, n in zip(entries, news, strict=True) if n.payload}
    for entry, new in zip(entries, news, strict=True):
        if new.payload is not None:
            stored = payloads[entry.entry_id]
            assert json.loads(stored.payload or "") == new.payload
            assert entry.payload_hash == compute_payload_hash(new.payload, stored.salt or "")
        else:
            assert entry.payload_hash is None
    assert log.head().seq == 7
    assert log.head().entry_hash == rows[-1].entry_hash
    result = log.verify()
    assert result.ok, result.detail


def test_append_many_interleaves_with_plain_appends_in_one_transaction(log: DecisionLog) -> None:
    # given: an entry from before
    log.append("admin", USE_CASE, {"action": "start"})

    # when
    with log.transaction() as tx:
        first = tx.append("decision", USE_CASE, {"n": "a"}, {"p": "a"}, subject_id="a")
        middle = tx.append_many([_new(1), _new(2, payload=False)])
        between = tx.append("decision", USE_CASE, {"n": "b"}, subject_id="b")
        last = tx.append_many([_new(3)])
        end = tx.append("admin", USE_CASE, {"n": "c"})

    # then
    written = [first, *middle, between, *last, end]
    assert [e.seq for e in written] == list(range(2, 8))
    rows = _rows(log)
    assert [row.entry_id for row in rows[1:]] == [e.entry_id for e in written]
    assert all(row.entry_hash == _recomputed(row) for row in rows)
    assert log.head().seq == 7
    result = log.verify()
    assert result.ok, result.detail


def test_an_empty_list_writes_nothing(log: DecisionLog) -> None:
    with log.transaction() as tx:
        assert tx.append_many([]) == []
    assert log.head().seq == 0
    assert _count(log) == 0


@pytest.mark.parametrize(
    ("bad", "error", "message"),
    [
        (
            NewEntry(kind="verdict", use_case=USE_CASE, digest={}),
            ValueError,
            _MESSAGE_BAD_KIND.format(allowed=[str(k) for k in LogKind], value="verdict"),
        ),
        (
            NewEntry(kind="decision", use_case="", digest={}),
            ValueError,
            _MESSAGE_BAD_TEXT.format(name="use_case", value=""),
        ),
        (
            NewEntry(kind="decision", use_case=USE_CASE, digest={}, subject_id="x" * 201),
            ValueError,
            _MESSAGE_BAD_TEXT.format(name="subject_id", value="x" * 201),
        ),
        (
            NewEntry(kind="decision", use_case=USE_CASE, digest=[1, 2]),  # type: ignore[arg-type]
            TypeError,
            _MESSAGE_BAD_MAPPING.format(name="digest", type="list"),
        ),
        (
            NewEntry(kind="decision", use_case=USE_CASE, digest={"score": float("nan")}),
            CanonicalJSONError,
            "finite numbers only",
        ),
        (
            NewEntry(kind="decision", use_case=USE_CASE, digest={}, payload={"x": float("inf")}),
            CanonicalJSONError,
            "finite numbers only",
        ),
        (
            {"kind": "decision"},
            TypeError,
            _MESSAGE_BAD_NEW_ENTRY.format(index=2, type="dict"),
        ),
    ],
)
def test_one_bad_entry_refuses_the_whole_call_and_nothing_of_it_is_written(
    log: DecisionLog, bad: Any, error: type[Exception], message: str
) -> None:
    # given: the transaction appended one entry before, and goes on after the refusal
    with log.transaction() as tx:
        kept = tx.append("admin", USE_CASE, {"action": "before"})

        # when
        with pytest.raises(error, match=re.escape(message)) as raised:
            tx.append_many([_new(1), _new(2), bad, _new(3)])
        after = tx.append("admin", USE_CASE, {"action": "after"})

    # then: the entries of the refused call were never written, and the error says which
    if isinstance(bad, NewEntry):
        assert "(in entries[2] of append_many)" in (raised.value.__notes__ or [])
    assert [row.entry_id for row in _rows(log)] == [kept.entry_id, after.entry_id]
    assert [row.seq for row in _rows(log)] == [1, 2]
    assert _payloads(log) == {}
    result = log.verify()
    assert result.ok, result.detail


def test_something_other_than_a_sequence_is_refused_with_its_type(log: DecisionLog) -> None:
    message = re.escape(_MESSAGE_BAD_ENTRIES.format(type="generator"))
    with log.transaction() as tx, pytest.raises(TypeError, match=message):
        tx.append_many(n for n in [_new(1)])  # type: ignore[arg-type]
    assert _count(log) == 0


def _same_ids_and_salts(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on entry ids are the UUIDs 1, 2, 3, … and the payload salts "s1", "s2", …"""
    ids = (str(uuid.UUID(int=i, version=4)) for i in range(1, 1000))
    salts = (f"s{i}" for i in range(1, 1000))
    monkeypatch.setattr(store, "_new_entry_id", lambda: next(ids))
    monkeypatch.setattr(store, "_new_salt", lambda: next(salts))


def test_append_many_gives_the_hashes_of_the_same_entries_appended_one_by_one(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: the same clock, entry ids and salts for both logs
    news = [_new(i, payload=i != 3) for i in range(1, 6)]
    _same_ids_and_salts(monkeypatch)
    with DecisionLog(db_url, clock=lambda: AT) as many_log:
        many_log.migrate()
        with many_log.transaction() as tx:
            many = tx.append_many(news)
        many_rows = _rows(many_log)

    # when: one by one, on a separate log (SQLite, no group commit)
    _same_ids_and_salts(monkeypatch)
    reference_url = f"sqlite:///{tmp_path / 'one-by-one.db'}"
    with DecisionLog(
        reference_url, clock=lambda: AT, group_commit=GroupCommitSettings(enabled=False)
    ) as alone_log:
        alone_log.migrate()
        alone: list[LogEntry] = [
            alone_log.append(n.kind, n.use_case, n.digest, n.payload, n.subject_id) for n in news
        ]

    # then
    assert many == alone
    assert [row.entry_hash for row in many_rows] == [e.entry_hash for e in alone]
    # and each hash is the reference definition's hash of the stored row
    assert [row.entry_hash for row in many_rows] == [_recomputed(row) for row in many_rows]


def test_batches_and_grouped_appends_of_two_writers_at_once_build_one_chain(db_url: str) -> None:
    # given: two logs on one database (two processes, as far as the database can tell):
    # one writes batches in transactions, the other grouped appends from four threads
    with (
        DecisionLog(db_url) as batch_log,
        DecisionLog(db_url, group_commit=GroupCommitSettings(enabled=True)) as group_log,
    ):
        batch_log.migrate()
        written: list[LogEntry] = []
        lock = threading.Lock()
        failures: list[BaseException] = []

        def batches() -> None:
            try:
                for b in range(6):
                    with batch_log.transaction() as tx:
                        got = tx.append_many([_new(100 * b + i) for i in range(5)])
                    with lock:
                        written.extend(got)
            except BaseException as error:
                failures.append(error)

        def appends(t: int) -> None:
            try:
                for i in range(8):
                    entry = group_log.append("decision", USE_CASE, {"t": t, "i": i}, {"p": i})
                    with lock:
                        written.append(entry)
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=batches)]
        threads += [threading.Thread(target=appends, args=(t,)) for t in range(4)]

        # when
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

        # then
        assert failures == []
        assert not any(thread.is_alive() for thread in threads)
        rows = _rows(batch_log)
        assert len(rows) == 6 * 5 + 4 * 8
        assert [row.seq for row in rows] == list(range(1, len(rows) + 1))
        assert sorted(e.entry_id for e in written) == sorted(row.entry_id for row in rows)
        result = batch_log.verify()
        assert result.ok, result.detail


def test_the_group_leader_reads_the_head_a_writer_that_held_the_lock_committed(
    log: DecisionLog,
) -> None:
    # given: another writer holds the lock and moves the head while the leader waits
    if not log.engine.dialect.name.startswith("postgresql"):
        pytest.skip("SQLite takes its write lock at BEGIN IMMEDIATE, before any read")
    log.append("admin", USE_CASE, {"n": 0})
    holding, leader_started = threading.Event(), threading.Event()
    seen: list[tuple[int, str]] = []

    def leader() -> None:
        with Session(log.engine) as session, session.begin():
            leader_started.set()
            seen.append(log._lock_and_read_head(session))

    with log.transaction() as tx:
        holding.set()
        thread = threading.Thread(target=leader)
        thread.start()
        assert leader_started.wait(30)
        time.sleep(0.3)  # the leader's statement is now waiting for the lock (not timed)
        moved = tx.append("decision", USE_CASE, {"n": 1})
    thread.join(30)

    # then: the head as of the lock, not as of the leader's statement start
    assert seen == [(moved.seq, moved.entry_hash)]
