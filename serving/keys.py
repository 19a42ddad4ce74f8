"""API keys with roles. A key is shown once at creation; only its SHA-256 is stored.

Keys look like ``dk_<key id>_<secret>``: the id finds the row, the secret is
compared in constant time against its stored hash. The secret has 256 bits of
entropy, so a fast hash is safe here (no password stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from serving.log.schema import ApiKeyRow

Role = Literal["application", "reviewer", "auditor", "admin"]
ROLES: tuple[str, ...] = get_args(Role)
_PREFIX = "dk"


class KeyAdminError(ValueError):
    """A key could not be created or revoked as asked."""


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(engine: Engine, role: str, name: str) -> tuple[str, Principal]:
    """Create a key; returns the full key (shown once) and who it belongs to."""
    if role not in ROLES:
        raise KeyAdminError(f"role must be one of {list(ROLES)}; got {role!r}")
    if not name.strip() or len(name) > 200:
        raise KeyAdminError(f"name must be 1-200 characters; got {name!r}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        session.add(
            ApiKeyRow(
                key_id=key_id,
                name=name.strip(),
                role=role,
                key_hash=_hash(secret),
                created_at=datetime.now(UTC).isoformat(),
            )
        )
    return f"{_PREFIX}_{key_id}_{secret}", Principal(key_id=key_id, name=name.strip(), role=role)


def authenticate(engine: Engine, key: str) -> Principal | None:
    """The principal a key belongs to, or None for an unknown, malformed or revoked key."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX:
        return None
    _, key_id, secret = parts
    with Session(engine) as session:
        row = session.get(ApiKeyRow, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, _hash(secret)):
            return None
        return Principal(key_id=row.key_id, name=row.name, role=row.role)


def revoke_key(engine: Engine, key_id: str) -> bool:
    with Session(engine) as session, session.begin():
        result = session.execute(
            update(ApiKeyRow)
            .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=datetime.now(UTC).isoformat())
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def list_keys(engine: Engine) -> list[dict[str, str | None]]:
    with Session(engine) as session:
        rows = session.scalars(select(ApiKeyRow).order_by(ApiKeyRow.created_at)).all()
        return [
            {
                "key_id": r.key_id,
                "name": r.name,
                "role": r.role,
                "created_at": r.created_at,
                "revoked_at": r.revoked_at,
            }
            for r in rows
        ]
