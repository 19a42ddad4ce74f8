"""One decision before it is recorded: the record for the chain and the person's data.

The service (:meth:`serving.decisions.engine.DecisionEngine.decide`) and batch runs
both build decisions here, so a row decided in a batch is decided exactly as
``POST /decide`` would decide it; they differ only in where the decision id comes
from (random online, derived from the run and row in a batch) and how the record
is appended.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from models.recourse import Recourse
from serving.access import Principal
from serving.decisions.evaluate import Evaluation, evaluate_many, find_recourse_many
from serving.decisions.record import CaseRef, DecisionRecord, PersonalData, RecordedRationale
from serving.decisions.served import ServedModel
from serving.decisions.validation import DecideRequest, InvalidFeatures, check_audit_attributes

__all__ = ["PreparedDecision", "prepare_decision", "prepare_decisions"]


@dataclass(frozen=True)
class PreparedDecision:
    """What is appended to the ledger for one decision, and what the caller is shown."""

    record: DecisionRecord
    personal: PersonalData
    case: CaseRef | None
    rationale: dict[str, Any]  # the rationale as JSON, with the feature values


_UNSET: Any = None


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
    :class:`~serving.decisions.validation.InvalidFeatures`. It is
    :func:`prepare_decisions` of one request: a decision is built one way only.
    """
    (prepared,) = prepare_decisions(
        served,
        [request],
        principal,
        stopped=stopped,
        now=now,
        decision_ids=[decision_id],
        case_ids=[case_id],
    )
    if isinstance(prepared, InvalidFeatures):
        raise prepared
    return prepared


def prepare_decisions(
    served: ServedModel,
    requests: Sequence[DecideRequest],
    principal: Principal,
    *,
    stopped: bool,
    now: datetime,
    decision_ids: Sequence[str | None] | None = None,
    case_ids: Sequence[str | None] | None = None,
) -> list[PreparedDecision | InvalidFeatures]:
    """:func:`prepare_decision` for many requests: per request its decision, or why its
    features are invalid. The rows are evaluated together (shared model calls, see
    :func:`serving.decisions.evaluate.evaluate_many`), each exactly as it would be alone.
    """
    n = len(requests)
    ids = list(decision_ids) if decision_ids is not None else [None] * n
    cases = list(case_ids) if case_ids is not None else [None] * n
    if len(ids) != n or len(cases) != n:
        raise ValueError(
            f"{n} requests need {n} decision and case ids; got {len(ids)} and {len(cases)}"
        )
    consent = [r.automated_decision_consent for r in requests]
    evaluated = evaluate_many(
        served, [r.features for r in requests], consent=consent, stopped=stopped
    )
    valid = [i for i, ev in enumerate(evaluated) if isinstance(ev, Evaluation)]
    evs = [ev for ev in evaluated if isinstance(ev, Evaluation)]
    recourses = find_recourse_many(
        served, evs, consent=[consent[i] for i in valid], stopped=stopped
    )
    # invalid rows keep their error in place; the others get their decision
    out: list[PreparedDecision | InvalidFeatures] = [
        ev if isinstance(ev, InvalidFeatures) else _UNSET for ev in evaluated
    ]
    for i, ev, recourse in zip(valid, evs, recourses, strict=True):
        try:
            # kept for monitoring only: checked here, never given to the model
            attributes = check_audit_attributes(served.spec, requests[i].audit_attributes)
        except InvalidFeatures as problem:
            out[i] = problem
            continue
        out[i] = _build(
            served, requests[i], principal, ev, recourse, now, ids[i], cases[i], attributes
        )
    return out


def _build(
    served: ServedModel,
    request: DecideRequest,
    principal: Principal,
    ev: Evaluation,
    recourse: Recourse | None,
    now: datetime,
    decision_id: str | None,
    case_id: str | None,
    audit_attributes: dict[str, str | int | float] | None,
) -> PreparedDecision:
    spec = served.spec
    assert spec.policy is not None
    consent = request.automated_decision_consent
    result = ev.policy
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
        audit_attributes=audit_attributes,
    )
    return PreparedDecision(record=record, personal=personal, case=case, rationale=rationale_json)
