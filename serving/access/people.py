"""People: named accounts with one or more roles and a personal token.

What this module guarantees:

- A personal token (``dp_<person id>_<secret>``) is returned once, by
  :func:`add_person`; only the SHA-256 of its secret is stored (the secret has
  256 bits of entropy, so a fast hash is enough).
- One name is one person: a name is stored stripped, with runs of white space
  collapsed and invisible format characters removed, and its *name key* (that
  name, Unicode-compatibility-normalised and case-folded) is unique, so "Ann  Lee",
  "ann lee" and "ＡＮＮ LEE" cannot be three people. Four-eyes checks depend on it.
- A person holds roles from :data:`~serving.access.roles.PERSON_ROLES` only (never
  ``application``, which belongs to API keys).
- :func:`authenticate_person` reads the database every time it is called: a
  disabled person's token fails on the very next call. Callers must not cache it.

What it cannot detect: one human being given two accounts under two different
names by an administrator. Every account records who created it, and each
addition and disabling is an ``admin`` entry of the ledger.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.names import clean_name, name_key
from serving.access.errors import AccessDenied
from serving.access.keys import Principal, hash_secret, secret_matches, split_token
from serving.access.roles import PERSON_ROLES
from serving.access.schema import PersonRow
from serving.ledger import DecisionLog
from serving.ledger.store import LogTransaction

__all__ = [
    "LEDGER_SCOPE",
    "MAX_NAME_LENGTH",
    "Person",
    "PersonAdminError",
    "add_person",
    "authenticate_person",
    "clean_name",
    "disable_person",
    "find_person",
    "list_people",
    "name_key",
    "person_principal",
]

TOKEN_PREFIX = "dp"
MAX_NAME_LENGTH = 200
#: the ledger's ``use_case`` of entries about people (no use case may start with "_")
LEDGER_SCOPE = "_people"

_MESSAGE_ROLE = "role must be one of {allowed}; got {got!r} instead"
_MESSAGE_NO_ROLE = "a person needs at least one role among {allowed}; got none instead"
_MESSAGE_NAME = "name must be 1-{max} characters after trimming white space; got {got!r} instead"
_MESSAGE_BY = "created_by must name who adds the person in 1-{max} characters; got {got!r} instead"
_MESSAGE_TAKEN = (
    "name must be unique: {name!r} is already the name of person {person_id}"
    " (names are compared without case, extra spaces or width); got {got!r} instead"
)
_MESSAGE_UNKNOWN = "no person is named {got!r} (names are compared without case or extra spaces)"
_MESSAGE_DISABLED = "person {name!r} is already disabled (since {at})"
_MESSAGE_DISABLED_BY = (
    "by must name who disables the person in 1-{max} characters; got {got!r} instead"
)


class PersonAdminError(ValueError):
    """A person could not be added or disabled as asked."""


@dataclass(frozen=True)
class Person:
    """A person as stored, without the token hash."""

    person_id: str
    name: str
    roles: tuple[str, ...]
    created_at: str
    created_by: str
    disabled_at: str | None

    @property
    def disabled(self) -> bool:
        return self.disabled_at is not None

    def principal(self) -> Principal:
        """The principal this person acts as."""
        return Principal(
            key_id=f"person:{self.person_id}",
            name=self.name,
            roles=frozenset(self.roles),
            kind="person",
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "roles": list(self.roles)}


def _check_roles(roles: Iterable[str]) -> tuple[str, ...]:
    wanted = list(roles)
    for role in wanted:
        if role not in PERSON_ROLES:
            raise PersonAdminError(_MESSAGE_ROLE.format(allowed=list(PERSON_ROLES), got=role))
    if not wanted:
        raise PersonAdminError(_MESSAGE_NO_ROLE.format(allowed=list(PERSON_ROLES)))
    return tuple(sorted(set(wanted)))


def _person(row: PersonRow) -> Person:
    return Person(
        person_id=row.person_id,
        name=row.name,
        roles=tuple(row.roles.split(",")),
        created_at=row.created_at,
        created_by=row.created_by,
        disabled_at=row.disabled_at,
    )


def _now() -> str:
    return datetime.now(UTC).isoformat()


def add_person(
    engine: Engine,
    name: str,
    roles: Iterable[str],
    created_by: str,
    *,
    log: DecisionLog | None = None,
) -> tuple[str, Person]:
    """Add a person; returns their personal token (shown once, only its hash is kept).

    With ``log``, the addition is also appended to the ledger, in the same
    transaction (an ``admin`` entry naming the person, their roles and
    ``created_by``; never the token), and the person is written to the log's
    database (``engine`` is not used).

    Raises
    ------
    PersonAdminError
        A role outside :data:`PERSON_ROLES`, no role, an empty or too long name,
        or a name another person already has under any spelling.
    """
    shown = clean_name(name)
    if not shown or len(shown) > MAX_NAME_LENGTH:
        raise PersonAdminError(_MESSAGE_NAME.format(max=MAX_NAME_LENGTH, got=name))
    if not clean_name(created_by) or len(clean_name(created_by)) > MAX_NAME_LENGTH:
        raise PersonAdminError(_MESSAGE_BY.format(max=MAX_NAME_LENGTH, got=created_by))
    checked = _check_roles(roles)
    key = name_key(shown)
    person_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    row = PersonRow(
        person_id=person_id,
        name=shown,
        name_key=key,
        roles=",".join(checked),
        token_hash=hash_secret(secret),
        created_at=_now(),
        created_by=clean_name(created_by),
        disabled_at=None,
    )
    person = _person(row)

    def insert(session: Session) -> None:
        taken = session.scalar(select(PersonRow).where(PersonRow.name_key == key))
        if taken is not None:
            raise PersonAdminError(
                _MESSAGE_TAKEN.format(name=taken.name, person_id=taken.person_id, got=name)
            )
        session.add(row)
        session.flush()

    if log is not None:
        # the row and its ledger entry are written together, or neither
        with log.transaction() as tx:
            insert(tx.session)
            _append(tx, "person_added", person, person.created_by)
        return f"{TOKEN_PREFIX}_{person_id}_{secret}", person
    try:
        with Session(engine) as session, session.begin():
            insert(session)
    except IntegrityError:
        # another process added the same name key between the check and the insert
        raise PersonAdminError(_MESSAGE_TAKEN.format(name=shown, person_id="?", got=name)) from None
    return f"{TOKEN_PREFIX}_{person_id}_{secret}", person


def find_person(engine: Engine, name: str) -> Person | None:
    """The person named ``name`` under any spelling, or None."""
    with Session(engine) as session:
        row = session.scalar(select(PersonRow).where(PersonRow.name_key == name_key(name)))
        return None if row is None else _person(row)


def list_people(engine: Engine) -> list[Person]:
    """Every person, disabled ones included, in the order they were added."""
    with Session(engine) as session:
        rows = session.scalars(select(PersonRow).order_by(PersonRow.created_at)).all()
        return [_person(r) for r in rows]


def disable_person(engine: Engine, name: str, by: str, *, log: DecisionLog | None = None) -> Person:
    """Disable the person named ``name`` (any spelling); their token stops working at once.

    With ``log``, the change is also appended to the ledger as an ``admin`` entry,
    in the same transaction of the log's database (``engine`` is not used).

    Raises
    ------
    PersonAdminError
        No person has that name, they are already disabled, or ``by`` is empty.
    """
    cleaned_by = clean_name(by)
    if not cleaned_by or len(cleaned_by) > MAX_NAME_LENGTH:
        raise PersonAdminError(_MESSAGE_DISABLED_BY.format(max=MAX_NAME_LENGTH, got=by))
    at = _now()

    def disable(session: Session) -> Person:
        row = session.scalar(select(PersonRow).where(PersonRow.name_key == name_key(name)))
        if row is None:
            raise PersonAdminError(_MESSAGE_UNKNOWN.format(got=name))
        if row.disabled_at is not None:
            raise PersonAdminError(_MESSAGE_DISABLED.format(name=row.name, at=row.disabled_at))
        row.disabled_at = at
        session.flush()
        return _person(row)

    if log is not None:
        # the change and its ledger entry are written together, or neither
        with log.transaction() as tx:
            person = disable(tx.session)
            _append(tx, "person_disabled", person, cleaned_by)
        return person
    with Session(engine) as session, session.begin():
        return disable(session)


def _append(
    tx: LogTransaction,
    action: Literal["person_added", "person_disabled"],
    person: Person,
    by: str,
) -> None:
    """Chain the change: who, which roles, by whom (no token, no hash)."""
    digest = {
        "action": action,
        "person_id": person.person_id,
        "name": person.name,
        "roles": list(person.roles),
        "by": by,
    }
    tx.append("admin", LEDGER_SCOPE, digest, subject_id=f"person:{person.person_id}")


def person_principal(row: PersonRow) -> Principal:
    """The principal a stored person acts as (their roles; disabled or not is the caller's check)."""
    return _person(row).principal()


def authenticate_person(engine: Engine, token: str) -> Principal | None:
    """The principal a personal token belongs to; None if unknown, malformed or disabled.

    Reads the database on every call, so disabling a person takes effect at once.
    """
    found = split_token(token, TOKEN_PREFIX)
    if found is None:
        return None
    person_id, secret = found
    with Session(engine) as session:
        row = session.get(PersonRow, person_id)
        if row is None or row.disabled_at is not None or not secret_matches(row.token_hash, secret):
            return None
        return _person(row).principal()


_MESSAGE_NOT_PERSON = (
    "{action} needs a person's own token (dp_...; see 'docket people add'); got the {kind}"
    " {name!r} instead"
)


def require_person(principal: Principal, action: str) -> str:
    """The person id of ``principal``; AccessDenied for an API key or an in-process caller.

    Review actions and waivers are a named person's, attributed by their own token.
    """
    person_id = principal.person_id
    if person_id is None:
        kind = "API key" if principal.kind == "key" else "local caller"
        raise AccessDenied(
            _MESSAGE_NOT_PERSON.format(action=action, kind=kind, name=principal.name)
        )
    return person_id
