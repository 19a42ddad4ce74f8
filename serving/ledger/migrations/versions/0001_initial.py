"""Decision log: hash-chained entries, erasable payloads, chain head.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GENESIS_HASH = "0" * 64


def upgrade() -> None:
    """Create log_entries, payloads and chain_head (seeded with the empty-log head)."""
    op.create_table(
        "log_entries",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("use_case", sa.String(200), nullable=False),
        sa.Column("subject_id", sa.String(200), nullable=True),
        sa.Column("recorded_at", sa.String(40), nullable=False),
        sa.Column("digest", sa.Text(), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_log_entries"),
        sa.UniqueConstraint("entry_id", name="uq_log_entries_entry_id"),
        sa.UniqueConstraint("entry_hash", name="uq_log_entries_entry_hash"),
    )
    op.create_index("ix_log_entries_subject_id", "log_entries", ["subject_id"])
    op.create_index("ix_log_entries_use_case_kind", "log_entries", ["use_case", "kind"])
    op.create_table(
        "payloads",
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("salt", sa.String(64), nullable=True),
        sa.Column("erased_at", sa.String(40), nullable=True),
        sa.Column("erasure_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("entry_id", name="pk_payloads"),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["log_entries.entry_id"],
            name="fk_payloads_entry_id_log_entries",
        ),
    )
    chain_head = op.create_table(
        "chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_chain_head"),
        sa.CheckConstraint("id = 1", name="ck_chain_head_single_row"),
    )
    op.bulk_insert(chain_head, [{"id": 1, "seq": 0, "entry_hash": _GENESIS_HASH}])


def downgrade() -> None:
    """Drop the decision-log tables (destroys the log)."""
    op.drop_table("chain_head")
    op.drop_table("payloads")
    op.drop_index("ix_log_entries_use_case_kind", table_name="log_entries")
    op.drop_index("ix_log_entries_subject_id", table_name="log_entries")
    op.drop_table("log_entries")
