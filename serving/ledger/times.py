"""Stored times: one UTC text format that sorts as it reads, and the clock type.

The ledger's ``recorded_at`` and the review cases' deadlines and leases use it;
the cases compare times in SQL as text, so every stored time goes through
:func:`stamp`. Times from elsewhere (a decision record's ISO deadline) are read
with :func:`parse`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["Clock", "parse", "stamp", "utc_now"]

Clock = Callable[[], datetime]

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_MESSAGE_NAIVE = "stored times must be timezone-aware; got {value!r} instead"


def utc_now() -> datetime:
    """The current time in UTC (the default clock)."""
    return datetime.now(UTC)


def stamp(moment: datetime) -> str:
    """``moment`` as stored: UTC, microseconds, a trailing ``Z``."""
    if moment.tzinfo is None:
        raise ValueError(_MESSAGE_NAIVE.format(value=moment))
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse(text: str) -> datetime:
    """A stored or ISO 8601 time (with an offset or ``Z``) as an aware UTC datetime."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(_MESSAGE_NAIVE.format(value=text))
    return moment.astimezone(UTC)
