"""Verification of the decision log: one pass over the chain, in one read snapshot.

See :mod:`serving.ledger.store` for what verification can and cannot detect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.ledger.chain import (
    GENESIS_HASH,
    canonical_json,
    compute_entry_hash,
    compute_payload_hash,
)
from serving.ledger.entries import ERASURE_ACTION, ChainHead, LogKind
from serving.ledger.schema import ChainHeadRow, LogEntryRow, PayloadRow

__all__ = ["Problem", "VerifyResult", "verify_chain"]

_MAX_REORDER_WALK = 64

#: A result row of ``_VERIFY_COLUMNS`` (plus the payload columns in the main pass).
_StoredRow = Any

# Why verification failed; each names the entry.
_MESSAGE_MISSING_ENTRY = (
    "entry seq {seq} is missing: after seq {previous} the next entry is seq {found} "
    "(entry_id {entry_id}); a row was deleted"
)
_MESSAGE_TRUNCATED = (
    "entries seq {seq}..{head_seq} are missing: chain_head records seq {head_seq} but the "
    "last entry is seq {previous}; the end of the log was deleted"
)
_MESSAGE_PAST_HEAD = (
    "entry seq {seq} (entry_id {entry_id}) lies past the chain head (seq {head_seq}): "
    "it was written outside DecisionLog"
)
_MESSAGE_HEAD_MISMATCH = (
    "entry seq {seq} (entry_id {entry_id}) has entry_hash {entry_hash} but chain_head "
    "records {head_hash}: the last entry or chain_head was rewritten"
)
_MESSAGE_HEAD_MISSING = "the chain_head row is missing: it was deleted"
_MESSAGE_HASH_MISMATCH = (
    "entry seq {seq} (entry_id {entry_id}): entry_hash does not match its fields; "
    "a field of this row was edited"
)
_MESSAGE_BAD_DIGEST = (
    "entry seq {seq} (entry_id {entry_id}): the stored digest is not the canonical JSON "
    "object that was hashed; it was edited"
)
_MESSAGE_REORDERED = (
    "entry seq {seq} (entry_id {entry_id}) was recorded as seq {recorded_seq}: entries "
    "were reordered"
)
_MESSAGE_PREV_MISMATCH = (
    "entry seq {seq} (entry_id {entry_id}): prev_hash does not match the entry_hash of "
    "seq {previous}; the previous entry was rewritten or this one was inserted"
)
_MESSAGE_PAYLOAD_TAMPERED = (
    "entry seq {seq} (entry_id {entry_id}): the stored payload does not match payload_hash; "
    "the personal payload was changed"
)
_MESSAGE_PAYLOAD_UNEXPECTED = (
    "entry seq {seq} (entry_id {entry_id}): a payload is stored for an entry that recorded none"
)
_MESSAGE_PAYLOAD_MISSING = (
    "entry seq {seq} (entry_id {entry_id}): the payload is gone but was never erased "
    "through erase_payload"
)
_MESSAGE_UNRECORDED_ERASURE = (
    "entry seq {seq} (entry_id {entry_id}): the payload is marked erased but no "
    f"'{ERASURE_ACTION}' admin entry records the erasure"
)


class Problem(StrEnum):
    """Why verification failed."""

    MISSING_ENTRY = "missing_entry"
    """A seq is absent: a row was deleted (the last ones are caught by ``chain_head``)."""
    ENTRY_HASH_MISMATCH = "entry_hash_mismatch"
    """A row's fields no longer hash to its ``entry_hash``: the row was edited."""
    REORDERED = "reordered"
    """A row sits at another seq than the one it was recorded at."""
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    """A row does not link to its predecessor: that one was rewritten, or this one forged."""
    PAST_HEAD = "past_head"
    """Rows exist beyond ``chain_head``: they were written outside :class:`DecisionLog`."""
    HEAD_MISMATCH = "head_mismatch"
    """The last row's hash differs from the one ``chain_head`` recorded."""
    HEAD_MISSING = "head_missing"
    """The ``chain_head`` row was deleted."""
    PAYLOAD_TAMPERED = "payload_tampered"
    """A stored payload does not match its ``payload_hash`` (or should not exist)."""
    PAYLOAD_MISSING = "payload_missing"
    """A payload disappeared without an erasure."""
    UNRECORDED_ERASURE = "unrecorded_erasure"
    """A payload is marked erased but the chain holds no record of the erasure."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The outcome of :meth:`DecisionLog.verify`; truthy when the log is intact.

    ``first_broken_entry_id`` is ``None`` when the broken entry is missing.
    """

    ok: bool
    entries_checked: int
    head: ChainHead | None
    first_broken_seq: int | None = None
    first_broken_entry_id: str | None = None
    problem: Problem | None = None
    detail: str = field(default="")

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, object]:
        """The JSON-ready summary shown by the CLI and the API."""
        return {
            "ok": self.ok,
            "entries_checked": self.entries_checked,
            "first_broken_seq": self.first_broken_seq,
            "first_broken_entry_id": self.first_broken_entry_id,
            "problem": None if self.problem is None else str(self.problem),
            "detail": self.detail,
        }


def verify_chain(session: Session, *, batch_size: int = 1000) -> VerifyResult:
    """Verify the chain, its head and the payloads visible to ``session``.

    Run it inside one transaction with a stable snapshot (REPEATABLE READ on
    PostgreSQL; any read transaction on SQLite in WAL mode) so concurrent appends
    cannot make the head and the entries disagree.
    """
    return _Verifier(session, batch_size).run()


class _Broken(Exception):
    """Internal: the first problem found by :class:`_Verifier`."""

    def __init__(self, problem: Problem, seq: int | None, entry_id: str | None, detail: str):
        super().__init__(detail)
        self.problem = problem
        self.seq = seq
        self.entry_id = entry_id
        self.detail = detail


_VERIFY_COLUMNS = (
    LogEntryRow.seq,
    LogEntryRow.entry_id,
    LogEntryRow.kind,
    LogEntryRow.use_case,
    LogEntryRow.subject_id,
    LogEntryRow.recorded_at,
    LogEntryRow.digest,
    LogEntryRow.payload_hash,
    LogEntryRow.prev_hash,
    LogEntryRow.entry_hash,
)


def _fields_of(row: _StoredRow) -> dict[str, Any] | None:
    """The hashed fields of a stored row, or ``None`` if its digest is not canonical JSON."""
    try:
        digest = json.loads(row.digest)
        if not isinstance(digest, dict) or canonical_json(digest) != row.digest:
            return None
    except ValueError:
        return None
    return {
        "seq": row.seq,
        "entry_id": row.entry_id,
        "kind": row.kind,
        "use_case": row.use_case,
        "subject_id": row.subject_id,
        "recorded_at": row.recorded_at,
        "digest": digest,
        "payload_hash": row.payload_hash,
        "prev_hash": row.prev_hash,
    }


def _hash_matches(row: _StoredRow) -> bool:
    fields = _fields_of(row)
    return fields is not None and compute_entry_hash(fields) == row.entry_hash


class _Verifier:
    """One pass over the chain in seq order, inside one read snapshot."""

    def __init__(self, session: Session, batch_size: int) -> None:
        self.session = session
        self.batch_size = batch_size
        self.checked = 0
        self.erased: dict[str, int] = {}
        self.recorded_erasures: set[str] = set()

    def run(self) -> VerifyResult:
        head_row = self.session.get(ChainHeadRow, 1)
        head = None if head_row is None else ChainHead(head_row.seq, head_row.entry_hash)
        try:
            if head is None:
                raise _Broken(Problem.HEAD_MISSING, None, None, _MESSAGE_HEAD_MISSING)
            last_seq, last_id, last_hash = self._walk(head)
            self._check_erasures()
            self._check_head(head, last_seq, last_id, last_hash)
        except _Broken as broken:
            return VerifyResult(
                ok=False,
                entries_checked=self.checked,
                head=head,
                first_broken_seq=broken.seq,
                first_broken_entry_id=broken.entry_id,
                problem=broken.problem,
                detail=broken.detail,
            )
        return VerifyResult(ok=True, entries_checked=self.checked, head=head)

    def _pages(self) -> Iterator[_StoredRow]:
        after = 0
        while True:
            rows = self.session.execute(
                select(
                    *_VERIFY_COLUMNS,
                    PayloadRow.entry_id.label("stored_entry_id"),
                    PayloadRow.payload,
                    PayloadRow.salt,
                    PayloadRow.erased_at,
                )
                .outerjoin(PayloadRow, PayloadRow.entry_id == LogEntryRow.entry_id)
                .where(LogEntryRow.seq > after)
                .order_by(LogEntryRow.seq)
                .limit(self.batch_size)
            ).all()
            yield from rows
            if len(rows) < self.batch_size:
                return
            after = rows[-1].seq

    def _walk(self, head: ChainHead) -> tuple[int, str | None, str]:
        previous_seq, previous_id, previous_hash = 0, None, GENESIS_HASH
        for row in self._pages():
            expected = previous_seq + 1
            if row.seq > head.seq:
                raise _Broken(
                    Problem.PAST_HEAD,
                    row.seq,
                    row.entry_id,
                    _MESSAGE_PAST_HEAD.format(
                        seq=row.seq, entry_id=row.entry_id, head_seq=head.seq
                    ),
                )
            if row.seq != expected:
                raise _Broken(
                    Problem.MISSING_ENTRY,
                    expected,
                    None,
                    _MESSAGE_MISSING_ENTRY.format(
                        seq=expected, previous=previous_seq, found=row.seq, entry_id=row.entry_id
                    ),
                )
            self._check_entry(row, previous_seq, previous_hash)
            self._check_payload(row)
            if row.kind == LogKind.ADMIN and row.subject_id is not None:
                action = json.loads(row.digest).get("action")
                if action == ERASURE_ACTION:
                    self.recorded_erasures.add(row.subject_id)
            previous_seq, previous_id, previous_hash = row.seq, row.entry_id, row.entry_hash
            self.checked += 1
        return previous_seq, previous_id, previous_hash

    def _check_entry(self, row: _StoredRow, previous_seq: int, previous_hash: str) -> None:
        fields = _fields_of(row)
        names = {"seq": row.seq, "entry_id": row.entry_id}
        if fields is None:
            raise _Broken(
                Problem.ENTRY_HASH_MISMATCH,
                row.seq,
                row.entry_id,
                _MESSAGE_BAD_DIGEST.format(**names),
            )
        if compute_entry_hash(fields) != row.entry_hash:
            recorded_seq = self._recorded_seq(fields, row.entry_hash)
            if recorded_seq is not None:
                raise _Broken(
                    Problem.REORDERED,
                    row.seq,
                    row.entry_id,
                    _MESSAGE_REORDERED.format(**names, recorded_seq=recorded_seq),
                )
            raise _Broken(
                Problem.ENTRY_HASH_MISMATCH,
                row.seq,
                row.entry_id,
                _MESSAGE_HASH_MISMATCH.format(**names),
            )
        if row.prev_hash != previous_hash:
            raise _Broken(
                Problem.PREV_HASH_MISMATCH,
                row.seq,
                row.entry_id,
                _MESSAGE_PREV_MISMATCH.format(**names, previous=previous_seq),
            )

    def _recorded_seq(self, fields: dict[str, Any], entry_hash: str) -> int | None:
        """The seq a moved row was recorded at, found by walking back its prev_hash links.

        The walk stops at the first ancestor that still verifies at its current seq
        (or at genesis); the row's recorded seq is that anchor plus the steps taken.
        """
        steps, link = 1, fields["prev_hash"]
        for _ in range(_MAX_REORDER_WALK):
            if link == GENESIS_HASH:
                anchor = 0
                break
            ancestor = self.session.execute(
                select(*_VERIFY_COLUMNS).where(LogEntryRow.entry_hash == link)
            ).one_or_none()
            if ancestor is None:
                return None
            if _hash_matches(ancestor):
                anchor = ancestor.seq
                break
            steps, link = steps + 1, ancestor.prev_hash
        else:
            return None
        candidate = anchor + steps
        if candidate == fields["seq"]:
            return None
        return candidate if compute_entry_hash({**fields, "seq": candidate}) == entry_hash else None

    def _check_payload(self, row: _StoredRow) -> None:
        names = {"seq": row.seq, "entry_id": row.entry_id}
        if row.payload_hash is None:
            if row.stored_entry_id is not None:
                raise _Broken(
                    Problem.PAYLOAD_TAMPERED,
                    row.seq,
                    row.entry_id,
                    _MESSAGE_PAYLOAD_UNEXPECTED.format(**names),
                )
            return
        if row.stored_entry_id is None or (row.payload is None and row.erased_at is None):
            raise _Broken(
                Problem.PAYLOAD_MISSING,
                row.seq,
                row.entry_id,
                _MESSAGE_PAYLOAD_MISSING.format(**names),
            )
        if row.payload is None:
            self.erased[row.entry_id] = row.seq
            return
        try:
            intact = row.salt is not None and (
                compute_payload_hash(json.loads(row.payload), row.salt) == row.payload_hash
            )
        except ValueError:
            intact = False
        if not intact:
            raise _Broken(
                Problem.PAYLOAD_TAMPERED,
                row.seq,
                row.entry_id,
                _MESSAGE_PAYLOAD_TAMPERED.format(**names),
            )

    def _check_erasures(self) -> None:
        unrecorded = [
            (seq, entry_id)
            for entry_id, seq in self.erased.items()
            if entry_id not in self.recorded_erasures
        ]
        if unrecorded:
            seq, entry_id = min(unrecorded)
            raise _Broken(
                Problem.UNRECORDED_ERASURE,
                seq,
                entry_id,
                _MESSAGE_UNRECORDED_ERASURE.format(seq=seq, entry_id=entry_id),
            )

    def _check_head(
        self, head: ChainHead, last_seq: int, last_id: str | None, last_hash: str
    ) -> None:
        if head.seq > last_seq:
            raise _Broken(
                Problem.MISSING_ENTRY,
                last_seq + 1,
                None,
                _MESSAGE_TRUNCATED.format(seq=last_seq + 1, head_seq=head.seq, previous=last_seq),
            )
        if head.entry_hash != last_hash:
            raise _Broken(
                Problem.HEAD_MISMATCH,
                last_seq,
                last_id,
                _MESSAGE_HEAD_MISMATCH.format(
                    seq=last_seq, entry_id=last_id, entry_hash=last_hash, head_hash=head.entry_hash
                ),
            )
