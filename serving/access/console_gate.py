"""The web console's door: session cookies instead of bearer tokens, CSRF checks, headers.

Every path under ``/console`` goes through :class:`ConsoleGate` (the
:class:`~serving.access.middleware.Gatekeeper` hands them over):

- Open console routes (the sign-in page, static files) pass without a session.
- Any other route needs a live session (:mod:`serving.access.sessions`): none, or an
  expired, ended or disabled one, sends a page read to the sign-in page (303),
  and a form post is refused (401); a person without the route's roles gets 403.
- Every ``POST`` (sign-in included, which carries a pre-session token in a
  cookie of its own) must carry the session's ``csrf_token`` form field; without
  it the request is refused with 403 before any route code runs, so no route can
  forget the check.
- Every console response gets a Content-Security-Policy without inline scripts,
  ``X-Frame-Options: SAMEORIGIN``, ``Referrer-Policy: no-referrer``,
  ``X-Content-Type-Options: nosniff`` and ``Cache-Control: no-store`` (pages show
  personal data). A route may send a stricter policy of its own (the embedded
  model cards and audit reports do), which is then kept. ``frame-ancestors 'self'``
  and ``SAMEORIGIN`` keep other sites from framing a console page (clickjacking);
  the console's own pages may frame its reports.
- A client address locked out for failed authentications
  (:mod:`serving.access.throttle`) cannot send the sign-in form (429); a refused
  sign-in counts as a failure (the sign-in route reports it through
  ``scope["state"]["auth_failed"]``).
- A form must arrive whole within the body time limit (408), and when the
  database cannot be reached to check a session the answer is 503, never 500.
"""

from __future__ import annotations

import hmac
import html
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from serving.access.bodies import BodyTimeout, read_body, replay_body
from serving.access.outages import MESSAGE_UNREACHABLE, log_unreachable
from serving.access.sessions import COOKIE_NAME, csrf_matches, load_session_key, resume_session
from serving.access.throttle import Throttle, locked_message, retry_after_header

__all__ = [
    "CONSOLE_PREFIX",
    "CONTENT_SECURITY_POLICY",
    "LOGIN_CSRF_COOKIE",
    "ConsoleGate",
    "client_address",
    "cookie_value",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CONSOLE_PREFIX = "/console"
LOGIN_PATH = f"{CONSOLE_PREFIX}/login"
#: the sign-in form's own CSRF token lives in this cookie until a session exists
LOGIN_CSRF_COOKIE = "docket_login_csrf"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; form-action 'self'; frame-src 'self'; frame-ancestors 'self';"
    " base-uri 'none'"
)
_HEADERS = (
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)

_MESSAGE_CSRF = (
    "This form did not carry the console's security token (csrf_token), or it has"
    " expired. Go back, reload the page and send the form again."
)
_MESSAGE_SIGNED_OUT = (
    "You are signed out (the session ended, expired or was disabled). Sign in again."
)
_MESSAGE_ROLES = "{who} may not open {method} {path}; this page is for: {allowed}."


def client_address(scope: Scope) -> str:
    """The client's address as the server saw it (``X-Forwarded-For`` is not read here)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def cookie_value(headers: list[tuple[bytes, bytes]], name: str) -> str | None:
    """The value of cookie ``name`` in the request headers, if any."""
    for header, value in headers:
        if header != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(value.decode("latin-1"))
        except CookieError:
            continue
        if name in jar:
            return jar[name].value
    return None


def _with_frame_ancestors(policy: bytes) -> bytes:
    if b"frame-ancestors" in policy.lower():
        return policy
    return policy.rstrip(b"; ") + b"; frame-ancestors 'self'"


def _page(title: str, message: str) -> bytes:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)} · Docket</title>"
        f"<link rel='stylesheet' href='{CONSOLE_PREFIX}/static/console.css'></head>"
        f"<body><main class='narrow'><h1>{html.escape(title)}</h1>"
        f"<p role='alert'>{html.escape(message)}</p>"
        f"<p><a href='{CONSOLE_PREFIX}/'>Back to the console</a></p></main></body></html>"
    ).encode()


class ConsoleGate:
    """Sessions, roles and CSRF for ``/console``; the security headers on every response."""

    def __init__(
        self,
        app: ASGIApp,
        engine: Callable[[], Engine],
        home: Callable[[], Path],
        throttle: Throttle | None = None,
        body_timeout: float | None = None,
    ) -> None:
        self.app = app
        self._engine = engine
        self._home = home
        self._key: bytes | None = None
        self.throttle = throttle or Throttle()
        self.body_timeout = body_timeout

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = load_session_key(self._home())
        return self._key

    async def __call__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        allowed: frozenset[str],
        max_body: int,
    ) -> None:
        send = self._with_headers(send)
        client = client_address(scope)
        state = scope.setdefault("state", {})
        # sign-in needs the gate's session key: one key per process, read once, on demand
        state["session_key"] = lambda: self.key
        # a refused sign-in counts against the client's address
        state["auth_failed"] = lambda: self.throttle.failed(client)
        method: str = scope.get("method", "GET")
        path: str = scope.get("path", "")
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if method == "POST" and path == LOGIN_PATH:
            locked = self.throttle.retry_after(client)
            if locked is not None:
                await self._html(
                    send,
                    429,
                    "Too many attempts",
                    locked_message(client, locked) + ".",
                    ((b"retry-after", retry_after_header(locked).encode()),),
                )
                return
        session = None
        if allowed:
            cookie = cookie_value(headers, COOKIE_NAME)
            # no cookie, no session: the key (made on first use) is not needed to say so
            try:
                session = resume_session(self._engine(), self.key, cookie) if cookie else None
            except SQLAlchemyError as exc:
                log_unreachable(exc, f"checking a console session for {method} {path}")
                await self._html(
                    send,
                    503,
                    "Database unreachable",
                    MESSAGE_UNREACHABLE[0].upper() + MESSAGE_UNREACHABLE[1:] + ".",
                    ((b"retry-after", b"5"),),
                )
                return
            if session is None:
                if method in ("GET", "HEAD"):
                    target = path + (
                        "?" + scope["query_string"].decode("latin-1")
                        if scope.get("query_string")
                        else ""
                    )
                    await self._redirect(send, f"{LOGIN_PATH}?next={quote(target, safe='')}")
                else:
                    await self._html(send, 401, "Signed out", _MESSAGE_SIGNED_OUT)
                return
            if not session.principal.has_any(allowed):
                text = _MESSAGE_ROLES.format(
                    who=session.principal.roles_text(),
                    method=method,
                    path=path,
                    allowed=", ".join(sorted(allowed)),
                )
                await self._html(send, 403, "Not allowed", text)
                return
            state["principal"] = session.principal
            state["console_session"] = session
        if method == "POST":
            try:
                body = await read_body(receive, max_body, self.body_timeout)
            except BodyTimeout as exc:
                await self._html(
                    send,
                    408,
                    "Too slow",
                    f"The form did not arrive whole within {exc.seconds:g} seconds"
                    " (DOCKET_BODY_TIMEOUT_SECONDS). Send it again.",
                    ((b"connection", b"close"),),
                )
                return
            if body is None:
                await self._html(send, 413, "Too large", f"The form is over {max_body} bytes.")
                return
            offered = parse_qs(body.decode("utf-8", "replace")).get("csrf_token", [None])[0]
            if session is not None:
                good = csrf_matches(self.key, session.session_id, offered)
            else:  # the sign-in form: its token is the one in its own cookie
                expected = cookie_value(headers, LOGIN_CSRF_COOKIE)
                good = bool(expected and offered and hmac.compare_digest(expected, offered))
            if not good:
                await self._html(send, 403, "Form refused", _MESSAGE_CSRF)
                return
            receive = replay_body(body, receive)
        await self.app(scope, receive, send)

    @classmethod
    async def refuse(cls, send: Send, status: int, title: str, message: str) -> None:
        """A refusal page with the console's security headers, sent before any route runs."""
        await cls._html(cls._with_headers(send), status, title, message)

    @staticmethod
    def _with_headers(send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in names:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                else:
                    # a route's own policy may not drop the ban on framing by other sites
                    headers = [
                        (name, _with_frame_ancestors(value))
                        if name.lower() == b"content-security-policy"
                        else (name, value)
                        for name, value in headers
                    ]
                headers.extend(h for h in _HEADERS if h[0] not in names)
                message["headers"] = headers
            await send(message)

        return wrapped

    @staticmethod
    async def _redirect(send: Send, location: str) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    async def _html(
        send: Send,
        status: int,
        title: str,
        message: str,
        extra: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        data = _page(title, message)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(data)).encode()),
                    *extra,
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
