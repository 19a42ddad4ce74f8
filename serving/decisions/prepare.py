"""One decision before it is recorded: the record for the chain and the person's data.

The service (:meth:`serving.decisions.engine.DecisionEngine.decide`) and batch runs
both build decisions here, so a row decided in a batch is decided exactly as
``POST /decide`` would decide it; they differ only in where the decision id comes
from (random online, derived from the run and row in a batch) and how the record
is appended.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from serving.access import Principal
from serving.decisions.evaluate import evaluate, find_recourse
from serving.decisions.record import CaseRef, DecisionRecord, PersonalData, RecordedRationale
from serving.decisions.served import ServedModel
from serving.decisions.validation import DecideRequest

__all__ = ["PreparedDecision", "prepare_decision"]


@dataclass(frozen=True)
class PreparedDecision:
    """What is appended to the ledger for one decision, and what the caller is shown."""

    record: DecisionRecord
    personal: PersonalData
    case: CaseRef | None
    rationale: dict[str, Any]  # the rationale as JSON, with the feature values


def prepare_decision(
    served: ServedModel,
    request: DecideRequest,
    principal: Principal,
    *,
    stopped: bool,
    now: datetime,
    decision_id: str | None = None,
    case_id: str | None = None,
) -> PreparedDecision:
    """Score, apply the policy, explain, find recourse and build the record (nothing written).

    ``request.features`` are validated by :func:`evaluate`; an invalid value raises
    :class:`~serving.decisions.validation.FeatureValidationError`.
    """
    spec = served.spec
    assert spec.policy is not None
    consent = request.automated_decision_consent
    ev = evaluate(served, request.features, consent=consent, stopped=stopped)
    result = ev.policy
    recourse = find_recourse(served, ev, consent=consent, stopped=stopped)
    decision_id = decision_id or uuid.uuid4().hex
    case = None
    if result.outcome == "referred":
        deadline = now + timedelta(hours=spec.policy.review_deadline_hours)
        case = CaseRef(case_id=case_id or uuid.uuid4().hex, deadline=deadline.isoformat())
    rationale_json = ev.rationale.model_dump(mode="json")
    record = DecisionRecord(
        decision_id=decision_id,
        decided_at=now.isoformat(),
        use_case=spec.name,
        model_version=served.version,
        policy_version=served.policy_version,
        explainer_version=served.explainer_version,
        catalogue_version=served.catalogue_version,
        spec_hash=served.spec_hash,
        spec_ref=served.spec_ref,
        score=ev.score,
        outcome=result.outcome,
        recommendation=result.recommendation,
        status="pending_review" if case else "final",
        case=case,
        referral_reasons=tuple(result.referral_reasons),
        reasons=ev.rationale.reasons,
        # values are personal: the chain keeps contributions, the payload keeps values
        rationale=RecordedRationale.model_validate(rationale_json),
        recourse_found=None if recourse is None else recourse.found,
        requested_by=principal.name,
        requested_by_key=principal.key_id,
    )
    personal = PersonalData(
        features=ev.features,
        application_ref=request.application_ref,
        automated_decision_consent=consent,
        recourse=None if recourse is None else recourse.model_dump(mode="json"),
        training_data_consent=request.training_data_consent,
    )
    return PreparedDecision(record=record, personal=personal, case=case, rationale=rationale_json)
