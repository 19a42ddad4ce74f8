"""Connections that do not finish sending their request headers in time are closed.

uvicorn, as BentoML runs it (h11), has no limit on the time a client takes to send
a request's headers: a client may hold a connection forever by sending nothing, or
a header line now and then (slowloris), and the ASGI layer never sees such a
request. BentoML offers no way to choose uvicorn's protocol class, so each worker
arms a timer on uvicorn's h11 protocol itself: from the moment a connection opens,
or its last response is complete, the client has ``DOCKET_HEADER_TIMEOUT_SECONDS``
(default 10) to send complete headers, or the connection is closed. A request
whose headers arrived is never cut by this timer; its body has its own limit
(``DOCKET_BODY_TIMEOUT_SECONDS``, :mod:`serving.access.bodies`).
"""

from __future__ import annotations

import logging
from typing import Any

from models.settings import positive_from_env

__all__ = ["header_timeout_seconds", "install_header_timeout"]

logger = logging.getLogger("docket.serving")

DEFAULT_SECONDS = 10.0
_ENV = "DOCKET_HEADER_TIMEOUT_SECONDS"


def header_timeout_seconds() -> float:
    """The limit from ``DOCKET_HEADER_TIMEOUT_SECONDS``; a bad value is named."""
    return positive_from_env(_ENV, DEFAULT_SECONDS, "seconds")


def _disarm(protocol: Any) -> None:
    timer = getattr(protocol, "_docket_header_timer", None)
    if timer is not None:
        timer.cancel()
        protocol._docket_header_timer = None


def _expire(protocol: Any) -> None:
    protocol._docket_header_timer = None
    cycle = protocol.cycle
    # no new request parsed since the timer was armed, and none in progress
    waiting = cycle is protocol._docket_header_cycle and (cycle is None or cycle.response_complete)
    if waiting and not protocol.transport.is_closing():
        logger.info(
            "closed a connection from %s: no complete request headers in time", protocol.client
        )
        protocol.transport.close()


def _arm(protocol: Any, seconds: float) -> None:
    _disarm(protocol)
    protocol._docket_header_cycle = protocol.cycle
    protocol._docket_header_timer = protocol.loop.call_later(seconds, _expire, protocol)


def install_header_timeout(seconds: float) -> bool:
    """Arm the header timer on uvicorn's h11 protocol (once per process); False if absent."""
    try:
        from uvicorn.protocols.http.h11_impl import H11Protocol
    except ImportError:  # pragma: no cover - uvicorn is a BentoML dependency
        return False
    protocol_class: Any = H11Protocol
    if getattr(protocol_class, "_docket_header_seconds", None) is not None:
        protocol_class._docket_header_seconds = seconds
        return True
    protocol_class._docket_header_seconds = seconds
    made, received = protocol_class.connection_made, protocol_class.data_received
    complete, lost = protocol_class.on_response_complete, protocol_class.connection_lost

    def connection_made(self: Any, transport: Any) -> None:
        made(self, transport)
        _arm(self, protocol_class._docket_header_seconds)

    def data_received(self: Any, data: bytes) -> None:
        received(self, data)
        if self.cycle is not getattr(self, "_docket_header_cycle", None):
            _disarm(self)  # a request's headers are complete

    def on_response_complete(self: Any) -> None:
        complete(self)
        if not self.transport.is_closing() and (self.cycle is None or self.cycle.response_complete):
            _arm(self, protocol_class._docket_header_seconds)

    def connection_lost(self: Any, exc: Exception | None) -> None:
        _disarm(self)
        lost(self, exc)

    protocol_class.connection_made = connection_made
    protocol_class.data_received = data_received
    protocol_class.on_response_complete = on_response_complete
    protocol_class.connection_lost = connection_lost
    return True
