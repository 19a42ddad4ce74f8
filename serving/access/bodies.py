"""Request bodies read whole, within a size limit and a time limit, before any route sees them.

Reading the body up front lets the gate answer 413 itself, whether or not the
client sent ``Content-Length`` (a chunked body has none): a route never starts
on a body it would have to abandon half way. The time limit
(``DOCKET_BODY_TIMEOUT_SECONDS``, default 10) cuts off a client that announces a
body and then sends it slowly or not at all, so it cannot hold a request open.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from models.settings import positive_from_env

__all__ = ["BodyTimeout", "body_timeout_seconds", "read_body", "replay_body"]

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

#: how long a client may take to send its whole body, unless configured
DEFAULT_BODY_TIMEOUT_SECONDS = 10.0


class BodyTimeout(Exception):
    """The body did not arrive whole within ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} s")
        self.seconds = seconds


def body_timeout_seconds() -> float:
    """``DOCKET_BODY_TIMEOUT_SECONDS`` (default 10)."""
    return positive_from_env("DOCKET_BODY_TIMEOUT_SECONDS", DEFAULT_BODY_TIMEOUT_SECONDS, "seconds")


async def read_body(receive: Receive, limit: int, timeout: float | None = None) -> bytes | None:
    """The whole body, or None as soon as it passes ``limit`` bytes.

    Raises :class:`BodyTimeout` when the whole body takes longer than ``timeout`` seconds.
    """
    if timeout is None:
        return await _read(receive, limit)
    try:
        async with asyncio.timeout(timeout):
            return await _read(receive, limit)
    except TimeoutError:
        raise BodyTimeout(timeout) from None


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replay_body(body: bytes, then: Receive) -> Receive:
    """A receive that gives the app ``body`` in one message, then what ``then`` gives."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await then()

    return receive
