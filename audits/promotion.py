"""Promotion through the gate: only a PASS audit under the current spec moves ``champion``.

A waiver needs a written justification and an approver other than the
requester. Every promotion, waiver and rollback is appended to the use case's
promotion history (registered-model tags ``docket.history.*``), and waivers
are also recorded on the version itself, where the model card reads them.

Waivers are asked for and approved in two steps, by two people
(:func:`request_waiver`, then :func:`approve_waiver`). A request is kept in a
registered-model tag (``docket.waiver_request.<id>``) with the spec and the
audit it was made under; approving it promotes through the ordinary gate. The
approval is refused when the approver is the requester (same identity, or the
same name under another spelling), when the request is no longer pending, or
when the version's audit changed since the request. This module takes plain
names and the caller's opaque identities of people (``requester_ref``,
``approver_ref``); it does not know about accounts or tokens.

Callers that keep a ledger pass ``record`` (a :data:`HistoryRecorder`): it is
called with each history event right after the event is stored in MLflow, and
before ``champion`` moves, so a recorder that fails stops the promotion. This
module does not know what a ledger is.

What it cannot prevent: two approvals of one request at the same instant both
promote (MLflow tags have no compare-and-set); both are in the history.
"""

from __future__ import annotations

import json
import re
import secrets
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Literal

from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audits.audit import latest_report
from audits.card_source import card_for_version
from audits.cards import missing_sections
from audits.report import MESSAGE_SAME_PERSON, AuditReport, HistoryEvent, Waiver
from models import registry, tags
from models.names import same_name
from models.settings import Settings
from models.spec import DecisionSpec, parse_spec

# the data types are re-exported: the CLI and tests import them from here
__all__ = [
    "HISTORY_PREFIX",
    "MESSAGE_OWN_REQUEST",
    "MESSAGE_SAME_PERSON",
    "MESSAGE_WAIVER_FIELDS",
    "HistoryEvent",
    "HistoryRecorder",
    "PromotionRefused",
    "RequestStatus",
    "Waiver",
    "WaiverProblem",
    "WaiverRequest",
    "WaiverRequestRefused",
    "approve_waiver",
    "event_dict",
    "find_request",
    "history",
    "make_waiver",
    "pending_requests",
    "promote",
    "record_refusal",
    "request_waiver",
    "waiver_requests",
]

HISTORY_PREFIX = tags.HISTORY_PREFIX
MESSAGE_WAIVER_FIELDS = (
    "a waiver needs a justification, a requester and an approver; missing: {missing}"
)
MESSAGE_OWN_REQUEST = (
    "waiver request {request_id} was made by {requester!r}: the approver must be another"
    " person; got {approver!r} instead"
)
_MESSAGE_REQUEST_ID = "request_id must be 12 hexadecimal characters; got {got!r} instead"
_MESSAGE_UNKNOWN_REQUEST = "no waiver request has id {request_id!r}"
_MESSAGE_CLOSED = "waiver request {request_id} is {status}; only a pending request can be approved"
_MESSAGE_AUDIT_CHANGED = (
    "the audit of version {version} of {use_case!r} changed since waiver request {request_id}"
    " was made (audit {then} then, {now} now); ask for a new waiver"
)
_REQUEST_ID = re.compile(r"^[0-9a-f]{12}$")

#: called with each history event once it is stored (the caller's ledger, for one)
HistoryRecorder = Callable[[HistoryEvent], None]


class PromotionRefused(Exception):
    """The gate refused a promotion; nothing was changed."""

    def __init__(self, message: str, failing: list[str] | None = None) -> None:
        self.failing = failing or []
        lines = [message, *[f"  - {f}" for f in self.failing]]
        super().__init__("\n".join(lines))


def make_waiver(
    justification: str | None, requested_by: str | None, approved_by: str | None
) -> Waiver | None:
    """A validated waiver from plain names, or None when no waiver was asked for.

    For scripts and tests with their own registry; the ``docket`` command asks
    for waivers with :func:`request_waiver` and :func:`approve_waiver` instead.
    """
    if justification is None and approved_by is None:
        return None
    missing = [
        name
        for name, value in (
            ("justification", justification),
            ("requested_by", requested_by),
            ("approved_by", approved_by),
        )
        if not value
    ]
    if missing:
        raise PromotionRefused(MESSAGE_WAIVER_FIELDS.format(missing=missing))
    return _waiver(justification or "", requested_by or "", approved_by or "")


def _waiver(justification: str, requested_by: str, approved_by: str) -> Waiver:
    """A :class:`Waiver`, its validation errors turned into a refusal."""
    try:
        return Waiver(
            justification=justification, requested_by=requested_by, approved_by=approved_by
        )
    except ValueError as exc:
        messages = [
            str(e["msg"]).removeprefix("Value error, ")
            for e in getattr(exc, "errors", lambda: [])()
        ]
        raise PromotionRefused("waiver refused: " + "; ".join(messages or [str(exc)])) from None


def history(client: MlflowClient, use_case: str) -> list[HistoryEvent]:
    """Every promotion, waiver and rollback of a use case, oldest first."""
    model = client.get_registered_model(use_case)
    events = [
        HistoryEvent.model_validate_json(value)
        for key, value in (model.tags or {}).items()
        if key.startswith(HISTORY_PREFIX)
    ]
    return sorted(events, key=lambda e: e.at)


def _failing_lines(report: AuditReport) -> list[str]:
    return [
        f"{c.id}: {c.verdict} (value {c.value if c.value is None else round(c.value, 4)},"
        f" threshold {c.comparator} {c.threshold}){' - ' + c.detail if c.detail else ''}"
        for c in report.failing
    ]


def promote(
    spec: DecisionSpec,
    settings: Settings,
    version: str,
    *,
    requested_by: str,
    reason: str = "",
    waiver: Waiver | None = None,
    record: HistoryRecorder | None = None,
) -> HistoryEvent:
    """Move ``champion`` to ``version`` if its audit under the current spec allows it.

    A refusal changes no alias; it is recorded in the history as ``refused`` so
    auditors see attempts to promote a model the gate stopped. ``record`` is
    called with the event (promotion, rollback or refusal) once it is stored.
    """
    client = registry.connect(settings)
    mv = registry.get_version(client, spec.name, version=version)
    try:
        return _promote(
            client,
            spec,
            mv,
            requested_by=requested_by,
            reason=reason,
            waiver=waiver,
            record=record,
        )
    except PromotionRefused as refusal:
        record_refusal(client, spec.name, mv, requested_by, str(refusal), waiver, record=record)
        raise


def record_refusal(
    client: MlflowClient,
    use_case: str,
    mv: ModelVersion,
    requested_by: str,
    why: str,
    waiver: Waiver | None = None,
    approved_by: str | None = None,
    *,
    record: HistoryRecorder | None = None,
) -> None:
    """Append a ``refused`` event: nothing changed, but the attempt is on record."""
    version_tags = mv.tags or {}
    _append_history(
        client,
        use_case,
        HistoryEvent(
            at=datetime.now(UTC).isoformat(timespec="microseconds"),
            action="refused",
            version=str(mv.version),
            previous_champion=registry.alias_version(client, use_case, registry.CHAMPION),
            requested_by=requested_by.strip(),
            approved_by=waiver.approved_by if waiver else approved_by,
            reason=why.splitlines()[0],
            audit_id=version_tags.get(tags.AUDIT_ID),
            audit_status=version_tags.get(tags.AUDIT_STATUS),
            waiver=waiver,
        ),
        record,
    )


def _append_history(
    client: MlflowClient,
    use_case: str,
    event: HistoryEvent,
    record: HistoryRecorder | None = None,
) -> None:
    # tag keys allow only [A-Za-z0-9_-. /], so the key carries a compact timestamp
    stamp = datetime.fromisoformat(event.at).strftime("%Y%m%dT%H%M%S%f")
    client.set_registered_model_tag(
        use_case, f"{HISTORY_PREFIX}{stamp}-{uuid.uuid4().hex[:6]}", event.model_dump_json()
    )
    if record is not None:
        record(event)


def _promote(
    client: MlflowClient,
    spec: DecisionSpec,
    mv: ModelVersion,
    *,
    requested_by: str,
    reason: str,
    waiver: Waiver | None,
    record: HistoryRecorder | None,
) -> HistoryEvent:
    version = str(mv.version)
    version_tags = mv.tags or {}
    status = version_tags.get(tags.AUDIT_STATUS)
    if status is None:
        raise PromotionRefused(
            f"version {version} of {spec.name!r} has no audit; run 'docket audit {spec.name}"
            f" --version {version}' first"
        )
    if version_tags.get(tags.AUDIT_SPEC_HASH) != spec.spec_hash():
        raise PromotionRefused(
            f"version {version} of {spec.name!r} was audited under another spec"
            f" (hash {version_tags.get(tags.AUDIT_SPEC_HASH, '')[:12]}, current {spec.spec_hash()[:12]});"
            " audit it again under the current spec"
        )
    report = latest_report(client, spec.name, version)
    assert report is not None
    if status != "PASS" and waiver is None:
        raise PromotionRefused(
            f"version {version} of {spec.name!r} did not pass its audit ({status});"
            " champion unchanged. Failing checks:",
            _failing_lines(report),
        )
    if waiver is not None and not same_name(waiver.requested_by, requested_by):
        raise PromotionRefused(
            f"the waiver's requester {waiver.requested_by!r} must be the person promoting"
            f" ({requested_by!r})"
        )
    card = card_for_version(client, spec, version, waiver=waiver)
    missing = missing_sections(card)
    if missing:
        raise PromotionRefused(
            f"the model card of version {version} has empty sections; champion unchanged:",
            missing,
        )

    previous = registry.alias_version(client, spec.name, registry.CHAMPION)
    action: Literal["promote", "rollback"] = (
        "rollback" if previous is not None and int(version) < int(previous) else "promote"
    )
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    recorded = waiver.model_copy(update={"at": at}) if waiver is not None else None
    event = HistoryEvent(
        at=at,
        action=action,
        version=version,
        previous_champion=previous,
        requested_by=requested_by.strip(),
        approved_by=waiver.approved_by if waiver else None,
        reason=reason or (f"waiver: {waiver.justification}" if waiver else f"audit {status}"),
        audit_id=report.audit_id,
        audit_status=status,
        waiver=recorded,
    )
    if recorded is not None:
        for key, value in recorded.as_tags(report.audit_id).items():
            client.set_model_version_tag(spec.name, version, key, value)
    _append_history(client, spec.name, event, record)
    # serving decides with the spec (policy, reasons) this version was promoted under
    spec_path = (
        f"promotions/{datetime.fromisoformat(event.at).strftime('%Y%m%dT%H%M%S%f')}/spec.json"
    )
    client.log_dict(registry.run_id_of(mv), spec.model_dump(mode="json"), spec_path)
    client.set_model_version_tag(spec.name, version, tags.SERVING_SPEC, spec_path)
    client.set_registered_model_alias(spec.name, registry.CHAMPION, version)
    return event


def event_dict(event: HistoryEvent) -> dict[str, Any]:
    return json.loads(event.model_dump_json())


# ---- waiver requests: asked for by one person, approved by another ---------------------------

RequestStatus = Literal["pending", "approved", "stale"]
WaiverProblem = Literal["invalid", "unknown", "closed", "same_person", "audit_changed"]


class WaiverRequestRefused(PromotionRefused):
    """A waiver request could not be made or approved; ``problem`` says why."""

    def __init__(self, message: str, problem: WaiverProblem) -> None:
        super().__init__(message)
        self.problem: WaiverProblem = problem


class WaiverRequest(BaseModel):
    """A request to promote a version whose audit did not pass, until another person approves it.

    ``requested_by`` and ``approved_by`` are names, as they appear in the history
    and on the model card; ``requester_ref`` and ``approver_ref`` are the caller's
    identities of those people (serving passes ``person:<id>``), compared but
    not interpreted here. ``spec_path`` is the artifact (on the version's run) of
    the spec the request was made under; approval promotes under that spec.
    """

    model_config = ConfigDict(extra="forbid")

    request_id: str = Field(pattern=_REQUEST_ID.pattern)
    use_case: str
    version: str
    justification: str = Field(min_length=20)
    requested_by: str = Field(min_length=1)
    requester_ref: str = Field(min_length=1)
    requested_at: str
    reason: str = ""
    audit_id: str
    audit_status: str
    spec_hash: str
    spec_path: str
    status: RequestStatus = "pending"
    approved_by: str | None = None
    approver_ref: str | None = None
    closed_at: str | None = None
    closed_reason: str | None = None
    note: str = ""

    @field_validator("justification", "requested_by", "requester_ref", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _registered_models(client: MlflowClient) -> Iterator[RegisteredModel]:
    token: str | None = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _requests_of(model: RegisteredModel) -> list[WaiverRequest]:
    return [
        WaiverRequest.model_validate_json(value)
        for key, value in (model.tags or {}).items()
        if key.startswith(tags.WAIVER_REQUEST_PREFIX)
    ]


def _store_request(client: MlflowClient, request: WaiverRequest) -> None:
    client.set_registered_model_tag(
        request.use_case,
        f"{tags.WAIVER_REQUEST_PREFIX}{request.request_id}",
        request.model_dump_json(),
    )


def _refusal_messages(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc'])}: {str(e['msg']).removeprefix('Value error, ')}"
        for e in exc.errors()
    )


def request_waiver(
    spec: DecisionSpec,
    settings: Settings,
    version: str,
    *,
    requested_by: str,
    requester_ref: str,
    justification: str,
    reason: str = "",
) -> WaiverRequest:
    """Ask for a waiver to promote ``version``; nothing is promoted until someone else approves.

    Refused (:class:`WaiverRequestRefused`, problem ``invalid``) when the version
    has no audit, was audited under another spec, passed its audit (no waiver is
    needed), already has a pending request, or the justification is shorter than
    20 characters.
    """
    client = registry.connect(settings)
    mv = registry.get_version(client, spec.name, version=version)
    version = str(mv.version)
    version_tags = mv.tags or {}
    status = version_tags.get(tags.AUDIT_STATUS)
    audit_id = version_tags.get(tags.AUDIT_ID)
    where = f"version {version} of {spec.name!r}"
    if status is None or audit_id is None:
        raise WaiverRequestRefused(
            f"{where} has no audit; run 'docket audit {spec.name} --version {version}' first",
            "invalid",
        )
    if version_tags.get(tags.AUDIT_SPEC_HASH) != spec.spec_hash():
        raise WaiverRequestRefused(
            f"{where} was audited under another spec; audit it again under the current spec",
            "invalid",
        )
    if status == "PASS":
        raise WaiverRequestRefused(
            f"{where} passed its audit: promote it without a waiver", "invalid"
        )
    model = client.get_registered_model(spec.name)
    pending = [r for r in _requests_of(model) if r.version == version and r.status == "pending"]
    if pending:
        raise WaiverRequestRefused(
            f"waiver request {pending[0].request_id} for {where} is already pending", "invalid"
        )
    request_id = secrets.token_hex(6)
    spec_path = f"waiver_requests/{request_id}/spec.json"
    try:
        request = WaiverRequest(
            request_id=request_id,
            use_case=spec.name,
            version=version,
            justification=justification,
            requested_by=requested_by,
            requester_ref=requester_ref,
            requested_at=_now(),
            reason=reason.strip(),
            audit_id=audit_id,
            audit_status=status,
            spec_hash=spec.spec_hash(),
            spec_path=spec_path,
        )
    except ValidationError as exc:
        raise WaiverRequestRefused(
            "waiver request refused: " + _refusal_messages(exc), "invalid"
        ) from None
    client.log_dict(registry.run_id_of(mv), spec.model_dump(mode="json"), spec_path)
    _store_request(client, request)
    return request


def waiver_requests(
    settings: Settings, *, use_case: str | None = None, status: RequestStatus | None = "pending"
) -> list[WaiverRequest]:
    """Waiver requests (of one use case, or all), oldest first; ``status=None`` for every one."""
    client = registry.connect(settings)
    models = (
        [client.get_registered_model(use_case)]
        if use_case is not None
        else list(_registered_models(client))
    )
    found = [r for m in models for r in _requests_of(m) if status is None or r.status == status]
    return sorted(found, key=lambda r: r.requested_at)


def pending_requests(settings: Settings, use_case: str | None = None) -> list[WaiverRequest]:
    """The waiver requests waiting for an approver, oldest first."""
    return waiver_requests(settings, use_case=use_case, status="pending")


def find_request(settings: Settings, request_id: str) -> WaiverRequest:
    """The waiver request with id ``request_id`` (in any use case)."""
    if not _REQUEST_ID.match(request_id):
        raise WaiverRequestRefused(_MESSAGE_REQUEST_ID.format(got=request_id), "invalid")
    key = f"{tags.WAIVER_REQUEST_PREFIX}{request_id}"
    for model in _registered_models(registry.connect(settings)):
        value = (model.tags or {}).get(key)
        if value is not None:
            return WaiverRequest.model_validate_json(value)
    raise WaiverRequestRefused(_MESSAGE_UNKNOWN_REQUEST.format(request_id=request_id), "unknown")


def approve_waiver(
    settings: Settings,
    request_id: str,
    approved_by: str,
    *,
    approver_ref: str,
    note: str = "",
    record: HistoryRecorder | None = None,
) -> HistoryEvent:
    """Approve a pending waiver request as ``approved_by``: promote through the ordinary gate.

    Four eyes: refused when ``approver_ref`` is the requester's, or when the two
    names are spellings of one name (:func:`models.names.same_name`). A refused
    approval is recorded in the history. Also refused when the request is not
    pending, or when the version's audit changed since the request (the request
    then becomes ``stale``). The gate itself may still refuse (an incomplete
    model card); the request then stays pending.

    Returns the history event of the promotion (or rollback), which names both
    the requester and the approver. ``record`` is called with every history
    event this approval stores, refusals included (see :func:`promote`).
    """
    request = find_request(settings, request_id)
    if request.status != "pending":
        raise WaiverRequestRefused(
            _MESSAGE_CLOSED.format(request_id=request_id, status=request.status), "closed"
        )
    client = registry.connect(settings)
    mv = registry.get_version(client, request.use_case, version=request.version)
    if approver_ref.strip() == request.requester_ref or same_name(
        approved_by, request.requested_by
    ):
        why = MESSAGE_OWN_REQUEST.format(
            request_id=request_id, requester=request.requested_by, approver=approved_by
        )
        record_refusal(
            client,
            request.use_case,
            mv,
            request.requested_by,
            why,
            approved_by=approved_by,
            record=record,
        )
        raise WaiverRequestRefused(why, "same_person")
    audit_now = (mv.tags or {}).get(tags.AUDIT_ID)
    if audit_now != request.audit_id:
        why = _MESSAGE_AUDIT_CHANGED.format(
            version=request.version,
            use_case=request.use_case,
            request_id=request_id,
            then=request.audit_id[:12],
            now=(audit_now or "none")[:12],
        )
        _store_request(
            client,
            request.model_copy(
                update={"status": "stale", "closed_at": _now(), "closed_reason": why}
            ),
        )
        record_refusal(
            client,
            request.use_case,
            mv,
            request.requested_by,
            why,
            approved_by=approved_by,
            record=record,
        )
        raise WaiverRequestRefused(why, "audit_changed")
    waiver = _waiver(request.justification, request.requested_by, approved_by)
    raw = registry.load_json(client, registry.run_id_of(mv), request.spec_path)
    spec = parse_spec(raw, source=f"waiver request {request_id}:{request.spec_path}")
    event = promote(
        spec,
        settings,
        request.version,
        requested_by=request.requested_by,
        reason=f"waiver request {request_id}: {request.reason or request.justification}",
        waiver=waiver,
        record=record,
    )
    _store_request(
        client,
        request.model_copy(
            update={
                "status": "approved",
                "approved_by": waiver.approved_by,
                "approver_ref": approver_ref.strip(),
                "closed_at": event.at,
                "note": note.strip(),
            }
        ),
    )
    return event
