"""ASGI middleware in front of every route: body size limit, authentication and roles.

An application's API key (``dk_...``) or a person's token (``dp_...``) comes as
``Authorization: Bearer <token>`` or ``X-API-Key: <token>``. A route without
one gets 401, a principal holding none of the route's roles 403; the roles come
from the :class:`~serving.access.roles.RouteTable` the HTTP layer builds from
the routes' own declarations, and open routes (health, API docs) need none. The
authenticated principal is put in ``scope["state"]["principal"]``. Paths under
``/console`` are handed to :class:`~serving.access.console_gate.ConsoleGate`
(session cookies, CSRF, security headers).

A verified API key is trusted for ``DOCKET_KEY_CACHE_SECONDS`` (default 5), so
a revocation takes effect within that time. A person's token is never cached:
disabling a person refuses their very next request.

Hostile clients:

- A body must arrive whole within ``DOCKET_BODY_TIMEOUT_SECONDS`` (default 10),
  else 408 and the connection is closed (:mod:`serving.access.bodies`).
- A client address that presents too many bad tokens is refused with 429 for a
  while, even with a good token (:mod:`serving.access.throttle`; per worker).
- When the database cannot be reached to check a token the answer is 503, never
  500, and neither the answer nor the log carries the database URL
  (:mod:`serving.access.outages`).
- BentoML's log line for a ``/decide`` body its model refuses keeps no values
  (:mod:`serving.access.redaction`).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from models.settings import Settings
from serving.access.bodies import BodyTimeout, body_timeout_seconds, read_body, replay_body
from serving.access.console_gate import CONSOLE_PREFIX, ConsoleGate, client_address
from serving.access.keys import Principal, authenticate
from serving.access.outages import MESSAGE_UNREACHABLE, log_unreachable
from serving.access.people import TOKEN_PREFIX, authenticate_person
from serving.access.redaction import redact_validation_errors
from serving.access.roles import RouteTable
from serving.access.throttle import Throttle, locked_message, retry_after_header
from serving.ledger import create_log_engine

#: the largest request body accepted (a decision request is a few hundred bytes)
MAX_BODY_BYTES = 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _reply(
    send: Send,
    status: int,
    body: dict[str, Any],
    extra: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *extra,
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


def _key_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name == b"x-api-key":
            return value.decode("latin-1").strip()
        if name == b"authorization":
            text = value.decode("latin-1").strip()
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return None


class Gatekeeper:
    """Size limit and authentication for every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        table: RouteTable,
        max_body: int = MAX_BODY_BYTES,
        engine: Engine | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.app = app
        self.table = table
        self.max_body = max_body
        self.body_timeout = body_timeout_seconds()
        # BentoML would log refused /decide bodies, values included
        redact_validation_errors()
        # failed authentications per client address, shared with the console's sign-in
        self.throttle = throttle or Throttle()
        # the service passes none: the database is found from the environment when first needed
        self._engine = engine
        # a verified key is trusted for a few seconds, so a revocation takes effect
        # within DOCKET_KEY_CACHE_SECONDS; 0 checks the database on every request
        self._ttl = float(os.environ.get("DOCKET_KEY_CACHE_SECONDS", "5"))
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._console = ConsoleGate(
            app,
            engine=lambda: self.engine,
            home=self._home,
            throttle=self.throttle,
            body_timeout=self.body_timeout,
        )

    @staticmethod
    def _home() -> Path:
        return Settings.from_env().home

    def _authenticate(self, key: str) -> Principal | None:
        if key.startswith(f"{TOKEN_PREFIX}_"):
            # never cached: a disabled person is refused on their very next request
            return authenticate_person(self.engine, key)
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        principal = authenticate(self.engine, key)
        if principal is not None and self._ttl > 0:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key] = (now, principal)
        return principal

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = create_log_engine(Settings.from_env().database_url)
        return self._engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
            # BentoML's router never matches such a path and would answer a bare text 404
            message = (
                "no route matches a path holding control characters (line breaks, tabs);"
                f" got {path[:80]!r}"
            )
            if path.startswith(f"{CONSOLE_PREFIX}/"):
                await ConsoleGate.refuse(send, 404, "Not found", message[0].upper() + message[1:])
            else:
                await _reply(send, 404, {"error": message})
            return
        for name, value in headers:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_body:
                await _reply(
                    send,
                    413,
                    {
                        "error": f"request body is {int(value)} bytes; the limit is {self.max_body} bytes"
                    },
                )
                return
        allowed = self.table.roles_for(method, path)
        if path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/"):
            # the console signs people in with a session cookie, not a bearer token
            await self._console(scope, receive, send, allowed, self.max_body)
            return
        if not allowed:  # an open route
            await self.app(scope, receive, send)
            return
        client = client_address(scope)
        locked = self.throttle.retry_after(client)
        if locked is not None:
            await _reply(send, 429, {"error": locked_message(client, locked)}, _retry(locked))
            return
        key = _key_from(headers)
        if not key:
            await _reply(
                send,
                401,
                {
                    "error": "an API key or a personal token is required: send"
                    " 'Authorization: Bearer <token>' or 'X-API-Key: <token>'"
                },
            )
            return
        try:
            principal = self._authenticate(key)
        except SQLAlchemyError as exc:
            log_unreachable(exc, f"authenticating {method} {path}")
            await _reply(send, 503, {"error": MESSAGE_UNREACHABLE}, ((b"retry-after", b"5"),))
            return
        if principal is None:
            if self.throttle.failed(client):
                locked = self.throttle.retry_after(client) or 0.0
                await _reply(send, 429, {"error": locked_message(client, locked)}, _retry(locked))
                return
            await _reply(
                send,
                401,
                {
                    "error": "the API key or personal token is unknown or revoked, or its person is disabled"
                },
            )
            return
        if not principal.has_any(allowed):
            await _reply(
                send,
                403,
                {
                    "error": f"{principal.roles_text()} may not {method} {path};"
                    f" allowed roles: {sorted(allowed)}"
                },
            )
            return
        scope.setdefault("state", {})["principal"] = principal
        if method in _WITH_BODY:
            # read whole here: a chunked body has no Content-Length to refuse it by
            try:
                body = await read_body(receive, self.max_body, self.body_timeout)
            except BodyTimeout:
                await _reply(
                    send,
                    408,
                    {
                        "error": "the request body did not arrive whole within"
                        f" {self.body_timeout:g} s (DOCKET_BODY_TIMEOUT_SECONDS);"
                        " send the body at once with the headers"
                    },
                    ((b"connection", b"close"),),
                )
                return
            if body is None:
                await _reply(
                    send,
                    413,
                    {
                        "error": f"request body is over the limit of {self.max_body} bytes"
                        " (sent without Content-Length)"
                    },
                )
                return
            media = _content_type(headers)
            if body and not _is_json(media):
                await _reply(
                    send,
                    415,
                    {
                        "error": "header 'Content-Type' must be 'application/json' for a request"
                        f" body; got {media or '(none)'!r}"
                    },
                )
                return
            receive = replay_body(body, receive)
        await self.app(scope, receive, send)


def _retry(seconds: float) -> tuple[tuple[bytes, bytes], ...]:
    return ((b"retry-after", retry_after_header(seconds).encode()),)


def _content_type(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name == b"content-type":
            return value.decode("latin-1").strip()
    return ""


def _is_json(media: str) -> bool:
    """``application/json`` or a ``+json`` type, with any parameters (charset)."""
    kind = media.split(";", 1)[0].strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


#: methods whose bodies routes read
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
