"""What the review package returns: typed views of cases, opened cases, statistics, outcomes.

A case's *effective* status is what a reader should act on: a claim whose
lease has run out no longer holds the case, so it shows as ``open`` (or
``escalated``) again even before anyone claims it anew.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from serving.decisions.record import DecisionRecord, PersonalData
from serving.ledger.receipts import PendingReceipt
from serving.ledger.times import parse, stamp
from serving.review.entries import ReviewEntry
from serving.review.schema import CaseRow

__all__ = [
    "ActionResult",
    "AppealStatement",
    "Case",
    "CaseEvent",
    "CaseKind",
    "CaseStatus",
    "Escalation",
    "FinalOutcome",
    "OpenedCase",
    "Proposal",
    "ReviewerStats",
    "case_view",
    "effective_status",
]

CaseStatus = Literal["open", "escalated", "claimed", "awaiting_second_review", "resolved"]
CaseKind = Literal["referral", "appeal"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Case(_View):
    """One case as a reviewer or an auditor sees it (no personal data)."""

    case_id: str
    decision_id: str
    use_case: str
    kind: CaseKind
    appeal_of: str | None
    status: CaseStatus
    created_at: str
    deadline: str
    overdue: bool
    overdue_seconds: float
    escalated_at: str | None
    referral_rules: tuple[str, ...]
    model_recommendation: str
    excluded: tuple[str, ...]
    claimed_by_id: str | None
    claimed_by_name: str | None
    lease_until: str | None
    opened_by_id: str | None
    proposed_outcome: str | None
    proposed_reason_code: str | None
    proposed_by_id: str | None
    proposed_by_name: str | None
    proposed_at: str | None
    outcome: str | None
    reason_code: str | None
    resolved_by_id: str | None
    resolved_by_name: str | None
    second_reviewer_id: str | None
    second_reviewer_name: str | None
    resolved_at: str | None


def effective_status(row: CaseRow, now: str) -> CaseStatus:
    """The stored status, except that a claim past its lease no longer holds the case."""
    if row.status == "claimed" and row.lease_until is not None and row.lease_until < now:
        return "open" if row.escalated_at is None else "escalated"
    return row.status  # type: ignore[return-value]


def case_view(row: CaseRow, now: datetime) -> Case:
    """The reader's view of ``row`` at ``now``."""
    now_text = stamp(now)
    status = effective_status(row, now_text)
    holds = status == "claimed"
    late = 0.0
    if status != "resolved":
        late = max(0.0, (now - parse(row.deadline)).total_seconds())
    return Case(
        case_id=row.case_id,
        decision_id=row.decision_id,
        use_case=row.use_case,
        kind=row.kind,  # type: ignore[arg-type]
        appeal_of=row.appeal_of,
        status=status,
        created_at=row.created_at,
        deadline=row.deadline,
        overdue=late > 0,
        overdue_seconds=late,
        escalated_at=row.escalated_at,
        referral_rules=tuple(json.loads(row.referral_rules)),
        model_recommendation=row.model_recommendation,
        excluded=tuple(json.loads(row.excluded)),
        claimed_by_id=row.claimed_by_id if holds else None,
        claimed_by_name=row.claimed_by_name if holds else None,
        lease_until=row.lease_until if holds else None,
        # who opened the case during the live claim (the desk clears it with the claim)
        opened_by_id=row.opened_by_id if holds else None,
        proposed_outcome=row.proposed_outcome,
        proposed_reason_code=row.proposed_reason_code,
        proposed_by_id=row.proposed_by_id,
        proposed_by_name=row.proposed_by_name,
        proposed_at=row.proposed_at,
        outcome=row.outcome,
        reason_code=row.reason_code,
        resolved_by_id=row.resolved_by_id,
        resolved_by_name=row.resolved_by_name,
        second_reviewer_id=row.second_reviewer_id,
        second_reviewer_name=row.second_reviewer_name,
        resolved_at=row.resolved_at,
    )


class ActionResult(_View):
    """A case after a review action, and the ledger entry that records the action."""

    case: Case
    entry_id: str
    entry_seq: int
    receipt: PendingReceipt  # the entry's hash; its inclusion proof once a checkpoint covers it


class AppealStatement(_View):
    """What the person said when appealing (personal data: ``None`` once erased)."""

    statement: str | None
    features: dict[str, Any] | None
    filed_by: str
    filed_at: str


class Proposal(_View):
    """A resolution waiting for a second person, as the senior reviewer sees it."""

    outcome: str
    reason_code: str
    proposed_by_id: str
    proposed_by_name: str
    proposed_at: str
    note: str | None


class OpenedCase(_View):
    """The full case a reviewer works from: the decision, its rationale and the person's data.

    The caller must log this read of personal data with its purpose (R17);
    opening is itself recorded as an ``opened`` review action.
    """

    case: Case
    record: DecisionRecord
    personal: PersonalData | None
    personal_erased: bool
    appeal: AppealStatement | None
    proposal: Proposal | None
    entry_id: str
    entry_seq: int
    receipt: PendingReceipt  # of the ``opened`` entry


class Escalation(_View):
    """An overdue case escalated once, and its ``escalated`` ledger entry."""

    case_id: str
    decision_id: str
    use_case: str
    kind: CaseKind
    deadline: str
    escalated_at: str
    overdue_seconds: float
    entry_seq: int


class ReviewerStats(_View):
    """How one reviewer resolves cases (R8): rubber-stamping shows here.

    ``cases`` counts the reviewer's resolutions (including proposals sent to a
    second reviewer); ``agreement_rate`` is over those where the model made a
    recommendation (approve or decline), ``None`` when there were none.
    """

    person_id: str
    person_name: str
    cases: int
    with_recommendation: int
    agreements: int
    agreement_rate: float | None
    overrides: int
    overrides_by_reason: dict[str, int]
    median_seconds: float | None
    second_reviews: int


class FinalOutcome(_View):
    """Where a decision stands: pending review or final, its outcome, and who decided it when.

    While an appeal is open the status is ``pending_review`` and ``outcome`` is
    the outcome that stands until the appeal is resolved.
    """

    decision_id: str
    use_case: str
    status: Literal["pending_review", "final"]
    outcome: Literal["approved", "declined", "referred"]
    decided_by: Literal["model", "review", "appeal"]
    decided_by_id: str | None
    decided_by_name: str | None
    second_reviewer_name: str | None
    decided_at: str
    case_id: str | None
    reason_code: str | None
    appeal_case_id: str | None
    under_appeal: bool


class CaseEvent(ReviewEntry):
    """One entry of a decision's review history, with its place in the ledger."""

    seq: int
    kind: Literal["review_action", "appeal"]
    recorded_at: str
