"""Waivers of a failed gate, asked for and approved by people with their own tokens (R23).

What this module guarantees:

- Only a person (never an API key or an in-process caller) with the role
  ``senior_reviewer`` or ``admin`` may ask for or approve a waiver, so the names
  on a waiver are the names of authenticated accounts, never typed into a field.
- The approver is another person than the requester: compared by person id
  first and by name key (:func:`~serving.access.people.name_key`) second, so no
  spelling of one name gets past it.
- Each request, approval and refused approval is a ``promotion`` entry of the
  ledger, naming the people by name and person id.

The checks of the promotion itself (the request is pending, the audit did not
change, the gate) are :func:`audits.promotion.approve_waiver`'s.
"""

from __future__ import annotations

from audits.promotion import (
    HistoryEvent,
    PromotionRefused,
    RequestStatus,
    WaiverProblem,
    WaiverRequest,
    WaiverRequestRefused,
    approve_waiver,
    find_request,
    request_waiver,
    waiver_requests,
)
from models.settings import Settings
from models.spec import DecisionSpec
from serving.access.errors import AccessDenied, ErrorKind, ServiceError
from serving.access.keys import Principal
from serving.access.people import require_person
from serving.access.promotions import promotion_digest
from serving.ledger import DecisionLog

__all__ = [
    "WAIVER_READ_ROLES",
    "WAIVER_ROLES",
    "WaiverRefused",
    "approve_waiver_as",
    "list_waiver_requests",
    "request_waiver_as",
]

#: who may ask for and approve a waiver of a failed gate
WAIVER_ROLES: frozenset[str] = frozenset({"senior_reviewer", "admin"})
#: who may list waiver requests
WAIVER_READ_ROLES: frozenset[str] = WAIVER_ROLES | {"auditor"}

_MESSAGE_ROLE = "{roles} may not {action}; allowed roles: {allowed}"

_KIND: dict[WaiverProblem, ErrorKind] = {
    "invalid": "invalid",
    "unknown": "not_found",
    "closed": "conflict",
    "same_person": "forbidden",
    "audit_changed": "conflict",
}


class WaiverRefused(ServiceError):
    """A waiver request could not be made or approved (the kind says why)."""

    def __init__(self, message: str, kind: ErrorKind) -> None:
        super().__init__(message)
        self.kind = kind


def _check_person(principal: Principal, action: str, roles: frozenset[str]) -> None:
    require_person(principal, action)
    if not principal.has_any(roles):
        raise AccessDenied(
            _MESSAGE_ROLE.format(roles=principal.roles_text(), action=action, allowed=sorted(roles))
        )


def _refused(exc: WaiverRequestRefused) -> WaiverRefused:
    return WaiverRefused(str(exc), _KIND[exc.problem])


def request_waiver_as(
    principal: Principal,
    spec: DecisionSpec,
    settings: Settings,
    version: str,
    justification: str,
    *,
    log: DecisionLog,
    reason: str = "",
) -> WaiverRequest:
    """Ask, as ``principal``, for a waiver to promote ``version``; recorded in the ledger."""
    _check_person(principal, "ask for a waiver", WAIVER_ROLES)
    try:
        request = request_waiver(
            spec,
            settings,
            version,
            requested_by=principal.name,
            requester_ref=principal.key_id,
            justification=justification,
            reason=reason,
        )
    except WaiverRequestRefused as exc:
        raise _refused(exc) from None
    log.append(
        "promotion",
        spec.name,
        {
            "action": "waiver_requested",
            "request_id": request.request_id,
            "version": request.version,
            "requested_by": request.requested_by,
            "requested_by_id": principal.key_id,
            "justification": request.justification,
            "audit_id": request.audit_id,
            "audit_status": request.audit_status,
        },
        subject_id=f"waiver_request:{request.request_id}",
    )
    return request


def approve_waiver_as(
    principal: Principal,
    settings: Settings,
    request_id: str,
    *,
    log: DecisionLog,
    note: str = "",
) -> HistoryEvent:
    """Approve, as ``principal``, a pending waiver request: the version becomes champion.

    Raises :class:`~serving.access.errors.AccessDenied` for a caller who is not a
    person of a waiver role, and :class:`WaiverRefused` (not found, forbidden for
    the requester, conflict for a closed request, a changed audit or a gate that
    refuses) otherwise. Every event the approval stores in the promotion history
    (the promotion, or a refusal) is a ledger entry, written as it is stored and
    before ``champion`` moves; a refusal's action is ``waiver_approval_refused``.
    """
    _check_person(principal, "approve a waiver", WAIVER_ROLES)
    try:
        request = find_request(settings, request_id)
    except WaiverRequestRefused as exc:
        raise _refused(exc) from None

    def record(event: HistoryEvent) -> None:
        digest = promotion_digest(event, spec_hash=request.spec_hash, spec_version=None)
        if event.action == "refused":
            digest["action"] = "waiver_approval_refused"
        log.append(
            "promotion",
            request.use_case,
            {
                **digest,
                "request_id": request_id,
                "requested_by_id": request.requester_ref,
                "approved_by_id": principal.key_id,
                "justification": request.justification,
                "note": note.strip(),
            },
            subject_id=f"waiver_request:{request_id}",
        )

    try:
        event = approve_waiver(
            settings,
            request_id,
            principal.name,
            approver_ref=principal.key_id,
            note=note,
            record=record,
        )
    except WaiverRequestRefused as exc:
        raise _refused(exc) from None
    except PromotionRefused as exc:  # the gate itself (e.g. an incomplete model card)
        raise WaiverRefused(str(exc), "conflict") from None
    return event


def list_waiver_requests(
    principal: Principal, settings: Settings, *, status: RequestStatus | None = "pending"
) -> list[WaiverRequest]:
    """Waiver requests (``status=None``: all), for a person or key of a reading role."""
    if not principal.has_any(WAIVER_READ_ROLES):
        raise AccessDenied(
            _MESSAGE_ROLE.format(
                roles=principal.roles_text(),
                action="list waiver requests",
                allowed=sorted(WAIVER_READ_ROLES),
            )
        )
    return waiver_requests(settings, status=status)
