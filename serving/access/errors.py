"""Errors the service layers raise, each with the kind of failure it is.

Nothing below ``serving.http`` knows about HTTP: an error names its *kind*, and
the HTTP layer maps kinds to status codes in one place.
"""

from __future__ import annotations

from typing import Any, Literal

__all__ = ["AccessDenied", "ErrorKind", "PurposeRequired", "ServiceError"]

ErrorKind = Literal["invalid", "forbidden", "not_found", "conflict", "unavailable"]


class ServiceError(Exception):
    """A request the service cannot carry out; ``kind`` says why, the message says what."""

    kind: ErrorKind = "invalid"

    def body(self) -> dict[str, Any]:
        return {"error": str(self)}


class AccessDenied(ServiceError):
    """The authenticated principal's role or task does not allow this."""

    kind: ErrorKind = "forbidden"


class PurposeRequired(ServiceError):
    """Reading a person's data needs a stated purpose (R17)."""

    kind: ErrorKind = "invalid"
