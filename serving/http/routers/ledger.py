"""The ledger: verification of the hash chain, receipts with inclusion proofs, the public key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from serving.access import AccessDenied, Principal, ServiceError, allow
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps
from serving.ledger import EntryNotFoundError, LogEntry, LogKind
from serving.ledger.checkpointing import NO_KEY_STATUS, Checkpointing
from serving.ledger.receipts import LedgerTree, ReceiptMismatch, build_receipt

router = APIRouter(tags=["ledger"])

#: kinds of entry an application holds receipts for: about a decision it requested
_APPLICATION_KINDS = frozenset({LogKind.DECISION, LogKind.REVIEW_ACTION, LogKind.APPEAL})

_MESSAGE_NO_ENTRY = "no ledger entry with id {entry_id!r}"
_MESSAGE_APP_KIND = (
    "an application key reads receipts only of its own decisions and their review actions"
    " and appeals; entry {entry_id!r} is a {kind!r} entry"
)
_MESSAGE_REVIEWER = (
    "a reviewer reads receipts only of the review actions they took; entry {entry_id!r}"
    " is not one of theirs (an auditor can read it)"
)


class EntryUnknown(ServiceError):
    kind = "not_found"


class NoLedgerKey(ServiceError):
    # the service runs without a key (decisions go on): this part of it is unavailable
    kind = "unavailable"


class LedgerNotMatching(ServiceError):
    kind = "conflict"


def checkpointing_of(request: Request) -> Checkpointing | None:
    """The service's checkpointing (absent in apps built without the service)."""
    found = getattr(request.app.state, "checkpointing", None)
    return found if isinstance(found, Checkpointing) else None


def _check_receipt_read(request: Request, who: Principal, entry: LogEntry) -> None:
    """Auditors and admins read any receipt; an application those about its own decisions;
    a reviewer those of their own review actions."""
    if who.has_any(("auditor", "admin")):
        return
    if "application" in who.roles:
        if entry.kind not in _APPLICATION_KINDS or entry.subject_id is None:
            raise AccessDenied(
                _MESSAGE_APP_KIND.format(entry_id=entry.entry_id, kind=str(entry.kind))
            )
        # raises 403 unless this key requested the decision, as GET /decisions/{id} does
        deps.engine(request).get_decision(entry.subject_id, principal=who)
        return
    mine = entry.kind == LogKind.REVIEW_ACTION and (
        who.person_id is not None and entry.digest.get("person_id") == who.person_id
    )
    if not mine:
        raise AccessDenied(_MESSAGE_REVIEWER.format(entry_id=entry.entry_id))


@router.get(
    "/log/verify", summary="verify the hash chain; names the first broken entry", responses=API_GATE
)
@allow("auditor", "admin")
def verify_log(request: Request) -> dict[str, Any]:
    return deps.engine(request).log.verify().to_dict()


@router.get(
    "/ledger/receipts/{entry_id}",
    responses={**API_GATE, **json_errors(403, 404, 409)},
    summary="an entry's receipt: its hash, and once a signed checkpoint covers it (`covered`) the checkpoint and the inclusion proof of the hash under its root; 200 with `covered: false` until then; an application reads receipts of its own decisions and their review actions and appeals, a reviewer those of their own review actions",
)
@allow("application", "reviewer", "senior_reviewer", "auditor", "admin")
def get_receipt(entry_id: str, request: Request) -> dict[str, Any]:
    log = deps.engine(request).log
    try:
        entry = log.get(entry_id)
    except EntryNotFoundError:
        raise EntryUnknown(_MESSAGE_NO_ENTRY.format(entry_id=entry_id)) from None
    _check_receipt_read(request, deps.principal(request), entry)
    checkpointing = checkpointing_of(request)
    try:
        if checkpointing is None:
            receipt = build_receipt(entry, None, LedgerTree(log))
        else:
            receipt = checkpointing.receipt(entry)
    except ReceiptMismatch as exc:
        raise LedgerNotMatching(str(exc)) from None
    return receipt.model_dump(mode="json")


@router.get(
    "/ledger/public-key",
    responses=json_errors(413, 503),
    summary="the public key that signs the ledger's checkpoints (PEM and hex) and the log id (hex SHA-256 of the raw key), to verify receipts with; 503 when no key is configured",
)
@allow()
def public_key(request: Request) -> dict[str, Any]:
    checkpointing = checkpointing_of(request)
    found = None if checkpointing is None else checkpointing.public_key()
    if found is None:
        raise NoLedgerKey(NO_KEY_STATUS)
    return found
