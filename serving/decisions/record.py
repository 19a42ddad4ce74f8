"""The typed record of one decision: what the ledger keeps in the chain, and what callers get.

:class:`DecisionRecord` is the chained, non-personal digest of a decision
(versions, score, outcome, reasons, the rationale without the person's values).
The personal data (the feature values, the application reference, the
recourse) is the erasable :class:`PersonalData` payload, kept apart from the
chain. :class:`DecisionView` is what ``POST /decide`` and ``GET /decisions/{id}``
return: the record, where it sits in the ledger (with its receipt), and what the person
is told.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.policy import Outcome, Recommendation, Referral
from models.rationale import FeatureContribution, Rationale, Reason
from serving.ledger.receipts import PendingReceipt

__all__ = [
    "CaseRef",
    "DecisionRecord",
    "DecisionView",
    "HistoryItem",
    "PersonalData",
    "RecordedContribution",
    "RecordedRationale",
    "Status",
]

Status = Literal["pending_review", "final"]


class _Record(BaseModel):
    # extra="ignore": records written by later versions still read back
    model_config = ConfigDict(frozen=True, extra="ignore")


class CaseRef(_Record):
    """The review case a referred decision opened, and its deadline."""

    case_id: str
    deadline: str


class RecordedContribution(FeatureContribution):
    """One feature's contribution, without the person's value (that is personal data)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    value: None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _drop_the_value(cls, data: Any) -> Any:
        # built from the full rationale: the person's value stays in the erasable payload
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if k != "value"}
        return data


class RecordedRationale(Rationale):
    """The rationale as chained: everything but the person's feature values."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    contributions: tuple[RecordedContribution, ...]  # type: ignore[assignment]
    # records made before explainer revision 2 did not state a reference
    reference_kind: str | None = None  # type: ignore[assignment]
    reference: str | None = None  # type: ignore[assignment]


class DecisionRecord(_Record):
    """The chained digest of one decision (R15)."""

    decision_id: str
    decided_at: str
    use_case: str
    model_version: str
    policy_version: str
    explainer_version: str
    catalogue_version: str
    spec_hash: str
    spec_ref: str
    score: float
    outcome: Outcome
    recommendation: Recommendation
    status: Status
    case: CaseRef | None
    referral_reasons: tuple[Referral, ...]
    reasons: tuple[Reason, ...]
    rationale: RecordedRationale
    recourse_found: bool | None
    requested_by: str
    requested_by_key: str | None = None


class PersonalData(_Record):
    """The erasable personal payload of a decision."""

    features: dict[str, Any]
    application_ref: str | None
    automated_decision_consent: bool
    recourse: dict[str, Any] | None
    # payloads recorded before this field existed had no consent to training use
    training_data_consent: bool = False
    # the person's group for monitoring only (R32): never given to the model, left out of
    # what reviewers see (serving.review.cases); absent from payloads recorded before it
    audit_attributes: dict[str, str | int | float] | None = None


class HistoryItem(BaseModel):
    """A later ledger entry about the decision (review actions, appeals, erasures)."""

    model_config = ConfigDict(extra="allow")

    kind: str
    seq: int
    recorded_at: str


class DecisionView(DecisionRecord):
    """What the caller gets: the record, its place in the ledger, and the notice."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rationale: Any  # the full rationale (with values) right after deciding; the record's later
    case_id: str | None
    review_deadline: str | None
    input_hash: str | None
    log_seq: int
    recorded_at: str
    notice: str
    recourse: dict[str, Any] | None = None
    application_ref: str | None = None
    latency_ms: float | None = None
    history: list[HistoryItem] | None = None
    personal: dict[str, Any] | None = None
    personal_erased: bool | None = None
    # the decision entry's hash and where to fetch its inclusion proof once a checkpoint covers it
    receipt: PendingReceipt | None = None
