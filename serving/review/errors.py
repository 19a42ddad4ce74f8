"""Why a review action was refused; each error has the kind the HTTP layer maps to a status.

Every message says what was expected and what was found (the case's status,
who holds it and until when, the codes allowed), so a reviewer knows what to do.
"""

from __future__ import annotations

from serving.access.errors import ErrorKind, ServiceError

__all__ = [
    "AppealRefused",
    "CaseConflict",
    "CaseNotFound",
    "InvalidResolution",
    "ReviewError",
    "ReviewForbidden",
    "ReviewNotConfigured",
]


class ReviewError(ServiceError):
    """A review action that cannot be carried out."""


class CaseNotFound(ReviewError):
    """No such case, or no such decision."""

    kind: ErrorKind = "not_found"


class CaseConflict(ReviewError):
    """The case is not in a state that allows this action (claimed by someone else, resolved…)."""

    kind: ErrorKind = "conflict"


class ReviewForbidden(ReviewError):
    """This person may not do this: a missing role, four eyes, or an excluded appeal reviewer."""

    kind: ErrorKind = "forbidden"


class InvalidResolution(ReviewError):
    """A resolution with a bad outcome, reason code or note."""

    kind: ErrorKind = "invalid"


class ReviewNotConfigured(ReviewError):
    """The use case's spec has no ``[review]`` section, so its cases cannot be resolved."""

    kind: ErrorKind = "conflict"


class AppealRefused(ReviewError):
    """An appeal that cannot be opened: already appealed, or still pending review."""

    kind: ErrorKind = "conflict"
