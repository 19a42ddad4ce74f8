"""Promotion through the gate: only a PASS audit under the current spec moves ``champion``.

A waiver needs a written justification and an approver other than the
requester. Every promotion, waiver and rollback is appended to the use case's
promotion history (registered-model tags ``docket.history.*``), and waivers
are also recorded on the version itself, where the model card reads them.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient
from pydantic import BaseModel, Field, field_validator, model_validator

from audits.audit import AuditReport, latest_report
from models import registry
from models.settings import Settings
from models.spec import DecisionSpec

HISTORY_PREFIX = "docket.history."
MESSAGE_SAME_PERSON = (
    "a waiver needs an approver other than the requester: --approved-by must differ from"
    " --requested-by (got {who!r} for both)"
)
MESSAGE_WAIVER_FIELDS = "a waiver needs --waiver (a justification), --requested-by and --approved-by; missing: {missing}"


class PromotionRefused(Exception):
    """The gate refused a promotion; nothing was changed."""

    def __init__(self, message: str, failing: list[str] | None = None) -> None:
        self.failing = failing or []
        lines = [message, *[f"  - {f}" for f in self.failing]]
        super().__init__("\n".join(lines))


class Waiver(BaseModel):
    justification: str = Field(min_length=20)
    requested_by: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)

    @field_validator("requested_by", "approved_by", "justification")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @model_validator(mode="after")
    def _four_eyes(self) -> Waiver:
        if self.requested_by.casefold() == self.approved_by.casefold():
            raise ValueError(MESSAGE_SAME_PERSON.format(who=self.requested_by))
        return self


class HistoryEvent(BaseModel):
    at: str
    action: Literal["promote", "rollback", "refused"]
    version: str
    previous_champion: str | None
    requested_by: str
    approved_by: str | None = None
    reason: str
    audit_id: str | None
    audit_status: str | None
    waiver: Waiver | None = None


def make_waiver(
    justification: str | None, requested_by: str | None, approved_by: str | None
) -> Waiver | None:
    """A validated waiver from CLI options, or None when no waiver was asked for."""
    if justification is None and approved_by is None:
        return None
    missing = [
        name
        for name, value in (
            ("--waiver", justification),
            ("--requested-by", requested_by),
            ("--approved-by", approved_by),
        )
        if not value
    ]
    if missing:
        raise PromotionRefused(MESSAGE_WAIVER_FIELDS.format(missing=missing))
    try:
        return Waiver(
            justification=justification or "",
            requested_by=requested_by or "",
            approved_by=approved_by or "",
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
) -> HistoryEvent:
    """Move ``champion`` to ``version`` if its audit under the current spec allows it.

    A refusal changes no alias; it is recorded in the history as ``refused`` so
    auditors see attempts to promote a model the gate stopped.
    """
    client = registry.connect(settings)
    mv = registry.get_version(client, spec.name, version=version)
    try:
        return _promote(client, spec, mv, requested_by=requested_by, reason=reason, waiver=waiver)
    except PromotionRefused as refusal:
        record_refusal(client, spec.name, mv, requested_by, str(refusal), waiver)
        raise


def record_refusal(
    client: MlflowClient,
    use_case: str,
    mv: ModelVersion,
    requested_by: str,
    why: str,
    waiver: Waiver | None = None,
    approved_by: str | None = None,
) -> None:
    """Append a ``refused`` event: nothing changed, but the attempt is on record."""
    tags = mv.tags or {}
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
            audit_id=tags.get("audit.id"),
            audit_status=tags.get("audit.status"),
            waiver=waiver,
        ),
    )


def _append_history(client: MlflowClient, use_case: str, event: HistoryEvent) -> None:
    # tag keys allow only [A-Za-z0-9_-. /], so the key carries a compact timestamp
    stamp = datetime.fromisoformat(event.at).strftime("%Y%m%dT%H%M%S%f")
    client.set_registered_model_tag(
        use_case, f"{HISTORY_PREFIX}{stamp}-{uuid.uuid4().hex[:6]}", event.model_dump_json()
    )


def _promote(
    client: MlflowClient,
    spec: DecisionSpec,
    mv: ModelVersion,
    *,
    requested_by: str,
    reason: str,
    waiver: Waiver | None,
) -> HistoryEvent:
    from audits.card_source import card_for_version
    from audits.cards import missing_sections

    version = str(mv.version)
    tags = mv.tags or {}
    status = tags.get("audit.status")
    if status is None:
        raise PromotionRefused(
            f"version {version} of {spec.name!r} has no audit; run 'docket audit {spec.name}"
            f" --version {version}' first"
        )
    if tags.get("audit.spec_hash") != spec.spec_hash():
        raise PromotionRefused(
            f"version {version} of {spec.name!r} was audited under another spec"
            f" (hash {tags.get('audit.spec_hash', '')[:12]}, current {spec.spec_hash()[:12]});"
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
    if waiver is not None and waiver.requested_by.casefold() != requested_by.strip().casefold():
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
    event = HistoryEvent(
        at=datetime.now(UTC).isoformat(timespec="microseconds"),
        action=action,
        version=version,
        previous_champion=previous,
        requested_by=requested_by.strip(),
        approved_by=waiver.approved_by if waiver else None,
        reason=reason or (f"waiver: {waiver.justification}" if waiver else f"audit {status}"),
        audit_id=report.audit_id,
        audit_status=status,
        waiver=waiver,
    )
    if waiver is not None:
        for key, value in {
            "waiver.justification": waiver.justification,
            "waiver.requested_by": waiver.requested_by,
            "waiver.approved_by": waiver.approved_by,
            "waiver.at": event.at,
            "waiver.audit_id": report.audit_id,
        }.items():
            client.set_model_version_tag(spec.name, version, key, value)
    _append_history(client, spec.name, event)
    # serving decides with the spec (policy, reasons) this version was promoted under
    spec_path = (
        f"promotions/{datetime.fromisoformat(event.at).strftime('%Y%m%dT%H%M%S%f')}/spec.json"
    )
    client.log_dict(registry.run_id_of(mv), spec.model_dump(mode="json"), spec_path)
    client.set_model_version_tag(spec.name, version, registry.SERVING_SPEC_TAG, spec_path)
    client.set_registered_model_alias(spec.name, registry.CHAMPION, version)
    return event


def event_dict(event: HistoryEvent) -> dict[str, Any]:
    return json.loads(event.model_dump_json())
