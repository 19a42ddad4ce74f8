"""Idempotency keys: one row per caller's key per route, with the answer it got.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create access_idempotency_keys."""
    op.create_table(
        "access_idempotency_keys",
        sa.Column("slot", sa.String(64), nullable=False),
        sa.Column("caller", sa.String(200), nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("content_type", sa.String(200), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("finished_at", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("slot", name="pk_access_idempotency_keys"),
    )
    op.create_index(
        "ix_access_idempotency_keys_created_at", "access_idempotency_keys", ["created_at"]
    )


def downgrade() -> None:
    """Drop access_idempotency_keys."""
    op.drop_index("ix_access_idempotency_keys_created_at", table_name="access_idempotency_keys")
    op.drop_table("access_idempotency_keys")
