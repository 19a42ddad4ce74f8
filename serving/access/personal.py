"""Who may read a person's data, and why (R17, R31).

Personal data (the feature values, the application reference, the recourse):

* an auditor or admin reads it with a stated purpose;
* the application whose key requested a decision reads that decision's data (it
  sent it), and no other decision at all;
* a reviewer reads it only through a case they claimed (``GET /cases/{id}``,
  logged with the case as purpose), never through ``GET /decisions/{id}``;
* everyone else: refused.

Every read is an ``access`` entry in the ledger, with its purpose.
"""

from __future__ import annotations

from serving.access.errors import AccessDenied, PurposeRequired
from serving.access.keys import Principal

__all__ = [
    "MIN_PURPOSE_LENGTH",
    "PERSONAL_DATA_ROLES",
    "check_decision_read",
    "check_personal_read",
]

PERSONAL_DATA_ROLES: frozenset[str] = frozenset({"auditor", "admin"})
MIN_PURPOSE_LENGTH = 10

_MESSAGE_ROLE = (
    "{roles} may not read a person's data; allowed roles: {allowed} (with a purpose), or the"
    " application that requested the decision; reviewers read it through a case they claimed."
    " Read the decision without ?personal=true"
)
_MESSAGE_PURPOSE = (
    "reading a person's data needs a stated purpose: pass ?purpose=... of at least"
    f" {MIN_PURPOSE_LENGTH} characters (for example 'complaint 4411 investigation');"
    " got {got!r}. The read is logged with it"
)
_MESSAGE_NOT_OWN = (
    "an application key reads back only the decisions it requested; decision {decision_id!r}"
    " was requested by another key"
)


#: the purpose logged when an application reads back a decision it requested
OWN_DECISION_PURPOSE = "the requesting application reads back its own decision"


def check_personal_read(principal: Principal, purpose: str | None, *, own: bool = False) -> str:
    """The purpose to log, if ``principal`` may read personal data; else raise.

    ``own``: the decision was requested by this principal's key.
    """
    if own and principal.kind == "key" and "application" in principal.roles:
        return (purpose or "").strip() or OWN_DECISION_PURPOSE
    if not principal.has_any(PERSONAL_DATA_ROLES):
        raise AccessDenied(
            _MESSAGE_ROLE.format(roles=principal.roles_text(), allowed=sorted(PERSONAL_DATA_ROLES))
        )
    cleaned = (purpose or "").strip()
    if len(cleaned) < MIN_PURPOSE_LENGTH:
        raise PurposeRequired(_MESSAGE_PURPOSE.format(got=purpose))
    return cleaned


def check_decision_read(
    principal: Principal, decision_id: str, requested_by_key: str | None
) -> None:
    """Raise unless ``principal`` may read the (non-personal) decision record."""
    if "application" in principal.roles and requested_by_key != principal.key_id:
        raise AccessDenied(_MESSAGE_NOT_OWN.format(decision_id=decision_id))
