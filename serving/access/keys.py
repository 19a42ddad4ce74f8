"""API keys with roles, and the principal every request acts as.

A key is shown once at creation; only its SHA-256 is stored. Keys look like
``dk_<key id>_<secret>``: the id finds the row, the secret is compared in
constant time against its stored hash. The secret has 256 bits of entropy, so a
fast hash is safe here (no password stretching needed).

A :class:`Principal` is who a request acts as: an application's API key, a
person with a personal token (:mod:`serving.access.people`), or a caller in this
process (CLI, notebook, benchmark). It may hold several roles.

Given the ledger (``log``), creating and revoking a key are ``admin`` entries,
written in the same transaction as the change: the key id, its role and name,
and who did it; never the secret or its hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from serving.access.roles import KEY_ROLES
from serving.access.schema import ApiKeyRow
from serving.ledger import DecisionLog

__all__ = [
    "KEYS_LEDGER_SCOPE",
    "KeyAdminError",
    "Principal",
    "PrincipalKind",
    "authenticate",
    "create_key",
    "hash_secret",
    "list_keys",
    "revoke_key",
]

_PREFIX = "dk"
#: the ledger's use_case of key changes
KEYS_LEDGER_SCOPE = "_keys"
PrincipalKind = Literal["key", "person", "local"]


class KeyAdminError(ValueError):
    """A key could not be created or revoked as asked."""


@dataclass(frozen=True)
class Principal:
    """Who a request acts as.

    ``key_id`` is the key's id for an API key, ``person:<person id>`` for a person
    and ``local:<name>`` for a caller in this process; ``name`` is what the
    ledger shows.
    """

    key_id: str
    name: str
    roles: frozenset[str]
    kind: PrincipalKind

    @classmethod
    def local(cls, name: str, role: str = "admin") -> Principal:
        """A caller in this process (CLI, notebook, benchmark): no key, named in the ledger."""
        return cls(key_id=f"local:{name}", name=name, roles=frozenset({role}), kind="local")

    def has_any(self, roles: Iterable[str]) -> bool:
        """Whether this principal holds at least one of ``roles``."""
        return not self.roles.isdisjoint(roles)

    @property
    def person_id(self) -> str | None:
        """The person's id for a person, else None."""
        return self.key_id.removeprefix("person:") if self.kind == "person" else None

    def roles_text(self) -> str:
        """The roles for a message: ``role 'auditor'`` or ``roles ['admin', 'auditor']``."""
        if len(self.roles) == 1:
            return f"role {next(iter(self.roles))!r}"
        return f"roles {sorted(self.roles)}"


def hash_secret(secret: str) -> str:
    """The stored form of a key's or token's secret (SHA-256, hex)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(token: str, prefix: str) -> tuple[str, str] | None:
    """``(row id, secret)`` of a ``<prefix>_<id>_<secret>`` key or token, None if malformed."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != prefix:
        return None
    return parts[1], parts[2]


def secret_matches(stored_hash: str, secret: str) -> bool:
    """Compare in constant time, so the response time says nothing about the hash."""
    return hmac.compare_digest(stored_hash, hash_secret(secret))


def create_key(
    engine: Engine,
    role: str,
    name: str,
    *,
    log: DecisionLog | None = None,
    by: str | None = None,
) -> tuple[str, Principal]:
    """Create a key; returns the full key (shown once) and who it belongs to.

    With ``log``, the key is written to the log's database (``engine`` is not
    used) together with an ``admin`` entry ``key_created`` naming ``by``.
    """
    if role not in KEY_ROLES:
        raise KeyAdminError(f"role must be one of {list(KEY_ROLES)}; got {role!r} instead")
    if not name.strip() or len(name) > 200:
        raise KeyAdminError(f"name must be 1-200 characters; got {name!r}")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = ApiKeyRow(
        key_id=key_id,
        name=name.strip(),
        role=role,
        key_hash=hash_secret(secret),
        created_at=datetime.now(UTC).isoformat(),
    )
    if log is not None:
        # the key and its ledger entry are written together, or neither
        with log.transaction() as tx:
            tx.session.add(row)
            tx.session.flush()
            tx.append(
                "admin",
                KEYS_LEDGER_SCOPE,
                _key_digest("key_created", key_id, role, name.strip(), by),
                subject_id=f"key:{key_id}",
            )
    else:
        with Session(engine) as session, session.begin():
            session.add(row)
    who = Principal(key_id=key_id, name=name.strip(), roles=frozenset({role}), kind="key")
    return f"{_PREFIX}_{key_id}_{secret}", who


def _key_digest(
    action: Literal["key_created", "key_revoked"],
    key_id: str,
    role: str,
    name: str,
    by: str | None,
) -> dict[str, Any]:
    return {"action": action, "key_id": key_id, "role": role, "name": name, "by": by}


def authenticate(engine: Engine, key: str) -> Principal | None:
    """The principal a key belongs to, or None for an unknown, malformed or revoked key."""
    found = split_token(key, _PREFIX)
    if found is None:
        return None
    key_id, secret = found
    with Session(engine) as session:
        row = session.get(ApiKeyRow, key_id)
        if row is None or row.revoked_at is not None or not secret_matches(row.key_hash, secret):
            return None
        return Principal(key_id=row.key_id, name=row.name, roles=frozenset({row.role}), kind="key")


def revoke_key(
    engine: Engine, key_id: str, *, log: DecisionLog | None = None, by: str | None = None
) -> bool:
    """Revoke an active key; False when no active key has that id.

    With ``log``, the revocation is written to the log's database (``engine`` is
    not used) together with an ``admin`` entry ``key_revoked`` naming ``by``.
    """
    revoke = (
        update(ApiKeyRow)
        .where(ApiKeyRow.key_id == key_id, ApiKeyRow.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC).isoformat())
    )
    if log is None:
        with Session(engine) as session, session.begin():
            return bool(session.execute(revoke).rowcount)  # type: ignore[attr-defined]
    with log.transaction() as tx:
        if not tx.session.execute(revoke).rowcount:  # type: ignore[attr-defined]
            return False
        row = tx.session.get(ApiKeyRow, key_id)
        assert row is not None
        tx.append(
            "admin",
            KEYS_LEDGER_SCOPE,
            _key_digest("key_revoked", key_id, row.role, row.name, by),
            subject_id=f"key:{key_id}",
        )
    return True


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
