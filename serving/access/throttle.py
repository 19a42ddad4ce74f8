"""Brute force: a client that keeps presenting bad tokens is refused for a while.

What this module guarantees:

- Failures are counted per client address (the ASGI ``scope["client"]`` host) in
  a sliding window: after ``DOCKET_AUTH_MAX_FAILURES`` (default 10) failed
  authentications within ``DOCKET_AUTH_WINDOW_SECONDS`` (default 60), that address
  is locked out for ``DOCKET_AUTH_LOCKOUT_SECONDS`` (default 60). A failure is an
  unknown, malformed or revoked API key or personal token, or a refused console
  sign-in; a request without any token is not a guess and is not counted.
- During the lock-out the address is refused (429 with ``Retry-After``) even with
  a correct token: a guesser must not learn that a guess was right.
- Each lock-out is logged once, as a warning naming the address; never a token.
- Other addresses are never affected, and the table of addresses is bounded
  (:data:`MAX_CLIENTS`), so a flood of addresses cannot exhaust memory.

What it cannot do: the counts live in the memory of one worker process, so with
N workers a client may make up to N times the failures before every worker has
locked it out. Behind a reverse proxy every client has the proxy's address,
unless uvicorn rewrites the client from ``X-Forwarded-For``, which it does only
for a proxy listed in ``FORWARDED_ALLOW_IPS`` (uvicorn's default: 127.0.0.1 and ::1).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "MAX_CLIENTS",
    "Throttle",
    "ThrottleSettings",
    "locked_message",
    "retry_after_header",
]

logger = logging.getLogger("docket.access")

#: addresses tracked at most; past it, the oldest quiet ones are forgotten first
MAX_CLIENTS = 50_000

_MESSAGE_SETTING = "{name} must be {what}; got {got!r} instead"


def _number(name: str, default: float, *, whole: bool = False) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    what = "a whole number above 0" if whole else "a number of seconds above 0"
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        raise ValueError(_MESSAGE_SETTING.format(name=name, what=what, got=raw)) from None
    if not value > 0 or not math.isfinite(value):
        raise ValueError(_MESSAGE_SETTING.format(name=name, what=what, got=raw))
    return value


@dataclass(frozen=True)
class ThrottleSettings:
    """How many failures in how long lock a client out, and for how long."""

    max_failures: int = 10
    window_seconds: float = 60.0
    lockout_seconds: float = 60.0

    @classmethod
    def from_env(cls) -> ThrottleSettings:
        """``DOCKET_AUTH_MAX_FAILURES``, ``DOCKET_AUTH_WINDOW_SECONDS``, ``DOCKET_AUTH_LOCKOUT_SECONDS``."""
        return cls(
            max_failures=int(_number("DOCKET_AUTH_MAX_FAILURES", 10, whole=True)),
            window_seconds=_number("DOCKET_AUTH_WINDOW_SECONDS", 60.0),
            lockout_seconds=_number("DOCKET_AUTH_LOCKOUT_SECONDS", 60.0),
        )


@dataclass
class _Client:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


class Throttle:
    """Failed authentications per client address, and who is locked out until when."""

    def __init__(
        self,
        settings: ThrottleSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.settings = settings or ThrottleSettings.from_env()
        self._clock = clock
        self._max_clients = max_clients
        # insertion order is refreshed on every failure: the first entries are the quietest
        self._clients: dict[str, _Client] = {}

    def retry_after(self, client: str) -> float | None:
        """Seconds left of ``client``'s lock-out, or None when it may try."""
        found = self._clients.get(client)
        if found is None:
            return None
        left = found.locked_until - self._clock()
        return left if left > 0 else None

    def failed(self, client: str) -> bool:
        """Count a failed authentication; True when it starts a lock-out (logged once)."""
        now = self._clock()
        found = self._clients.pop(client, None) or _Client()
        self._clients[client] = found  # most recently active last
        if found.locked_until > now:
            return False  # already locked out: the lock-out is not extended by more guesses
        window_start = now - self.settings.window_seconds
        while found.failures and found.failures[0] <= window_start:
            found.failures.popleft()
        found.failures.append(now)
        if len(found.failures) < self.settings.max_failures:
            self._forget_quiet(now)
            return False
        found.failures.clear()
        found.locked_until = now + self.settings.lockout_seconds
        logger.warning(
            "client %s locked out for %.0f s after %d failed authentications within %.0f s",
            client,
            self.settings.lockout_seconds,
            self.settings.max_failures,
            self.settings.window_seconds,
        )
        return True

    def _forget_quiet(self, now: float) -> None:
        if len(self._clients) <= self._max_clients:
            return
        horizon = now - self.settings.window_seconds
        for address in list(self._clients):
            if len(self._clients) <= self._max_clients:
                return
            entry = self._clients[address]
            quiet = not entry.failures or entry.failures[-1] <= horizon
            if quiet and entry.locked_until <= now:
                del self._clients[address]
        # all of them active: forget the quietest rather than grow without bound
        while len(self._clients) > self._max_clients:
            oldest = next(iter(self._clients))
            if self._clients[oldest].locked_until > now:
                # a locked-out address is kept while any unlocked one can go instead
                unlocked = next(
                    (a for a, c in self._clients.items() if c.locked_until <= now), None
                )
                oldest = unlocked if unlocked is not None else oldest
            del self._clients[oldest]


def locked_message(client: str, seconds: float) -> str:
    """Why a locked-out client is refused, and for how long."""
    return (
        f"too many failed authentications from {client}: this address is refused for"
        f" {math.ceil(seconds)} more seconds, even with a correct token (see Retry-After)"
    )


def retry_after_header(seconds: float) -> str:
    """The ``Retry-After`` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
