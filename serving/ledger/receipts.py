"""Receipts: what a caller keeps to show, later and without trusting the database, that an
entry is in the ledger.

Every response that writes an entry (a decision, a review action, an appeal) carries a
:class:`PendingReceipt`: the entry's id, its hash and its leaf index. Building it costs
nothing beyond the write itself (no tree work on the decision path). Once a signed
checkpoint covers the entry (``tree_size >= seq``), ``GET /ledger/receipts/{entry_id}``
returns the full :class:`Receipt`: the checkpoint and the RFC 9162 inclusion proof of
the entry's hash under the checkpoint's root. Anyone with the ledger's public key can
check it with :func:`serving.ledger.merkle.verify_inclusion` and
:meth:`Checkpoint.verify` alone.

The leaves of the tree are the entries in ``seq`` order (leaf index ``seq - 1``), each
leaf's data the 32 raw bytes of the entry hash. :class:`LedgerTree` keeps that tree in
memory and only reads the entries appended since it last looked.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from serving.ledger.entries import LogEntry, LogError
from serving.ledger.merkle import MerkleTree, verify_inclusion
from serving.ledger.signing import Checkpoint
from serving.ledger.store import DecisionLog

__all__ = [
    "PROOF_PATH",
    "LedgerTree",
    "PendingReceipt",
    "Receipt",
    "ReceiptMismatch",
    "build_receipt",
    "pending_receipt",
    "receipt_for",
]

#: where the full receipt of an entry is fetched
PROOF_PATH = "/ledger/receipts/{entry_id}"

_HEX64 = r"^[0-9a-f]{64}$"

_MESSAGE_MISMATCH = (
    "the ledger does not match its signed checkpoint: the first {size} entries have root"
    " {actual}, the checkpoint of {timestamp} signed {signed}; the entries were changed after"
    " they were signed (run `docket log verify`)"
)
_MESSAGE_SHORT = (
    "the checkpoint covers {size} entries but the ledger holds only {held} readable in order;"
    " it was signed for another ledger, or entries are missing"
)
_NOT_COVERED = (
    "no signed checkpoint covers this entry yet (the newest covers {size} entries); the"
    " service writes one every DOCKET_CHECKPOINT_SECONDS: ask again then"
)
_NO_CHECKPOINT = "no signed checkpoint exists yet"


class ReceiptMismatch(LogError):
    """The entries under a signed checkpoint no longer hash to its root."""


class PendingReceipt(BaseModel):
    """The receipt a write returns at once: the entry's hash and where to fetch its proof."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str
    entry_hash: str = Field(pattern=_HEX64)
    leaf_index: int = Field(ge=0)
    proof_url: str


def pending_receipt(entry: LogEntry) -> PendingReceipt:
    """The receipt of ``entry`` as written; only string formatting, no reads, no hashing."""
    return PendingReceipt.model_construct(
        entry_id=entry.entry_id,
        entry_hash=entry.entry_hash,
        leaf_index=entry.seq - 1,
        proof_url=PROOF_PATH.format(entry_id=entry.entry_id),
    )


class Receipt(BaseModel):
    """An entry's receipt: covered by a signed checkpoint (with the proof), or not yet."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entry_id: str
    seq: int = Field(ge=1)
    leaf_index: int = Field(ge=0)
    entry_hash: str = Field(pattern=_HEX64)
    covered: bool
    tree_size: int | None = None
    checkpoint: Checkpoint | None = None
    proof: list[str] | None = None
    detail: str | None = None

    def verify(self, public_key: bytes) -> bool:
        """Whether the checkpoint is signed by ``public_key`` and the proof puts the entry
        hash at ``leaf_index`` under the checkpoint's root (False while not covered)."""
        cp = self.checkpoint
        if not self.covered or cp is None or self.proof is None or self.tree_size is None:
            return False
        if cp.tree_size != self.tree_size or not cp.verify(public_key):
            return False
        try:
            proof = [bytes.fromhex(p) for p in self.proof]
            leaf = bytes.fromhex(self.entry_hash)
            root = bytes.fromhex(cp.root_hash)
        except ValueError:
            return False
        return verify_inclusion(leaf, self.leaf_index, self.tree_size, proof, root)


class LedgerTree:
    """The Merkle tree over the ledger's entries, grown by reading only the new ones.

    Safe to share between threads (the route handlers and the checkpoint writer).
    """

    def __init__(self, log: DecisionLog) -> None:
        self._log = log
        self._tree = MerkleTree()
        self._lock = threading.Lock()

    def sync(self, at_least: int | None = None) -> int:
        """Read the entries appended since the last call; the number of leaves.

        Stops at the first gap in ``seq`` (an entry not yet visible), so every leaf index
        is ``seq - 1``. Raises :class:`~serving.ledger.LogReadError` if the log is
        unreadable.
        """
        with self._lock:
            if at_least is not None and len(self._tree) >= at_least:
                return len(self._tree)
            for entry in self._log.iter_entries(start_seq=len(self._tree) + 1):
                if entry.seq != len(self._tree) + 1:
                    break
                self._tree.append(bytes.fromhex(entry.entry_hash))
            return len(self._tree)

    def head(self) -> tuple[int, str]:
        """The current size of the ledger and the hex root over it (after a :meth:`sync`)."""
        self.sync()
        with self._lock:
            size = len(self._tree)
            return size, self._tree.root(size).hex()

    def root_and_proof(self, index: int, size: int) -> tuple[str, list[str]]:
        """The hex root of the first ``size`` leaves and leaf ``index``'s inclusion proof."""
        held = self.sync(at_least=size)
        if held < size:
            raise ReceiptMismatch(_MESSAGE_SHORT.format(size=size, held=held))
        with self._lock:
            root = self._tree.root(size).hex()
            proof = [h.hex() for h in self._tree.inclusion_proof(index, size)]
        return root, proof


def build_receipt(entry: LogEntry, checkpoint: Checkpoint | None, tree: LedgerTree) -> Receipt:
    """``entry``'s receipt under ``checkpoint`` (not covered when it is older than the entry).

    Raises :class:`ReceiptMismatch` when the ledger's entries no longer hash to the
    checkpoint's root: a receipt is never given against a root the entries do not match.
    """

    def made(covered: bool, **more: Any) -> Receipt:
        return Receipt(
            entry_id=entry.entry_id,
            seq=entry.seq,
            leaf_index=entry.seq - 1,
            entry_hash=entry.entry_hash,
            covered=covered,
            **more,
        )

    if checkpoint is None:
        return made(False, detail=_NO_CHECKPOINT)
    if checkpoint.tree_size < entry.seq:
        return made(False, detail=_NOT_COVERED.format(size=checkpoint.tree_size))
    root, proof = tree.root_and_proof(entry.seq - 1, checkpoint.tree_size)
    if root != checkpoint.root_hash:
        raise ReceiptMismatch(
            _MESSAGE_MISMATCH.format(
                size=checkpoint.tree_size,
                actual=root,
                timestamp=checkpoint.timestamp,
                signed=checkpoint.root_hash,
            )
        )
    return made(True, tree_size=checkpoint.tree_size, checkpoint=checkpoint, proof=proof)


def receipt_for(
    log: DecisionLog,
    entry_id: str,
    checkpoint: Checkpoint | None,
    tree: LedgerTree | None = None,
) -> Receipt:
    """The receipt of entry ``entry_id`` under ``checkpoint`` (e.g. the latest one).

    Raises :class:`~serving.ledger.EntryNotFoundError` for an unknown entry.
    """
    return build_receipt(log.get(entry_id), checkpoint, tree or LedgerTree(log))
