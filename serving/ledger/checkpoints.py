"""Checkpoints of the ledger: its Merkle tree, signed, witnessed, and verified against.

The hash chain (:mod:`serving.ledger.chain`) shows careless edits, but whoever can
write the tables can rewrite an entry and recompute every hash after it. A
checkpoint (:class:`~serving.ledger.signing.Checkpoint`) is the size and Merkle root
of the ledger signed with a key kept out of the database, and copied to witness
sinks (:mod:`serving.ledger.witness`) out of the database too. Verifying the
database against the checkpoints (:func:`verify_checkpoints`) then fails for any
rewrite of the entries a checkpoint covers, hashes recomputed or not.

The Merkle tree is RFC 9162's (:mod:`serving.ledger.merkle`) over the entries in
``seq`` order: leaf ``seq - 1`` is the 32 raw bytes of the entry hash. The formats
are written out in ``docs/ledger-format.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.ledger.merkle import MerkleTree, verify_consistency
from serving.ledger.schema import LogEntryRow
from serving.ledger.signing import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    LedgerKeyError,
    Signer,
    generate_key,
    load_public_key,
    load_signer,
)
from serving.ledger.store import DecisionLog
from serving.ledger.witness import (
    SinkResult,
    WitnessSinks,
    latest_checkpoint,
    read_checkpoints,
    read_witnessed_leaves,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointProblem",
    "CheckpointVerifyResult",
    "CheckpointWriter",
    "LedgerKeyError",
    "Signer",
    "SinkResult",
    "WitnessSinks",
    "generate_key",
    "latest_checkpoint",
    "ledger_leaves",
    "ledger_tree",
    "load_public_key",
    "load_signer",
    "make_checkpoint",
    "publish_checkpoint",
    "read_checkpoints",
    "verify_checkpoints",
]

_PAGE = 20_000


def ledger_leaves(log: DecisionLog, size: int | None = None, *, start_seq: int = 1) -> list[bytes]:
    """The stored entry hashes (32 raw bytes each) from ``start_seq`` on, in seq order.

    Reads at most ``size - start_seq + 1`` entries when ``size`` is given. A gap in
    ``seq`` ends the list (the chain verifier reports the gap itself).
    """
    leaves: list[bytes] = []
    after = start_seq - 1
    with Session(log.engine) as session:
        while size is None or after < size:
            limit = _PAGE if size is None else min(_PAGE, size - after)
            rows = session.execute(
                select(LogEntryRow.seq, LogEntryRow.entry_hash)
                .where(LogEntryRow.seq > after)
                .order_by(LogEntryRow.seq)
                .limit(limit)
            ).all()
            for seq, entry_hash in rows:
                if seq != after + 1:
                    return leaves
                leaves.append(bytes.fromhex(entry_hash))
                after = seq
            if len(rows) < limit:
                break
    return leaves


def ledger_tree(log: DecisionLog, size: int | None = None) -> MerkleTree:
    """The Merkle tree over the ledger's entry hashes in seq order (the first ``size``)."""
    return MerkleTree(ledger_leaves(log, size))


def make_checkpoint(log: DecisionLog, signer: Signer) -> Checkpoint:
    """A checkpoint of the whole ledger as it is now."""
    tree = ledger_tree(log)
    return signer.sign_checkpoint(len(tree), tree.root().hex())


def _segment_source(log: DecisionLog) -> Any:
    def entry_hashes(first: int, last: int) -> list[str]:
        return [leaf.hex() for leaf in ledger_leaves(log, last, start_seq=first)]

    return entry_hashes


def publish_checkpoint(
    log: DecisionLog, signer: Signer, sinks: WitnessSinks
) -> tuple[Checkpoint, list[SinkResult]]:
    """Make a checkpoint of the ledger now and publish it (with its segment) to ``sinks``."""
    checkpoint = make_checkpoint(log, signer)
    return checkpoint, sinks.publish(checkpoint, _segment_source(log))


class CheckpointWriter:
    """Writes checkpoints for a long-running service, keeping the tree between them.

    Each :meth:`checkpoint` reads only the entries appended since the last one, so
    a checkpoint of a large ledger costs O(new entries + log^2 n) after the first.
    A checkpoint is published only when the ledger grew (or ``force``).
    """

    def __init__(
        self,
        log: DecisionLog,
        signer: Signer,
        sinks: WitnessSinks,
        head: Callable[[], tuple[int, str]] | None = None,
    ) -> None:
        self.log = log
        self.signer = signer
        self.sinks = sinks
        # ``head`` (size, hex root) lets a service share one in-memory tree with its
        # receipts instead of holding two copies of every subtree hash
        self._head = head or self._own_head
        self._tree = MerkleTree()
        self.last: Checkpoint | None = None

    def _own_head(self) -> tuple[int, str]:
        for leaf in ledger_leaves(self.log, start_seq=len(self._tree) + 1):
            self._tree.append(leaf)
        return len(self._tree), self._tree.root().hex()

    def checkpoint(self, *, force: bool = False) -> tuple[Checkpoint | None, list[SinkResult]]:
        """Sign the current tree head and publish it; retries queued sinks when idle."""
        size, root = self._head()
        segments = _segment_source(self.log)
        if not force and self.last is not None and self.last.tree_size == size:
            return None, self.sinks.retry_due(segments)
        self.last = self.signer.sign_checkpoint(size, root)
        return self.last, self.sinks.publish(self.last, segments)


class CheckpointProblem:
    """Why verification against checkpoints failed (string constants)."""

    BAD_SIGNATURE = "bad_signature"
    FORKED = "forked_checkpoints"
    ROOT_MISMATCH = "root_mismatch"
    TRUNCATED = "truncated"
    INCONSISTENT = "inconsistent"


@dataclass(frozen=True, slots=True)
class CheckpointVerifyResult:
    """The outcome of :func:`verify_checkpoints`; truthy when every checkpoint holds.

    ``first_differing_seq`` is exact when the witness kept segments of entry hashes;
    otherwise it is the first seq of ``differing_range``, the entries between the
    last checkpoint that matched and the first that did not.
    """

    ok: bool
    tree_size: int
    checkpoints_checked: int
    largest_checkpoint: int | None
    first_differing_seq: int | None = None
    differing_range: tuple[int, int] | None = None
    exact: bool = False
    problem: str | None = None
    checkpoint: Checkpoint | None = None
    detail: str = ""
    witnessed_leaves: int = 0
    consistency_proofs: int = 0
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "tree_size": self.tree_size,
            "checkpoints_checked": self.checkpoints_checked,
            "largest_checkpoint": self.largest_checkpoint,
            "first_differing_seq": self.first_differing_seq,
            "differing_range": None if self.differing_range is None else list(self.differing_range),
            "exact": self.exact,
            "problem": self.problem,
            "checkpoint": None if self.checkpoint is None else self.checkpoint.model_dump(),
            "detail": self.detail,
            "witnessed_leaves": self.witnessed_leaves,
            "consistency_proofs": self.consistency_proofs,
        }


def _authenticated_leaves(
    witnessed: Sequence[str], checkpoints: Sequence[Checkpoint]
) -> list[bytes]:
    """The longest prefix of the witnessed entry hashes that a signed root vouches for."""
    try:
        leaves = [bytes.fromhex(h) for h in witnessed]
    except ValueError:
        return []
    if any(len(leaf) != 32 for leaf in leaves):
        return []
    tree = MerkleTree(leaves)
    best = 0
    for checkpoint in checkpoints:
        size = checkpoint.tree_size
        if best < size <= len(tree) and tree.root(size).hex() == checkpoint.root_hash:
            best = size
    return leaves[:best]


def verify_checkpoints(
    log: DecisionLog | Sequence[bytes],
    checkpoints: Iterable[Checkpoint],
    public_key: bytes,
    *,
    witnessed: Sequence[str] = (),
) -> CheckpointVerifyResult:
    """Check the ledger against signed checkpoints.

    Every checkpoint must be signed by ``public_key``; checkpoints of one size must
    agree; the ledger's tree must have each checkpoint's root at its size; and each
    checkpoint must be consistent with the next (an RFC 9162 consistency proof from
    the ledger's tree, verified against both signed roots). ``witnessed`` (entry
    hashes from the witness segments) lets a failure name the exact entry.

    ``log`` may also be the list of leaves (entry hashes as bytes) already read.
    """
    ordered = sorted(checkpoints, key=lambda c: (c.tree_size, c.timestamp))
    leaves = list(log) if not isinstance(log, DecisionLog) else ledger_leaves(log)
    tree = MerkleTree(leaves)
    n = len(tree)
    base: dict[str, Any] = {
        "tree_size": n,
        "checkpoints_checked": 0,
        "largest_checkpoint": ordered[-1].tree_size if ordered else None,
    }
    for checkpoint in ordered:
        if not checkpoint.verify(public_key):
            return CheckpointVerifyResult(
                ok=False,
                **base,
                problem=CheckpointProblem.BAD_SIGNATURE,
                checkpoint=checkpoint,
                detail=(
                    f"the checkpoint of tree size {checkpoint.tree_size} at "
                    f"{checkpoint.timestamp} is not signed by this log's key "
                    f"(log id {checkpoint.log_id[:16]}…): it is forged or from another log"
                ),
            )
    by_size: dict[int, Checkpoint] = {}
    for checkpoint in ordered:
        seen = by_size.setdefault(checkpoint.tree_size, checkpoint)
        if seen.root_hash != checkpoint.root_hash:
            return CheckpointVerifyResult(
                ok=False,
                **base,
                problem=CheckpointProblem.FORKED,
                checkpoint=checkpoint,
                detail=(
                    f"two signed checkpoints of tree size {checkpoint.tree_size} have different "
                    f"roots ({seen.timestamp} and {checkpoint.timestamp}): the log was forked"
                ),
            )
    distinct = [by_size[size] for size in sorted(by_size)]
    authentic = _authenticated_leaves(witnessed, distinct)
    matched, proofs = 0, 0
    previous: Checkpoint | None = None
    for checkpoint in distinct:
        size = checkpoint.tree_size
        if size > n or tree.root(size).hex() != checkpoint.root_hash:
            return _mismatch(base, checkpoint, matched, leaves, authentic)
        if previous is not None and previous.tree_size > 0:
            proof = tree.consistency_proof(previous.tree_size, size)
            proofs += 1
            if not verify_consistency(
                previous.tree_size,
                size,
                bytes.fromhex(previous.root_hash),
                bytes.fromhex(checkpoint.root_hash),
                proof,
            ):  # cannot happen when both roots matched the same tree; kept as a guard
                return CheckpointVerifyResult(
                    ok=False,
                    **base,
                    problem=CheckpointProblem.INCONSISTENT,
                    checkpoint=checkpoint,
                    detail=f"no consistency proof from size {previous.tree_size} to {size}",
                )
        matched = size
        previous = checkpoint
        base["checkpoints_checked"] += 1
    base["checkpoints_checked"] = len(ordered)
    return CheckpointVerifyResult(
        ok=True, **base, witnessed_leaves=len(authentic), consistency_proofs=proofs
    )


def _mismatch(
    base: dict[str, Any],
    checkpoint: Checkpoint,
    matched: int,
    leaves: Sequence[bytes],
    authentic: Sequence[bytes],
) -> CheckpointVerifyResult:
    size, n = checkpoint.tree_size, len(leaves)
    truncated = size > n
    exact_seq = None
    if len(authentic) > matched:
        for index in range(matched, min(len(authentic), size)):
            if index >= n or leaves[index] != authentic[index]:
                exact_seq = index + 1
                break
    low, high = matched + 1, min(size, n + 1)
    if exact_seq is None and len(authentic) > matched:
        # the witnessed entries that a signed root vouches for all match: look past them
        low = min(max(low, len(authentic) + 1), high)
    first = exact_seq if exact_seq is not None else low
    where = (
        f"entry seq {first} differs from what was witnessed"
        if exact_seq is not None
        else f"the first differing entry is in seq {low}..{high}"
    )
    if exact_seq is not None and exact_seq > n:
        where = f"entry seq {exact_seq} is missing"
    if truncated and (exact_seq is None or exact_seq > n):
        problem = CheckpointProblem.TRUNCATED
        detail = (
            f"the ledger has {n} entries but a checkpoint signed at {checkpoint.timestamp} "
            f"witnessed {size}: entries were deleted; {where}"
        )
    else:
        problem = CheckpointProblem.ROOT_MISMATCH
        found = f"has {n} entries, fewer than" if truncated else "has a different root at"
        detail = (
            f"the ledger {found} the tree size {size} signed at {checkpoint.timestamp}: "
            f"entries were rewritten, reordered or deleted; {where}"
        )
    return CheckpointVerifyResult(
        ok=False,
        **base,
        first_differing_seq=first,
        differing_range=(low, high),
        exact=exact_seq is not None,
        problem=problem,
        checkpoint=checkpoint,
        detail=detail,
        witnessed_leaves=len(authentic),
    )


def verify_against_witness(
    log: DecisionLog, path: Path, public_key: bytes
) -> CheckpointVerifyResult:
    """:func:`verify_checkpoints` with the checkpoints (and segments) of a witness path."""
    path = Path(path)
    witnessed = read_witnessed_leaves(path) if path.is_dir() else []
    return verify_checkpoints(log, read_checkpoints(path), public_key, witnessed=witnessed)
