"""Receipts: the inclusion proof of an entry under a signed checkpoint, checked independently.

Roots are recomputed here from RFC 9162's definition over the entry hashes read straight
from the table, and signatures are checked with ``cryptography`` directly.
"""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import text

from serving.ledger import DecisionLog, EntryNotFoundError, LogEntry
from serving.ledger.merkle import verify_inclusion
from serving.ledger.receipts import (
    LedgerTree,
    ReceiptMismatch,
    build_receipt,
    pending_receipt,
    receipt_for,
)
from serving.ledger.signing import Signer


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, word for word."""
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < len(d):
        k *= 2
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def table_hashes(log: DecisionLog) -> list[bytes]:
    with log.engine.connect() as db:
        rows = db.execute(text("SELECT entry_hash FROM log_entries ORDER BY seq")).scalars()
        return [bytes.fromhex(h) for h in rows]


def append(log: DecisionLog, n: int) -> list[LogEntry]:
    return [
        log.append("decision", "credit-eligibility", {"outcome": "approved", "i": i})
        for i in range(n)
    ]


def signature_holds(public_key: bytes, message: bytes, signature_b64: str) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            base64.b64decode(signature_b64), message
        )
    except Exception:
        return False
    return True


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def test_a_covered_receipt_proves_the_entry_under_the_signed_root(
    log: DecisionLog, signer: Signer
) -> None:
    # given: seven entries and a checkpoint over all of them
    entries = append(log, 7)
    size, root = LedgerTree(log).head()
    checkpoint = signer.sign_checkpoint(size, root)
    expected_root = mth(table_hashes(log))

    # when
    receipt = receipt_for(log, entries[4].entry_id, checkpoint)

    # then: the root is RFC 9162's over the table, the proof leads to it, the key signed it
    assert size == 7 and bytes.fromhex(root) == expected_root
    assert receipt.covered and receipt.tree_size == 7
    assert receipt.seq == entries[4].seq and receipt.leaf_index == entries[4].seq - 1
    assert receipt.entry_hash == entries[4].entry_hash
    assert receipt.proof is not None and receipt.checkpoint == checkpoint
    proof = [bytes.fromhex(p) for p in receipt.proof]
    leaf = bytes.fromhex(receipt.entry_hash)
    assert verify_inclusion(leaf, receipt.leaf_index, 7, proof, expected_root)
    assert signature_holds(signer.public_key, checkpoint.signing_input(), checkpoint.signature)
    assert receipt.verify(signer.public_key)


def test_every_entry_gets_a_proof_that_verifies(log: DecisionLog, signer: Signer) -> None:
    # given
    entries = append(log, 6)
    tree = LedgerTree(log)
    checkpoint = signer.sign_checkpoint(*tree.head())
    root = mth(table_hashes(log))

    for entry in entries:
        # when
        receipt = build_receipt(entry, checkpoint, tree)

        # then
        assert receipt.proof is not None
        assert verify_inclusion(
            bytes.fromhex(entry.entry_hash),
            entry.seq - 1,
            6,
            [bytes.fromhex(p) for p in receipt.proof],
            root,
        )


def test_an_entry_appended_after_the_checkpoint_is_not_covered(
    log: DecisionLog, signer: Signer
) -> None:
    # given: a checkpoint over three entries, then a fourth
    append(log, 3)
    tree = LedgerTree(log)
    checkpoint = signer.sign_checkpoint(*tree.head())
    (late,) = append(log, 1)

    # when
    receipt = receipt_for(log, late.entry_id, checkpoint, tree)

    # then: the hash, but no proof yet; a later checkpoint covers it
    assert not receipt.covered
    assert receipt.entry_hash == late.entry_hash and receipt.seq == 4
    assert receipt.proof is None and receipt.checkpoint is None
    assert receipt.detail is not None and "covers 3 entries" in receipt.detail
    assert not receipt.verify(signer.public_key)
    newer = signer.sign_checkpoint(*tree.head())
    assert newer.tree_size == 4
    assert receipt_for(log, late.entry_id, newer, tree).verify(signer.public_key)


def test_without_a_checkpoint_a_receipt_is_not_covered(log: DecisionLog) -> None:
    (entry,) = append(log, 1)
    receipt = receipt_for(log, entry.entry_id, None)
    assert not receipt.covered and receipt.detail == "no signed checkpoint exists yet"


def test_a_tampered_proof_or_a_foreign_key_fails(log: DecisionLog, signer: Signer) -> None:
    # given: a good receipt
    entries = append(log, 5)
    checkpoint = signer.sign_checkpoint(*LedgerTree(log).head())
    good = receipt_for(log, entries[1].entry_id, checkpoint)
    assert good.proof is not None and good.verify(signer.public_key)
    first = bytearray(bytes.fromhex(good.proof[0]))
    first[0] ^= 0x01
    tampered_proof = [bytes(first).hex(), *good.proof[1:]]
    other_entry = entries[2].entry_hash

    # when / then: a flipped bit in the proof, another entry's hash, another leaf index,
    # a checkpoint claiming another root, or another key: each fails
    assert not good.model_copy(update={"proof": tampered_proof}).verify(signer.public_key)
    assert not verify_inclusion(
        bytes.fromhex(good.entry_hash),
        good.leaf_index,
        5,
        [bytes.fromhex(p) for p in tampered_proof],
        bytes.fromhex(checkpoint.root_hash),
    )
    assert not good.model_copy(update={"entry_hash": other_entry}).verify(signer.public_key)
    assert not good.model_copy(update={"leaf_index": 2}).verify(signer.public_key)
    forged = checkpoint.model_copy(update={"root_hash": "ab" * 32})
    assert not good.model_copy(update={"checkpoint": forged}).verify(signer.public_key)
    stranger = Signer(Ed25519PrivateKey.generate())
    assert not good.verify(stranger.public_key)


def test_a_ledger_changed_after_signing_gets_no_receipt(log: DecisionLog, signer: Signer) -> None:
    # given: a checkpoint, then entry 2's stored hash rewritten
    entries = append(log, 4)
    checkpoint = signer.sign_checkpoint(*LedgerTree(log).head())
    with log.engine.begin() as db:
        db.execute(text("UPDATE log_entries SET entry_hash = :h WHERE seq = 2"), {"h": "cd" * 32})

    # when / then: no proof against a root the entries no longer match
    with pytest.raises(ReceiptMismatch, match="does not match its signed checkpoint"):
        receipt_for(log, entries[0].entry_id, checkpoint)


def test_an_unknown_entry_is_named(log: DecisionLog) -> None:
    with pytest.raises(EntryNotFoundError, match="nope"):
        receipt_for(log, "nope", None)


def test_the_tree_grows_with_the_log(log: DecisionLog) -> None:
    # given: a tree read after three entries
    append(log, 3)
    tree = LedgerTree(log)
    assert tree.head()[0] == 3

    # when: four more are appended
    append(log, 4)
    size, root = tree.head()

    # then: it equals the tree computed from scratch over all seven
    assert size == 7 and bytes.fromhex(root) == mth(table_hashes(log))


def test_a_pending_receipt_is_the_entry_as_written(log: DecisionLog) -> None:
    entries = append(log, 3)
    pending = pending_receipt(entries[2])
    assert pending.entry_id == entries[2].entry_id
    assert pending.entry_hash == table_hashes(log)[2].hex()
    assert pending.leaf_index == 2
    assert pending.proof_url == f"/ledger/receipts/{entries[2].entry_id}"
