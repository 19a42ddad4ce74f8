"""A database administrator's attacks on the ledger, and the checkpoints that catch them.

Each attack is SQL on the tables followed by what a careful forger does next:
recompute every ``entry_hash`` and ``prev_hash`` after the change, and the chain
head, with the documented hash (written out here with ``hashlib`` and ``json``,
not Docket's code). The old chain verification then passes; verification against
the signed checkpoints (kept outside the database) must fail and name the first
entry that differs. Runs on SQLite and PostgreSQL (``db_url``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from serving.ledger import DecisionLog
from serving.ledger.checkpoints import (
    CheckpointProblem,
    WitnessSinks,
    generate_key,
    publish_checkpoint,
    read_checkpoints,
    verify_against_witness,
    verify_checkpoints,
)

GENESIS = "0" * 64
FIRST_CHECKPOINT = 5
ENTRIES = 12


def _entry_hash(row: dict[str, object]) -> str:
    fields = {**row, "digest": json.loads(str(row["digest"]))}
    text_ = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text_.encode("utf-8")).hexdigest()


def _rechain(engine: Engine, from_seq: int) -> None:
    """What a forger runs after an edit: every hash from ``from_seq`` on, and the head."""
    with engine.begin() as conn:
        previous = conn.execute(
            text("SELECT entry_hash FROM log_entries WHERE seq = :s"), {"s": from_seq - 1}
        ).scalar_one_or_none()
        previous = previous or GENESIS
        rows = conn.execute(
            text(
                "SELECT seq, entry_id, kind, use_case, subject_id, recorded_at, digest, "
                "payload_hash FROM log_entries WHERE seq >= :s ORDER BY seq"
            ),
            {"s": from_seq},
        ).mappings()
        for row in list(rows):
            fields = {**row, "prev_hash": previous}
            new_hash = _entry_hash(fields)
            conn.execute(
                text("UPDATE log_entries SET prev_hash = :p, entry_hash = :h WHERE seq = :s"),
                {"p": previous, "h": new_hash, "s": row["seq"]},
            )
            previous = new_hash
        last = conn.execute(text("SELECT max(seq) FROM log_entries")).scalar_one()
        conn.execute(
            text("UPDATE chain_head SET seq = :s, entry_hash = :h WHERE id = 1"),
            {"s": last or 0, "h": previous if last else GENESIS},
        )


def rewrite_digest(engine: Engine, seq: int) -> int:
    forged = json.dumps({"i": seq, "outcome": "declined"}, sort_keys=True, separators=(",", ":"))
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE log_entries SET digest = :d WHERE seq = :s"), {"d": forged, "s": seq}
        )
    _rechain(engine, seq)
    return seq


def truncate_end(engine: Engine, seq: int) -> int:
    """Delete every entry from ``seq`` on and point the head at the one before."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM payloads WHERE entry_id IN "
                "(SELECT entry_id FROM log_entries WHERE seq >= :s)"
            ),
            {"s": seq},
        )
        conn.execute(text("DELETE FROM log_entries WHERE seq >= :s"), {"s": seq})
        conn.execute(
            text(
                "UPDATE chain_head SET seq = :p, entry_hash = "
                "(SELECT entry_hash FROM log_entries WHERE seq = :p) WHERE id = 1"
            ),
            {"p": seq - 1},
        )
    return seq


def swap_entries(engine: Engine, seq: int) -> int:
    """Exchange the entries at ``seq`` and ``seq + 2``, then rechain."""
    with engine.begin() as conn:
        conn.execute(text("UPDATE log_entries SET seq = -1 WHERE seq = :s"), {"s": seq})
        conn.execute(
            text("UPDATE log_entries SET seq = :s WHERE seq = :t"), {"s": seq, "t": seq + 2}
        )
        conn.execute(text("UPDATE log_entries SET seq = :t WHERE seq = -1"), {"t": seq + 2})
    _rechain(engine, seq)
    return seq


def delete_middle(engine: Engine, seq: int) -> int:
    """Delete the entry at ``seq``, renumber the ones after it, then rechain."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM payloads WHERE entry_id = "
                "(SELECT entry_id FROM log_entries WHERE seq = :s)"
            ),
            {"s": seq},
        )
        conn.execute(text("DELETE FROM log_entries WHERE seq = :s"), {"s": seq})
        last = conn.execute(text("SELECT max(seq) FROM log_entries")).scalar_one()
        for moved in range(seq + 1, last + 1):  # one by one: the primary key is checked per row
            conn.execute(
                text("UPDATE log_entries SET seq = :n WHERE seq = :o"), {"n": moved - 1, "o": moved}
            )
    _rechain(engine, seq)
    return seq


ATTACKS: dict[str, Callable[[Engine, int], int]] = {
    "rewrite": rewrite_digest,
    "truncate": truncate_end,
    "reorder": swap_entries,
    "delete_middle": delete_middle,
}


def _fill(log: DecisionLog, start: int, stop: int) -> None:
    for i in range(start, stop):
        log.append(
            "decision",
            "credit-eligibility",
            {"i": i, "outcome": "approved"},
            payload={"income": 1000 + i},
        )


@pytest.fixture
def witnessed(log: DecisionLog, tmp_path: Path) -> tuple[DecisionLog, Path, bytes]:
    """A ledger of 12 entries with signed checkpoints at 5 and 12 in a witness folder."""
    signer = generate_key(tmp_path / "key" / "ledger-signing.key")
    folder = tmp_path / "witness"
    sinks = WitnessSinks([folder])
    _fill(log, 1, FIRST_CHECKPOINT + 1)
    publish_checkpoint(log, signer, sinks)
    _fill(log, FIRST_CHECKPOINT + 1, ENTRIES + 1)
    publish_checkpoint(log, signer, sinks)
    return log, folder, signer.public_key


def test_the_honest_ledger_verifies_against_its_checkpoints(
    witnessed: tuple[DecisionLog, Path, bytes],
) -> None:
    log, folder, key = witnessed

    result = verify_against_witness(log, folder, key)

    assert result.ok, result.detail
    assert (result.tree_size, result.checkpoints_checked) == (ENTRIES, 2)
    assert result.consistency_proofs == 1
    assert result.witnessed_leaves == ENTRIES


def test_entries_appended_after_the_last_checkpoint_still_verify(
    witnessed: tuple[DecisionLog, Path, bytes],
) -> None:
    log, folder, key = witnessed
    _fill(log, ENTRIES + 1, ENTRIES + 4)

    result = verify_against_witness(log, folder, key)

    assert result.ok, result.detail
    assert result.tree_size == ENTRIES + 3


@pytest.mark.parametrize("seq", [3, 8], ids=["under-both-checkpoints", "under-the-second"])
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_forged_ledger_fails_at_the_first_entry_that_differs(
    witnessed: tuple[DecisionLog, Path, bytes], attack: str, seq: int
) -> None:
    log, folder, key = witnessed
    first_changed = ATTACKS[attack](log.engine, seq)
    assert log.verify().ok, "the forger recomputed the chain: the old check must pass"

    result = verify_against_witness(log, folder, key)

    assert not result.ok
    assert result.first_differing_seq == first_changed
    assert result.exact
    expected = (
        CheckpointProblem.TRUNCATED if attack == "truncate" else CheckpointProblem.ROOT_MISMATCH
    )
    assert result.problem == expected
    assert f"seq {first_changed}" in result.detail


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_without_segments_the_failure_names_the_range_between_checkpoints(
    witnessed: tuple[DecisionLog, Path, bytes], attack: str
) -> None:
    log, folder, key = witnessed
    checkpoints = read_checkpoints(folder)  # the signed heads alone, as a .jsonl witness keeps
    ATTACKS[attack](log.engine, 8)

    result = verify_checkpoints(log, checkpoints, key)

    assert not result.ok and not result.exact
    # the checkpoint at 5 still matches, so the change lies in 6..12 (6..8 once truncated)
    assert result.differing_range is not None
    low, high = result.differing_range
    assert low == FIRST_CHECKPOINT + 1 and low <= 8 <= high
    assert result.first_differing_seq == low
