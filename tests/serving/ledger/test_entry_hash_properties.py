"""The append path's hashes against their reference definitions (serving/ledger/chain.py).

The store hashes an entry in two steps (most of it before the writer lock, the rest
under it) and a payload from its canonical text; for random entries both must equal
``compute_entry_hash(entry.hashed_fields())`` and ``compute_payload_hash(payload, salt)``,
and a log of such entries must verify.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from serving.ledger import (
    DecisionLog,
    GroupCommitSettings,
    LogKind,
    NewEntry,
    compute_entry_hash,
    compute_payload_hash,
)
from serving.ledger.schema import PayloadRow
from serving.ledger.store import _prepare

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
mappings = st.dictionaries(st.text(max_size=8), values, max_size=6)
names = st.text(min_size=1, max_size=200)
entries = st.builds(
    NewEntry,
    kind=st.sampled_from(list(LogKind)) | st.sampled_from([str(k) for k in LogKind]),
    use_case=names,
    digest=mappings,
    payload=st.none() | mappings,
    subject_id=st.none() | names,
)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
)


@settings(max_examples=400, deadline=None)
@given(
    new=entries,
    prev_seq=st.integers(0, 2**62),
    prev_hash=st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
    at=moments,
)
def test_a_chained_entry_has_the_reference_hashes(
    new: NewEntry, prev_seq: int, prev_hash: str, at: datetime
) -> None:
    # given
    log = DecisionLog("sqlite://", clock=lambda: at)
    try:
        prepared = _prepare(new.kind, new.use_case, new.digest, new.payload, new.subject_id)

        # when
        entry, entry_row, payload_row = log._chained(prepared, prev_seq, prev_hash)
    finally:
        log.close()

    # then
    assert entry.entry_hash == compute_entry_hash(entry.hashed_fields())
    assert entry_row["entry_hash"] == entry.entry_hash
    assert (entry.seq, entry.prev_hash) == (prev_seq + 1, prev_hash)
    assert entry.digest == json.loads(json.dumps(new.digest))
    assert json.loads(entry_row["digest"]) == entry.digest
    if new.payload is None:
        assert entry.payload_hash is None and payload_row is None
    else:
        assert payload_row is not None
        stored = json.loads(payload_row["payload"])
        assert stored == json.loads(json.dumps(new.payload))
        assert entry.payload_hash == compute_payload_hash(stored, payload_row["salt"])


@pytest.fixture(scope="module")
def sqlite_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DecisionLog]:
    path: Path = tmp_path_factory.mktemp("hash-props") / "decisions.db"
    with DecisionLog(f"sqlite:///{path}", group_commit=GroupCommitSettings(enabled=True)) as log:
        log.migrate()
        yield log


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(entries, min_size=1, max_size=5), many=st.booleans())
def test_random_entries_written_either_way_verify_and_read_back(
    sqlite_log: DecisionLog, batch: list[NewEntry], many: bool
) -> None:
    # when
    if many:
        with sqlite_log.transaction() as tx:
            written = tx.append_many(batch)
    else:
        written = [
            sqlite_log.append(n.kind, n.use_case, n.digest, n.payload, n.subject_id) for n in batch
        ]

    # then
    for entry in written:
        assert sqlite_log.get(entry.entry_id) == entry
        assert entry.entry_hash == compute_entry_hash(entry.hashed_fields())
    with Session(sqlite_log.engine) as session:
        for entry, new in zip(written, batch, strict=True):
            row: Any = session.get(PayloadRow, entry.entry_id)
            if new.payload is None:
                assert row is None
            else:
                assert entry.payload_hash == compute_payload_hash(json.loads(row.payload), row.salt)
    result = sqlite_log.verify()
    assert result.ok, result.detail
