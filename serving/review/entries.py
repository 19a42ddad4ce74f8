"""What a review action or an appeal writes in the ledger, as one typed digest.

Every state change of a case is one chained entry (kind ``review_action``, or
``appeal`` when an appeal is filed) whose ``subject_id`` is the decision id, so
``entries_for(decision_id)`` gives a decision's whole history and ``docket log
verify`` covers it. The digest holds no personal data: a reviewer's note and
an appeal's statement and new information go in the erasable payload.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from serving.ledger import LogEntry, LogKind
from serving.ledger.store import LogTransaction
from serving.review.schema import CaseRow

__all__ = ["SYSTEM", "Action", "ReviewEntry", "record"]

Action = Literal[
    "claimed",
    "claim_renewed",
    "released",
    "opened",
    "resolved",
    "second_review_requested",
    "second_review_confirmed",
    "second_review_rejected",
    "escalated",
    "appeal_filed",
]
#: who acts when no person does (escalation of overdue cases)
SYSTEM = "system"


class ReviewEntry(BaseModel):
    """The digest of one review or appeal entry; fields that do not apply are left out."""

    # extra="ignore": entries written by later versions still read back
    model_config = ConfigDict(frozen=True, extra="ignore")

    action: Action
    case_id: str
    case_kind: Literal["referral", "appeal"]
    decision_id: str
    at: str
    person_id: str | None = None
    person_name: str | None = None
    # claim
    lease_until: str | None = None
    took_over_from_id: str | None = None
    took_over_from_name: str | None = None
    # resolution, proposal and second review
    outcome: Literal["approved", "declined"] | None = None
    reason_code: str | None = None
    model_recommendation: str | None = None
    override: bool | None = None
    review_seconds: float | None = None
    second_review_rule: str | None = None
    proposed_by_id: str | None = None
    proposed_by_name: str | None = None
    has_note: bool | None = None
    # escalation
    deadline: str | None = None
    overdue_seconds: float | None = None
    status: str | None = None
    # appeal
    appeal_of: str | None = None
    excluded: tuple[str, ...] | None = None
    new_information: tuple[str, ...] | None = None
    filed_by: str | None = None

    def digest(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


def record(
    tx: LogTransaction,
    row: CaseRow,
    entry: ReviewEntry,
    payload: dict[str, Any] | None = None,
) -> LogEntry:
    """Chain ``entry`` about ``row``'s decision in ``tx``."""
    kind = LogKind.APPEAL if entry.action == "appeal_filed" else LogKind.REVIEW_ACTION
    return tx.append(kind, row.use_case, entry.digest(), payload, subject_id=row.decision_id)
