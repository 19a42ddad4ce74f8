"""Why a decision could not be given or read (kinds map to HTTP codes in ``serving.http``)."""

from __future__ import annotations

from serving.access.errors import ErrorKind, ServiceError

__all__ = [
    "DecisionError",
    "DecisionNotFound",
    "NotServed",
    "RecordFailed",
    "RegistryUnavailable",
    "UnknownUseCase",
]


class DecisionError(ServiceError):
    """A decision request that cannot be carried out."""


class UnknownUseCase(DecisionError):
    kind: ErrorKind = "not_found"

    def __init__(self, use_case: str, served: list[str], unserved: dict[str, str]) -> None:
        self.served, self.unserved = served, unserved
        super().__init__(
            f"unknown use case {use_case!r}; served use cases: {served or '(none)'}"
            + (f"; registered but not served: {sorted(unserved)}" if unserved else "")
        )


class NotServed(DecisionError):
    """The use case is registered but has no version that may be served."""

    kind: ErrorKind = "conflict"


class RecordFailed(DecisionError):
    """The durable record could not be written, so no decision is given."""

    kind: ErrorKind = "unavailable"


class RegistryUnavailable(DecisionError):
    """The model registry could not be read: champions cannot be (re)loaded from it."""

    kind: ErrorKind = "unavailable"


class DecisionNotFound(DecisionError):
    kind: ErrorKind = "not_found"
