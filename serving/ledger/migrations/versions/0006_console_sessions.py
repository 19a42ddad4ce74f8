"""Web-console sessions: one row per login, ended by logout or expiry.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create access_console_sessions."""
    op.create_table(
        "access_console_sessions",
        sa.Column("session_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("expires_at", sa.String(40), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("session_id", name="pk_access_console_sessions"),
    )
    op.create_index(
        "ix_access_console_sessions_person_id", "access_console_sessions", ["person_id"]
    )


def downgrade() -> None:
    """Drop access_console_sessions."""
    op.drop_index("ix_access_console_sessions_person_id", table_name="access_console_sessions")
    op.drop_table("access_console_sessions")
