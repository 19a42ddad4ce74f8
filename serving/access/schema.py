"""Tables of the access package: API keys, people (only hashes of secrets are stored),
console sessions and the answers kept for ``Idempotency-Key`` headers."""

from __future__ import annotations

from sqlalchemy import Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from serving.ledger.schema import HASH_LENGTH, TIMESTAMP_LENGTH, Base

__all__ = ["ApiKeyRow", "ConsoleSessionRow", "IdempotencyKeyRow", "PersonRow"]


class ApiKeyRow(Base):
    """An API key: only the SHA-256 of its secret is stored."""

    __tablename__ = "access_api_keys"

    key_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    created_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    revoked_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))


class PersonRow(Base):
    """A named person with roles and a personal token (only its SHA-256 is stored).

    ``name_key`` is the name case-folded with runs of white space collapsed: two
    spellings of one name cannot be two people (four eyes depend on it).
    ``roles`` is a comma-separated, sorted list.
    """

    __tablename__ = "access_people"
    __table_args__ = (UniqueConstraint("name_key"),)

    person_id: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    created_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    created_by: Mapped[str] = mapped_column(String(200))
    disabled_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))


class ConsoleSessionRow(Base):
    """A web-console session: its id, its person, when it ends (logout or expiry).

    The browser holds the id signed by the service's session key; ending a
    session here (logout) refuses the cookie even before it expires.
    """

    __tablename__ = "access_console_sessions"

    session_id: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    expires_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH))
    ended_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))


class IdempotencyKeyRow(Base):
    """One ``Idempotency-Key`` of one caller on one route, and the answer it got.

    ``slot`` is the SHA-256 of (caller, method, path, key): its uniqueness decides
    which of several concurrent requests runs. ``fingerprint`` is the SHA-256 of
    the request (method, path, query, exact body bytes). ``state`` is
    ``in_progress`` (``token`` names the request holding the claim) until the
    answer (``status``, ``content_type``, ``body``) is stored and it is ``done``.
    ``created_at`` is when the key was (last) claimed; rows expire from it.
    """

    __tablename__ = "access_idempotency_keys"

    slot: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    caller: Mapped[str] = mapped_column(String(200))
    method: Mapped[str] = mapped_column(String(16))
    path: Mapped[str] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(HASH_LENGTH))
    token: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16))
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(200))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[str] = mapped_column(String(TIMESTAMP_LENGTH), index=True)
    finished_at: Mapped[str | None] = mapped_column(String(TIMESTAMP_LENGTH))
