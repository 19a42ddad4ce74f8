"""Appending to and reading from the decision log, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from serving.ledger import (
    GENESIS_HASH,
    CanonicalJSONError,
    DecisionLog,
    EntryNotFoundError,
    LogKind,
    LogWriteError,
    compute_entry_hash,
)
from serving.ledger.engine import _MESSAGE_BAD_BACKEND, create_log_engine
from serving.ledger.entries import ERASURE_ACTION
from serving.ledger.store import (
    _MESSAGE_BAD_KIND,
    _MESSAGE_BAD_MAPPING,
    _MESSAGE_BAD_REASON,
    _MESSAGE_BAD_TEXT,
    _MESSAGE_NAIVE_CLOCK,
    _MESSAGE_NO_ENTRY,
    _MESSAGE_NO_PAYLOAD,
)

USE_CASE = "credit-eligibility"
DIGEST = {
    "model_version": "3",
    "policy_version": "2024-05",
    "explainer_version": "treeshap-1",
    "catalogue_version": "1",
    "input_hash": "ab" * 32,
    "score": 0.734,
    "outcome": "approved",
    "reasons": ["R01", "R07"],
}
PAYLOAD = {"application_ref": "A-17", "features": {"income": 1200.5, "age": 41}}


def test_append_links_entries_into_a_chain(log: DecisionLog) -> None:
    # when
    entries = [log.append("decision", USE_CASE, DIGEST, subject_id=f"d{i}") for i in range(5)]

    # then
    assert [entry.seq for entry in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert [entry.prev_hash for entry in entries[1:]] == [e.entry_hash for e in entries[:-1]]
    assert all(compute_entry_hash(e.hashed_fields()) == e.entry_hash for e in entries)
    assert log.head().seq == 5
    assert log.head().entry_hash == entries[-1].entry_hash


def test_entries_read_back_exactly_as_appended(log: DecisionLog) -> None:
    # given
    entry = log.append(LogKind.DECISION, USE_CASE, DIGEST, payload=PAYLOAD, subject_id="d1")

    # when
    read = log.get(entry.entry_id)

    # then
    assert read == entry
    assert read.digest == DIGEST
    assert list(log.iter_entries()) == [entry]
    assert log.get_payload(entry.entry_id).payload == PAYLOAD


def test_entries_for_returns_a_decision_and_what_touched_it(log: DecisionLog) -> None:
    # given
    decision = log.append("decision", USE_CASE, DIGEST, subject_id="dec-1")
    log.append("decision", USE_CASE, DIGEST, subject_id="dec-2")
    review = log.append("review_action", USE_CASE, {"action": "approve"}, subject_id="dec-1")
    appeal = log.append("appeal", USE_CASE, {"ground": "income wrong"}, subject_id="dec-1")

    # when
    entries = log.entries_for("dec-1")

    # then
    assert entries == [decision, review, appeal]


def test_iter_entries_pages_through_the_log(log: DecisionLog) -> None:
    # given
    for i in range(7):
        log.append("access", USE_CASE, {"purpose": "audit", "i": i})

    # when
    seqs = [entry.seq for entry in log.iter_entries(start_seq=2, batch_size=3)]

    # then
    assert seqs == [2, 3, 4, 5, 6, 7]


def test_recorded_at_is_utc_iso_text_from_the_clock(db_url: str) -> None:
    # given
    paris = timezone(timedelta(hours=2))
    clock = lambda: datetime(2024, 5, 1, 14, 0, 0, 250, tzinfo=paris)  # noqa: E731
    with DecisionLog(db_url, clock=clock) as log:
        log.migrate()

        # when
        entry = log.append("promotion", USE_CASE, {"version": "3"})

    # then
    assert entry.recorded_at == "2024-05-01T12:00:00.000250Z"


def test_a_naive_clock_is_refused(db_url: str) -> None:
    # given
    naive = datetime(2024, 5, 1, 12, 0)
    with DecisionLog(db_url, clock=lambda: naive) as log:
        log.migrate()

        # when / then
        with pytest.raises(ValueError, match=re.escape(_MESSAGE_NAIVE_CLOCK.format(value=naive))):
            log.append("admin", USE_CASE, {})
        assert log.head().seq == 0


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            {"kind": "verdict"},
            ValueError,
            _MESSAGE_BAD_KIND.format(allowed=[str(k) for k in LogKind], value="verdict"),
        ),
        ({"use_case": ""}, ValueError, _MESSAGE_BAD_TEXT.format(name="use_case", value="")),
        (
            {"subject_id": "x" * 201},
            ValueError,
            _MESSAGE_BAD_TEXT.format(name="subject_id", value="x" * 201),
        ),
        ({"digest": [1, 2]}, TypeError, _MESSAGE_BAD_MAPPING.format(name="digest", type="list")),
        ({"digest": {"score": float("nan")}}, CanonicalJSONError, "finite numbers only"),
        ({"payload": {"income": float("inf")}}, CanonicalJSONError, "finite numbers only"),
    ],
)
def test_bad_entries_are_refused_and_nothing_is_written(
    log: DecisionLog, arguments: dict[str, object], error: type[Exception], message: str
) -> None:
    # given
    call: dict[str, object] = {"kind": "decision", "use_case": USE_CASE, "digest": DIGEST}
    call.update(arguments)

    # when / then
    with pytest.raises(error, match=re.escape(message)):
        log.append(**call)  # type: ignore[arg-type]
    assert log.head().seq == 0


def test_append_to_an_unmigrated_database_raises_log_write_error(db_url: str) -> None:
    # given
    log = DecisionLog(db_url)

    # when / then
    with log, pytest.raises(LogWriteError, match=r"Could not write to the decision log at .*"):
        log.append("decision", USE_CASE, DIGEST)


def test_a_failed_write_leaves_nothing_behind_and_leaks_no_personal_data(
    log: DecisionLog,
) -> None:
    # given
    log.append("decision", USE_CASE, DIGEST)
    with log.engine.begin() as connection:
        connection.execute(text("DROP TABLE payloads"))

    # when
    with pytest.raises(LogWriteError) as caught:
        log.append("decision", USE_CASE, DIGEST, payload={"name": "Zoë Example"})

    # then
    assert "Zoë" not in str(caught.value)
    assert log.head().seq == 1
    assert [entry.seq for entry in log.iter_entries()] == [1]


def test_append_to_an_unreachable_database_raises_log_write_error(tmp_path: object) -> None:
    # given
    log = DecisionLog(
        "postgresql+psycopg://nobody:secret@127.0.0.1:1/none",
        engine_options={"connect_args": {"connect_timeout": 2}},
    )

    # when / then
    with log, pytest.raises(LogWriteError) as caught:
        log.append("decision", USE_CASE, DIGEST)
    assert "secret" not in str(caught.value)


def test_unsupported_urls_are_refused() -> None:
    # when / then
    message = _MESSAGE_BAD_BACKEND.format(
        allowed=["sqlite", "postgresql"], url="mysql://docket:***@db/log"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        DecisionLog("mysql://docket:pw@db/log")


def test_erasing_a_payload_keeps_the_chain_and_records_the_erasure(log: DecisionLog) -> None:
    # given
    entry = log.append("decision", USE_CASE, DIGEST, payload=PAYLOAD, subject_id="d1")

    # when
    erased = log.erase_payload(entry.entry_id, "retention period ended")

    # then
    assert erased.erased and erased.payload is None
    assert log.get_payload(entry.entry_id).payload is None
    assert log.get(entry.entry_id) == entry
    (record,) = log.entries_for(entry.entry_id)
    assert record.kind is LogKind.ADMIN
    assert record.digest["action"] == ERASURE_ACTION
    assert record.digest["reason"] == "retention period ended"
    assert log.verify().ok


def test_erasing_twice_changes_nothing(log: DecisionLog) -> None:
    # given
    entry = log.append("decision", USE_CASE, DIGEST, payload=PAYLOAD)
    first = log.erase_payload(entry.entry_id, "request by the data subject")

    # when
    second = log.erase_payload(entry.entry_id, "again")

    # then
    assert second == first
    assert log.head().seq == 2


def test_erasure_errors_name_the_problem(log: DecisionLog) -> None:
    # given
    entry = log.append("decision", USE_CASE, DIGEST)

    # when / then
    with pytest.raises(EntryNotFoundError, match=re.escape(_MESSAGE_NO_ENTRY.format(entry_id="x"))):
        log.erase_payload("x", "retention")
    message = _MESSAGE_NO_PAYLOAD.format(entry_id=entry.entry_id)
    with pytest.raises(EntryNotFoundError, match=re.escape(message)):
        log.erase_payload(entry.entry_id, "retention")
    with pytest.raises(ValueError, match=re.escape(_MESSAGE_BAD_REASON.format(value=" "))):
        log.erase_payload(entry.entry_id, " ")
    with pytest.raises(EntryNotFoundError, match=re.escape(_MESSAGE_NO_ENTRY.format(entry_id="y"))):
        log.get("y")
    assert log.head().seq == 1


def test_the_log_defaults_to_utc_now(log: DecisionLog) -> None:
    # given
    before = datetime.now(UTC)

    # when
    entry = log.append("admin", USE_CASE, {"action": "use case stopped"})

    # then
    recorded = datetime.strptime(entry.recorded_at, "%Y-%m-%dT%H:%M:%S.%f%z")
    assert before <= recorded <= datetime.now(UTC)


def test_sqlite_durability_is_set_explicitly_whatever_the_build_default(tmp_path: Path) -> None:
    # given: connections whose SQLite starts with synchronous=OFF, as a build with
    # SQLITE_DEFAULT_WAL_SYNCHRONOUS=0 (or a careless wrapper) would give them
    class _OffByDefault(sqlite3.Connection):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.execute("PRAGMA synchronous = OFF")

    url = f"sqlite:///{tmp_path / 'decisions.db'}"
    log = DecisionLog(url, engine_options={"connect_args": {"factory": _OffByDefault}})

    # when
    log.migrate()
    with log.engine.connect() as connection:
        synchronous = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()

    # then: FULL (2) in WAL mode: every commit syncs the WAL
    assert (synchronous, journal) == (2, "wal")
    log.close()


def test_a_bad_busy_timeout_setting_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKET_SQLITE_BUSY_SECONDS", "soon")
    with pytest.raises(ValueError, match=r"DOCKET_SQLITE_BUSY_SECONDS.*'soon'"):
        create_log_engine(f"sqlite:///{tmp_path / 'x.db'}")


def test_a_writer_gives_up_after_the_busy_timeout_while_another_holds_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a ledger, and another connection holding the write lock
    monkeypatch.setenv("DOCKET_SQLITE_BUSY_SECONDS", "0.3")
    path = tmp_path / "locked.db"
    log = DecisionLog(f"sqlite:///{path}")
    log.migrate()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        # when / then: the append is refused (nothing written), instead of waiting on
        with pytest.raises(LogWriteError):
            log.append("admin", "uc", {"action": "x"}, subject_id="s")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert log.append("admin", "uc", {"action": "x"}, subject_id="s").seq == 1
