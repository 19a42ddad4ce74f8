"""Tables named by the package that owns them: access_api_keys, decision_switches.

The API keys belong to ``serving.access`` and the stop switches to
``serving.decisions``; renaming keeps every row (no copy, no data loss).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RENAMES = (("api_keys", "access_api_keys"), ("use_case_switches", "decision_switches"))


def _rename(old: str, new: str) -> None:
    op.rename_table(old, new)
    if op.get_bind().dialect.name == "postgresql":
        # PostgreSQL keeps the old primary-key name; follow the naming convention
        op.execute(f'ALTER INDEX "pk_{old}" RENAME TO "pk_{new}"')


def upgrade() -> None:
    """Rename api_keys and use_case_switches after their owning packages."""
    for old, new in _RENAMES:
        _rename(old, new)


def downgrade() -> None:
    """Give the tables their revision-0002 names back."""
    for old, new in _RENAMES:
        _rename(new, old)
