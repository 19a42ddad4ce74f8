"""Web-console sessions: a signed cookie that expires, ended by logout, and its CSRF token.

What this module guarantees:

- A session starts only from a person's own token (``dp_...``): an application's
  API key cannot sign in, and neither can a disabled person.
- The cookie holds a random session id, its expiry and an HMAC-SHA256 of both under
  the service's session key, so a cookie cannot be forged or extended without the key.
- :func:`resume_session` reads the database on every call: a session ended by
  logout, past its expiry, or whose person was disabled is refused at once.
- The CSRF token of a session is an HMAC of its id under the same key (a
  different message), so it is known to the page the service rendered and
  to no other site; :func:`csrf_matches` compares in constant time.

The session key is ``DOCKET_SESSION_KEY`` (hex, at least 32 bytes) when set, so
several hosts can share it; otherwise a random key is created once in the state
folder (``session.key``, readable by its owner only) and shared by the workers.

What it cannot detect: a cookie copied off the person's own machine while the
session lasts (it expires after ``DOCKET_SESSION_MINUTES``, default 480).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from models.settings import positive_from_env
from serving.access.keys import Principal
from serving.access.people import TOKEN_PREFIX, authenticate_person, person_principal
from serving.access.schema import ConsoleSessionRow, PersonRow
from serving.ledger.times import Clock, parse, stamp, utc_now

__all__ = [
    "COOKIE_NAME",
    "ConsoleSession",
    "SessionRefused",
    "csrf_matches",
    "csrf_token",
    "end_session",
    "load_session_key",
    "resume_session",
    "session_minutes",
    "start_session",
]

#: the cookie's name; the ``__Host-`` prefix is left out because tests serve plain HTTP
COOKIE_NAME = "docket_session"
_KEY_FILE = "session.key"
_DEFAULT_MINUTES = 480.0

_MESSAGE_KEY = (
    "DOCKET_SESSION_KEY must be at least 64 hexadecimal characters (32 bytes);"
    " got {length} characters instead"
)
_MESSAGE_API_KEY = (
    "an application's API key cannot sign in to the console: sign in with a personal"
    " token (dp_...) made by 'docket people add'"
)
_MESSAGE_UNKNOWN = "that token is unknown or revoked, or its person is disabled"


class SessionRefused(ValueError):
    """A sign-in was refused; the message says why and is safe to show."""


@dataclass(frozen=True)
class ConsoleSession:
    """A live session: whose, until when, and the token its forms must carry."""

    session_id: str
    principal: Principal
    expires_at: datetime
    csrf: str


def session_minutes() -> float:
    """How long a session lasts (``DOCKET_SESSION_MINUTES``, default 480)."""
    return positive_from_env("DOCKET_SESSION_MINUTES", _DEFAULT_MINUTES, "minutes")


def load_session_key(home: Path) -> bytes:
    """The session key: ``DOCKET_SESSION_KEY``, else the state folder's, created once."""
    configured = os.environ.get("DOCKET_SESSION_KEY", "").strip()
    if configured:
        try:
            key = bytes.fromhex(configured)
        except ValueError:
            raise ValueError(_MESSAGE_KEY.format(length=len(configured))) from None
        if len(key) < 32:
            raise ValueError(_MESSAGE_KEY.format(length=len(configured)))
        return key
    path = home / _KEY_FILE
    if not path.exists():
        home.mkdir(parents=True, exist_ok=True)
        # written beside, then linked: two workers starting together keep one key
        draft = home / f".{_KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def csrf_token(key: bytes, session_id: str) -> str:
    """The CSRF token every state-changing form of ``session_id`` must carry."""
    return _sign(key, f"csrf|{session_id}")


def csrf_matches(key: bytes, session_id: str, offered: str | None) -> bool:
    """Whether ``offered`` is the session's CSRF token (constant-time)."""
    return offered is not None and hmac.compare_digest(csrf_token(key, session_id), offered)


def _cookie(key: bytes, session_id: str, expires: datetime) -> str:
    body = f"{session_id}.{int(expires.timestamp())}"
    return f"{body}.{_sign(key, 'session|' + body)}"


def _read_cookie(key: bytes, cookie: str) -> tuple[str, datetime] | None:
    parts = cookie.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(_sign(key, "session|" + body), parts[2]):
        return None
    return parts[0], datetime.fromtimestamp(int(parts[1]), tz=utc_now().tzinfo)


def start_session(
    engine: Engine, key: bytes, token: str, *, clock: Clock = utc_now
) -> tuple[str, ConsoleSession]:
    """Sign in with a personal token: the cookie value and the new session.

    Raises :class:`SessionRefused` for an API key, an unknown token or a disabled person.
    """
    token = token.strip()
    if not token.startswith(f"{TOKEN_PREFIX}_"):
        if token.startswith("dk_"):
            raise SessionRefused(_MESSAGE_API_KEY)
        raise SessionRefused(_MESSAGE_UNKNOWN)
    principal = authenticate_person(engine, token)
    if principal is None or principal.person_id is None:
        raise SessionRefused(_MESSAGE_UNKNOWN)
    now = clock()
    # whole seconds: the cookie carries the expiry as an integer timestamp
    expires = (now + timedelta(minutes=session_minutes())).replace(microsecond=0)
    session_id = secrets.token_hex(32)
    with Session(engine) as session, session.begin():
        session.add(
            ConsoleSessionRow(
                session_id=session_id,
                person_id=principal.person_id,
                created_at=stamp(now),
                expires_at=stamp(expires),
                ended_at=None,
            )
        )
    live = ConsoleSession(session_id, principal, expires, csrf_token(key, session_id))
    return _cookie(key, session_id, expires), live


def resume_session(
    engine: Engine, key: bytes, cookie: str | None, *, clock: Clock = utc_now
) -> ConsoleSession | None:
    """The live session a cookie names; None if forged, expired, ended, or its person disabled."""
    if not cookie:
        return None
    read = _read_cookie(key, cookie)
    if read is None:
        return None
    session_id, expires = read
    now = clock()
    if expires <= now:
        return None
    with Session(engine) as session:
        row = session.get(ConsoleSessionRow, session_id)
        if row is None or row.ended_at is not None or parse(row.expires_at) <= now:
            return None
        person = session.get(PersonRow, row.person_id)
        if person is None or person.disabled_at is not None:
            return None
        principal = person_principal(person)
    return ConsoleSession(session_id, principal, expires, csrf_token(key, session_id))


def end_session(engine: Engine, session_id: str, *, clock: Clock = utc_now) -> None:
    """Log out: the session's cookie is refused from now on, even before it expires."""
    with Session(engine) as session, session.begin():
        row = session.get(ConsoleSessionRow, session_id)
        if row is not None and row.ended_at is None:
            row.ended_at = stamp(clock())
