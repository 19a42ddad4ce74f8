"""Verification finds every kind of tampering and names the first broken entry (R16, R18)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import text

from serving.ledger import DecisionLog, LogEntry, Problem, canonical_json, compute_entry_hash

USE_CASE = "credit-eligibility"
N = 8


def _fill(log: DecisionLog, count: int = N) -> list[LogEntry]:
    return [
        log.append(
            "decision",
            USE_CASE,
            {"outcome": "approved", "score": 0.5 + i / 100, "reasons": ["R01"]},
            payload={"application_ref": f"A-{i}", "income": 1000 + i},
            subject_id=f"d{i}",
        )
        for i in range(count)
    ]


def _sql(log: DecisionLog, statement: str, **params: Any) -> None:
    with log.engine.begin() as connection:
        connection.execute(text(statement), params)


def _rehash(log: DecisionLog, entry: LogEntry, **changes: Any) -> str:
    """Rewrite ``entry`` with ``changes`` and a freshly computed entry_hash, as a forger would."""
    fields = {**entry.hashed_fields(), **changes}
    new_hash = compute_entry_hash(fields)
    _sql(
        log,
        "UPDATE log_entries SET digest = :digest, entry_hash = :hash WHERE seq = :seq",
        digest=canonical_json(fields["digest"]),
        hash=new_hash,
        seq=entry.seq,
    )
    return new_hash


def test_an_intact_log_verifies(log: DecisionLog) -> None:
    # given
    entries = _fill(log)

    # when
    result = log.verify(batch_size=3)

    # then
    assert result.ok and bool(result)
    assert result.entries_checked == N
    assert result.head is not None and result.head.entry_hash == entries[-1].entry_hash
    assert result.first_broken_seq is None and result.problem is None


def test_an_empty_log_verifies(log: DecisionLog) -> None:
    # when
    result = log.verify()

    # then
    assert result.ok and result.entries_checked == 0


def test_an_edited_digest_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    edited = {**entries[2].digest, "outcome": "declined"}
    _sql(log, "UPDATE log_entries SET digest = :d WHERE seq = 3", d=canonical_json(edited))

    # when
    result = log.verify()

    # then
    assert not result.ok
    assert result.problem is Problem.ENTRY_HASH_MISMATCH
    assert (result.first_broken_seq, result.first_broken_entry_id) == (3, entries[2].entry_id)
    assert result.entries_checked == 2
    assert "seq 3" in result.detail


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("use_case", "retention-propensity"),
        ("kind", "appeal"),
        ("subject_id", None),
        ("recorded_at", "2020-01-01T00:00:00.000000Z"),
        ("payload_hash", "0" * 64),
        ("entry_id", "00000000-0000-0000-0000-000000000000"),
    ],
)
def test_any_edited_field_is_named(log: DecisionLog, column: str, value: str | None) -> None:
    # given
    entries = _fill(log)
    if column in {"payload_hash", "entry_id"}:
        _sql(log, "DELETE FROM payloads WHERE entry_id = :e", e=entries[4].entry_id)
    _sql(log, f"UPDATE log_entries SET {column} = :v WHERE seq = 5", v=value)

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.ENTRY_HASH_MISMATCH
    assert result.first_broken_seq == 5


def test_a_digest_rewritten_with_other_whitespace_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    spaced = json.dumps(entries[1].digest, sort_keys=True, indent=1)
    _sql(log, "UPDATE log_entries SET digest = :d WHERE seq = 2", d=spaced)

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.ENTRY_HASH_MISMATCH
    assert result.first_broken_seq == 2
    assert "canonical" in result.detail


def test_a_deleted_middle_entry_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(log, "DELETE FROM payloads WHERE entry_id = :e", e=entries[3].entry_id)
    _sql(log, "DELETE FROM log_entries WHERE seq = 4")

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.MISSING_ENTRY
    assert result.first_broken_seq == 4
    assert result.first_broken_entry_id is None
    assert entries[4].entry_id in result.detail


def test_a_deleted_last_entry_is_caught_by_the_chain_head(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(log, "DELETE FROM payloads WHERE entry_id = :e", e=entries[-1].entry_id)
    _sql(log, "DELETE FROM log_entries WHERE seq = :s", s=N)

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.MISSING_ENTRY
    assert result.first_broken_seq == N
    assert result.entries_checked == N - 1


def test_appending_after_a_truncation_does_not_hide_it(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(log, "DELETE FROM payloads WHERE entry_id = :e", e=entries[-1].entry_id)
    _sql(log, "DELETE FROM log_entries WHERE seq = :s", s=N)

    # when
    log.append("admin", USE_CASE, {"action": "noop"})
    result = log.verify()

    # then
    assert result.problem is Problem.MISSING_ENTRY
    assert result.first_broken_seq == N


def test_a_deleted_chain_head_is_named(log: DecisionLog) -> None:
    # given
    _fill(log, 2)
    _sql(log, "DELETE FROM chain_head")

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.HEAD_MISSING
    assert result.head is None


def test_swapped_entries_are_reported_as_reordered(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(log, "UPDATE log_entries SET seq = 1000 WHERE seq = 3")
    _sql(log, "UPDATE log_entries SET seq = 3 WHERE seq = 6")
    _sql(log, "UPDATE log_entries SET seq = 6 WHERE seq = 1000")

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.REORDERED
    assert (result.first_broken_seq, result.first_broken_entry_id) == (3, entries[5].entry_id)
    assert "recorded as seq 6" in result.detail


def test_swapped_neighbours_are_reported_as_reordered(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(log, "UPDATE log_entries SET seq = 1000 WHERE seq = 4")
    _sql(log, "UPDATE log_entries SET seq = 4 WHERE seq = 5")
    _sql(log, "UPDATE log_entries SET seq = 5 WHERE seq = 1000")

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.REORDERED
    assert (result.first_broken_seq, result.first_broken_entry_id) == (4, entries[4].entry_id)
    assert "recorded as seq 5" in result.detail


def test_a_rewritten_and_rehashed_entry_breaks_the_next_link(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _rehash(log, entries[2], digest={**entries[2].digest, "outcome": "declined"})

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.PREV_HASH_MISMATCH
    assert (result.first_broken_seq, result.first_broken_entry_id) == (4, entries[3].entry_id)


def test_a_rewritten_and_rehashed_last_entry_is_caught_by_the_chain_head(
    log: DecisionLog,
) -> None:
    # given
    entries = _fill(log)
    _rehash(log, entries[-1], digest={**entries[-1].digest, "outcome": "declined"})

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.HEAD_MISMATCH
    assert (result.first_broken_seq, result.first_broken_entry_id) == (N, entries[-1].entry_id)


def test_an_entry_written_past_the_head_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log, 3)
    forged = {**entries[-1].hashed_fields(), "seq": 4, "entry_id": "forged", "digest": {}}
    forged["prev_hash"] = entries[-1].entry_hash
    _sql(
        log,
        "INSERT INTO log_entries (seq, entry_id, kind, use_case, subject_id, recorded_at, "
        "digest, payload_hash, prev_hash, entry_hash) VALUES (4, 'forged', 'decision', "
        ":use_case, NULL, :recorded_at, '{}', NULL, :prev_hash, :entry_hash)",
        use_case=USE_CASE,
        recorded_at=forged["recorded_at"],
        prev_hash=forged["prev_hash"],
        entry_hash=compute_entry_hash({**forged, "subject_id": None, "payload_hash": None}),
    )

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.PAST_HEAD
    assert (result.first_broken_seq, result.first_broken_entry_id) == (4, "forged")


def test_a_tampered_payload_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    forged = canonical_json({"application_ref": "A-5", "income": 999999})
    _sql(
        log, "UPDATE payloads SET payload = :p WHERE entry_id = :e", p=forged, e=entries[5].entry_id
    )

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.PAYLOAD_TAMPERED
    assert (result.first_broken_seq, result.first_broken_entry_id) == (6, entries[5].entry_id)


def test_a_deleted_payload_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(log, "DELETE FROM payloads WHERE entry_id = :e", e=entries[1].entry_id)

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.PAYLOAD_MISSING
    assert result.first_broken_seq == 2


def test_an_erasure_outside_the_log_is_named(log: DecisionLog) -> None:
    # given
    entries = _fill(log)
    _sql(
        log,
        "UPDATE payloads SET payload = NULL, salt = NULL, erased_at = 'x', erasure_reason = 'x' "
        "WHERE entry_id = :e",
        e=entries[6].entry_id,
    )

    # when
    result = log.verify()

    # then
    assert result.problem is Problem.UNRECORDED_ERASURE
    assert (result.first_broken_seq, result.first_broken_entry_id) == (7, entries[6].entry_id)


def test_an_erased_payload_still_verifies_and_is_gone(log: DecisionLog) -> None:
    # given
    entries = _fill(log)

    # when
    log.erase_payload(entries[2].entry_id, "retention period ended")
    log.erase_payload(entries[5].entry_id, "request by the data subject")
    result = log.verify()

    # then
    assert result.ok, result.detail
    assert result.entries_checked == N + 2
    with log.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT payload, salt FROM payloads WHERE entry_id = :e"),
            {"e": entries[2].entry_id},
        ).one()
    assert tuple(stored) == (None, None)
    assert log.get(entries[2].entry_id).payload_hash == entries[2].payload_hash
