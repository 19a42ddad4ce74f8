"""ASGI middleware in front of every route: body size limit and API-key roles.

Keys come as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. A route
without a key gets 401, a key of the wrong role 403; health and docs routes are
open. The authenticated principal is put in ``scope["state"]["principal"]``.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from sqlalchemy.engine import Engine

from models.settings import Settings
from serving.keys import Principal, authenticate
from serving.log import create_log_engine
from serving.validation import MAX_BODY_BYTES

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

OPEN_PATHS = {"/readyz", "/livez", "/healthz", "/docs.json", "/docs", "/metrics", "/"}
ALL_ROLES = {"application", "reviewer", "auditor", "admin"}

# (method, path pattern) -> roles allowed; the first match wins
ROUTE_ROLES: list[tuple[str, re.Pattern[str], set[str]]] = [
    ("POST", re.compile(r"^/decide$"), {"application", "admin"}),
    ("GET", re.compile(r"^/decisions/[^/]+$"), ALL_ROLES),
    ("GET", re.compile(r"^/admin/status$"), {"admin", "auditor"}),
    ("POST", re.compile(r"^/admin/(reload|stop|resume)$"), {"admin"}),
    ("GET", re.compile(r"^/log/verify$"), {"auditor", "admin"}),
]


async def _reply(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
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


def roles_for(method: str, path: str) -> set[str] | None:
    for m, pattern, roles in ROUTE_ROLES:
        if m == method and pattern.match(path):
            return roles
    return None


class Gatekeeper:
    """Size limit and authentication for every HTTP request."""

    def __init__(self, app: ASGIApp, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body = max_body
        self._engine: Engine | None = None
        # a verified key is trusted for a few seconds, so a revocation takes effect
        # within DOCKET_KEY_CACHE_SECONDS; 0 checks the database on every request
        self._ttl = float(os.environ.get("DOCKET_KEY_CACHE_SECONDS", "5"))
        self._cache: dict[str, tuple[float, Principal]] = {}

    def _authenticate(self, key: str) -> Principal | None:
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
        if path in OPEN_PATHS or path.startswith("/static"):
            await self.app(scope, receive, send)
            return
        key = _key_from(headers)
        if not key:
            await _reply(
                send,
                401,
                {
                    "error": "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
                },
            )
            return
        principal = self._authenticate(key)
        if principal is None:
            await _reply(send, 401, {"error": "the API key is unknown or revoked"})
            return
        allowed = roles_for(method, path)
        if allowed is None:
            allowed = {"admin"}
        if principal.role not in allowed:
            await _reply(
                send,
                403,
                {
                    "error": f"role {principal.role!r} may not {method} {path};"
                    f" allowed roles: {sorted(allowed)}"
                },
            )
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, self._limited(receive, send), send)

    def _limited(self, receive: Receive, send: Send) -> Receive:
        seen = 0
        limit = self.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return wrapped


class BodyTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"request body exceeds the limit of {limit} bytes")
