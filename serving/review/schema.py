"""Tables of the review package: one row per review case (a referral or an appeal).

The row holds a case's current state so the queue and the state machine can
use conditional ``UPDATE``s; the chained ``review_action`` and ``appeal``
entries in the ledger hold how it got there. People are stored by id (what
four eyes and exclusions compare) and by name (what a reader sees). Times are
UTC strings of one fixed format (``serving.ledger.times.stamp``), so they sort as text.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from serving.ledger.schema import TIMESTAMP_LENGTH, UUID_LENGTH, Base

__all__ = ["PERSON_ID_LENGTH", "CaseRow"]

PERSON_ID_LENGTH = 64
_NAME_LENGTH = 200


class CaseRow(Base):
    """One review case: a referred decision, or an appeal of a decision.

    ``(decision_id, kind)`` is unique: a decision has at most one referral case
    and at most one appeal case (an appeal of an appeal is refused).
    ``referral_rules`` and ``excluded`` are JSON lists (rule names; the person
    ids who took part in the decision's earlier reviews, refused on an appeal).
    """

    __tablename__ = "review_cases"
    __table_args__ = (
        UniqueConstraint("decision_id", "kind"),
        Index("ix_review_cases_status_deadline", "status", "deadline"),
        Index("ix_review_cases_use_case_status", "use_case", "status"),
        CheckConstraint(
            "status IN ('open', 'escalated', 'claimed', 'awaiting_second_review', 'resolved')",
            name="known_status",
        ),
        CheckConstraint("kind IN ('referral', 'appeal')", name="known_kind"),
    )

    case_id: Mapped[str] = mapped_column(String(UUID_LENGTH), primary_key=True)
    decision_id: Mapped[str] = mapped_column(String(200))
    use_case: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    appeal_of: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    deadline: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    referral_rules: Mapped[str] = mapped_column(Text)
    model_recommendation: Mapped[str] = mapped_column(String(16))
    excluded: Mapped[str] = mapped_column(Text)
    escalated_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    # the current claim and its lease
    claimed_by_id: Mapped[str | None] = mapped_column(String(PERSON_ID_LENGTH))
    claimed_by_name: Mapped[str | None] = mapped_column(String(_NAME_LENGTH))
    claimed_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    lease_until: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    # who opened the full case since the last claim or proposal, and when first (R8)
    opened_by_id: Mapped[str | None] = mapped_column(String(PERSON_ID_LENGTH))
    opened_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    # a resolution waiting for a second person (R23)
    proposed_outcome: Mapped[str | None] = mapped_column(String(16))
    proposed_reason_code: Mapped[str | None] = mapped_column(String(40))
    proposed_by_id: Mapped[str | None] = mapped_column(String(PERSON_ID_LENGTH))
    proposed_by_name: Mapped[str | None] = mapped_column(String(_NAME_LENGTH))
    proposed_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    proposal_entry_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
    # the resolution
    outcome: Mapped[str | None] = mapped_column(String(16))
    reason_code: Mapped[str | None] = mapped_column(String(40))
    resolved_by_id: Mapped[str | None] = mapped_column(String(PERSON_ID_LENGTH))
    resolved_by_name: Mapped[str | None] = mapped_column(String(_NAME_LENGTH))
    second_reviewer_id: Mapped[str | None] = mapped_column(String(PERSON_ID_LENGTH))
    second_reviewer_name: Mapped[str | None] = mapped_column(String(_NAME_LENGTH))
    resolved_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    resolution_entry_id: Mapped[str | None] = mapped_column(String(UUID_LENGTH))
