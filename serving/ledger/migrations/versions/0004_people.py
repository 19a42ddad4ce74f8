"""People: named accounts with roles and a personal token (only its hash is stored).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create access_people."""
    op.create_table(
        "access_people",
        sa.Column("person_id", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("disabled_at", sa.String(40), nullable=True),
        sa.PrimaryKeyConstraint("person_id", name="pk_access_people"),
        sa.UniqueConstraint("name_key", name="uq_access_people_name_key"),
    )


def downgrade() -> None:
    """Drop access_people."""
    op.drop_table("access_people")
