"""Tables of the ledger (typed SQLAlchemy 2 ORM), and the declarative base of the database.

The service keeps one database. The ledger sits at the bottom of ``serving``,
so it owns the engine, the declarative :class:`Base` and the alembic migrations
(``serving/ledger/migrations``); the packages above it declare their own tables
on this :class:`Base` in their own ``schema`` modules (``serving.access.schema``,
``serving.decisions.schema``) and the migrations create them. These classes
describe the current head revision, and a test checks that both agree.

``log_entries``
    The hash chain: one row per entry, ``seq`` 1..N without gaps.
``payloads``
    The personal data of an entry, apart from the chain so it can be erased;
    the chain keeps only its salted hash.
``chain_head``
    One row (``id`` = 1) holding the seq and hash of the last entry, updated in
    the same transaction as every append. It is what lets verification notice
    that the *last* entries were deleted, which the chain alone cannot show.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "HASH_LENGTH",
    "TIMESTAMP_LENGTH",
    "Base",
    "ChainHeadRow",
    "LogEntryRow",
    "PayloadRow",
]

HASH_LENGTH = 64
UUID_LENGTH = 36
TIMESTAMP_LENGTH = 40


#: Constraint names, so migrations and these classes name things the same way.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of the decision-log tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class LogEntryRow(Base):
    """One entry of the hash chain."""

    __tablename__ = "log_entries"
    __table_args__ = (
        Index("ix_log_entries_subject_id", "subject_id"),
        Index("ix_log_entries_use_case_kind", "use_case", "kind"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    entry_id: Mapped[str] = mapped_column(String(UUID_LENGTH), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    use_case: Mapped[str] = mapped_column(String(200))
    subject_id: Mapped[str | None] = mapped_column(String(200))
    recorded_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    digest: Mapped[str] = mapped_column(Text)
    payload_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    prev_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    entry_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)


class PayloadRow(Base):
    """The personal payload of one entry; ``payload`` and ``salt`` are NULL once erased."""

    __tablename__ = "payloads"

    entry_id: Mapped[str] = mapped_column(
        String(UUID_LENGTH), ForeignKey("log_entries.entry_id"), primary_key=True
    )
    payload: Mapped[str | None] = mapped_column(Text)
    salt: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    erased_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
    erasure_reason: Mapped[str | None] = mapped_column(Text)


class ChainHeadRow(Base):
    """The single row recording the last entry's seq and hash (seq 0 = empty log)."""

    __tablename__ = "chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    entry_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
