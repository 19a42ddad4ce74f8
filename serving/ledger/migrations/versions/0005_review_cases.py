"""Review cases: one row per referred decision or appeal, with its claim, lease and resolution.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create review_cases."""
    person, name, stamp, uuid = sa.String(64), sa.String(200), sa.String(40), sa.String(36)
    op.create_table(
        "review_cases",
        sa.Column("case_id", uuid, nullable=False),
        sa.Column("decision_id", sa.String(200), nullable=False),
        sa.Column("use_case", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("appeal_of", uuid, nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("created_at", stamp, nullable=False),
        sa.Column("deadline", stamp, nullable=False),
        sa.Column("referral_rules", sa.Text(), nullable=False),
        sa.Column("model_recommendation", sa.String(16), nullable=False),
        sa.Column("excluded", sa.Text(), nullable=False),
        sa.Column("escalated_at", stamp, nullable=True),
        sa.Column("claimed_by_id", person, nullable=True),
        sa.Column("claimed_by_name", name, nullable=True),
        sa.Column("claimed_at", stamp, nullable=True),
        sa.Column("lease_until", stamp, nullable=True),
        sa.Column("opened_by_id", person, nullable=True),
        sa.Column("opened_at", stamp, nullable=True),
        sa.Column("proposed_outcome", sa.String(16), nullable=True),
        sa.Column("proposed_reason_code", sa.String(40), nullable=True),
        sa.Column("proposed_by_id", person, nullable=True),
        sa.Column("proposed_by_name", name, nullable=True),
        sa.Column("proposed_at", stamp, nullable=True),
        sa.Column("proposal_entry_id", uuid, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("reason_code", sa.String(40), nullable=True),
        sa.Column("resolved_by_id", person, nullable=True),
        sa.Column("resolved_by_name", name, nullable=True),
        sa.Column("second_reviewer_id", person, nullable=True),
        sa.Column("second_reviewer_name", name, nullable=True),
        sa.Column("resolved_at", stamp, nullable=True),
        sa.Column("resolution_entry_id", uuid, nullable=True),
        sa.PrimaryKeyConstraint("case_id", name="pk_review_cases"),
        sa.UniqueConstraint("decision_id", "kind", name="uq_review_cases_decision_id_kind"),
        sa.CheckConstraint(
            "status IN ('open', 'escalated', 'claimed', 'awaiting_second_review', 'resolved')",
            name="ck_review_cases_known_status",
        ),
        sa.CheckConstraint("kind IN ('referral', 'appeal')", name="ck_review_cases_known_kind"),
    )
    op.create_index("ix_review_cases_status_deadline", "review_cases", ["status", "deadline"])
    op.create_index("ix_review_cases_use_case_status", "review_cases", ["use_case", "status"])


def downgrade() -> None:
    """Drop review_cases."""
    op.drop_index("ix_review_cases_use_case_status", table_name="review_cases")
    op.drop_index("ix_review_cases_status_deadline", table_name="review_cases")
    op.drop_table("review_cases")
