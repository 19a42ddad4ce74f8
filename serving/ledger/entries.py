"""What the decision log records: entry kinds, entries, payloads, the chain head, errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "ERASURE_ACTION",
    "ChainHead",
    "EntryNotFoundError",
    "LogEntry",
    "LogError",
    "LogKind",
    "LogReadError",
    "LogWriteError",
    "NewEntry",
    "StoredPayload",
]

#: ``digest["action"]`` of the ``admin`` entry that records a payload erasure.
ERASURE_ACTION = "payload_erased"


class LogKind(StrEnum):
    """What an entry records."""

    DECISION = "decision"
    REVIEW_ACTION = "review_action"
    APPEAL = "appeal"
    PROMOTION = "promotion"
    ADMIN = "admin"
    ACCESS = "access"


class LogError(Exception):
    """Base class of decision-log errors."""


class LogWriteError(LogError):
    """An entry could not be written; nothing was recorded (the service answers 503)."""


class LogReadError(LogError):
    """The log could not be read (database unreachable, schema missing)."""


class EntryNotFoundError(LogError, LookupError):
    """No entry (or no payload) exists for the entry_id asked for."""


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One entry of the chain, as stored."""

    seq: int
    entry_id: str
    kind: LogKind
    use_case: str
    subject_id: str | None
    recorded_at: str
    digest: dict[str, Any]
    payload_hash: str | None
    prev_hash: str
    entry_hash: str

    def hashed_fields(self) -> dict[str, Any]:
        """The fields ``entry_hash`` covers."""
        return {
            "seq": self.seq,
            "entry_id": self.entry_id,
            "kind": str(self.kind),
            "use_case": self.use_case,
            "subject_id": self.subject_id,
            "recorded_at": self.recorded_at,
            "digest": self.digest,
            "payload_hash": self.payload_hash,
            "prev_hash": self.prev_hash,
        }


@dataclass(frozen=True, slots=True)
class NewEntry:
    """One entry to append, as :meth:`~serving.ledger.store.LogTransaction.append_many` takes
    them (the arguments of :meth:`~serving.ledger.store.DecisionLog.append`)."""

    kind: LogKind | str
    use_case: str
    digest: Mapping[str, Any]
    payload: Mapping[str, Any] | None = None
    subject_id: str | None = None


@dataclass(frozen=True, slots=True)
class StoredPayload:
    """The personal payload of an entry; ``payload`` is ``None`` once erased."""

    entry_id: str
    payload: dict[str, Any] | None
    erased_at: str | None
    erasure_reason: str | None

    @property
    def erased(self) -> bool:
        """Whether the payload was erased."""
        return self.erased_at is not None


@dataclass(frozen=True, slots=True)
class ChainHead:
    """The last entry's seq and hash (seq 0 and the genesis hash for an empty log)."""

    seq: int
    entry_hash: str
