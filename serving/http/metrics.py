"""Prometheus traffic metrics labelled by route template, and ``GET /metrics``.

Why Docket records its own traffic metrics: BentoML 1.4's traffic middleware
(``RunnerTrafficMetricsMiddleware``, which BentoML adds outside the service's own
middlewares whenever its metrics are enabled) labels every series with the raw
request path. Each ``/decisions/{id}``, ``/cases/{id}/claim``, ... then adds about
20 series (histogram buckets, sum, count, total, in progress) that are never
dropped: memory and ``/metrics`` grow with every distinct id (a 3-minute soak:
34,202 series for 1,710 paths, RSS +11 to +15 MiB a minute). No BentoML setting
turns that middleware off while keeping ``/metrics`` (both hang on one
``metrics.enabled``; its ``skip_paths`` only spares the last-request timestamp),
and it runs before any middleware of ours, so the path cannot be rewritten for it.

So the service turns BentoML's metrics off (``metrics={"enabled": False}``) and adds
:class:`TrafficMetrics` as its outermost middleware when ``DOCKET_METRICS`` is not
``0``. It labels each request by the template of the route that answers it, taken
from the service's own :class:`~serving.access.roles.RouteTable` (the table the
gatekeeper enforces), so the number of series is bounded by routes x methods x
statuses:

- ``docket_http_requests_total{endpoint, method, status}``
- ``docket_http_request_duration_seconds{endpoint, method, status}`` (histogram)
- ``docket_http_requests_in_progress{endpoint, method}``

A path that matches no route is ``endpoint="unmatched"``; a method outside the
standard ones is ``method="other"`` (clients choose both). ``GET /metrics`` itself is
answered here and not counted. ``docket serve`` (BentoML) runs the workers with
``PROMETHEUS_MULTIPROC_DIR`` set whether or not its own metrics are on, so the
series are written to per-process files and ``/metrics`` sums them over all workers
(``prometheus_client``'s multiprocess mode); without that variable (a single process)
they live in a registry of this middleware.

Not counted: requests BentoML refuses before the service's middlewares run (its
concurrency limit's 503, its timeout's answer); a request cut off by the timeout
leaves the in-progress gauge but records no status.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio.to_thread

from serving.access.roles import RouteTable

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["METRICS_PATH", "UNMATCHED", "TrafficMetrics", "metrics_enabled"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

METRICS_PATH = "/metrics"
#: the endpoint label of a request whose path and method match no route
UNMATCHED = "unmatched"
#: methods kept as their own label; any other is "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def metrics_enabled() -> bool:
    """Whether the service records metrics and answers ``/metrics`` (``DOCKET_METRICS`` not 0)."""
    return os.environ.get("DOCKET_METRICS", "1") != "0"


@dataclass(frozen=True)
class _Instruments:
    registry: CollectorRegistry
    total: Counter
    duration: Histogram
    in_progress: Gauge


def _instruments() -> _Instruments:
    # prometheus_client chooses between in-memory and per-process-file values when
    # first imported, from PROMETHEUS_MULTIPROC_DIR: import it in the worker, at the
    # first request, never when the service module is imported
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    # a registry of our own: no clash with anything in the global one, and a second
    # middleware instance (tests) can make the same metrics again
    registry = CollectorRegistry()
    labels = ("endpoint", "method", "status")
    return _Instruments(
        registry=registry,
        total=Counter(
            "docket_http_requests",
            "HTTP requests answered, by route template, method and status",
            labels,
            registry=registry,
        ),
        duration=Histogram(
            "docket_http_request_duration_seconds",
            "Time from the request to the end of its answer, in seconds",
            labels,
            registry=registry,
        ),
        in_progress=Gauge(
            "docket_http_requests_in_progress",
            "HTTP requests being answered now",
            ("endpoint", "method"),
            registry=registry,
            multiprocess_mode="livesum",
        ),
    )


def _exposition(own: CollectorRegistry) -> tuple[bytes, str]:
    """The text format of every worker's series (multiprocess mode), else of ``own``."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if not os.environ.get(_MULTIPROC_ENV):
        return generate_latest(own), CONTENT_TYPE_LATEST
    merged = CollectorRegistry()
    MultiProcessCollector(merged)
    return generate_latest(merged), CONTENT_TYPE_LATEST


class TrafficMetrics:
    """ASGI middleware: count and time each HTTP request by route template; serve ``/metrics``."""

    def __init__(self, app: ASGIApp, table: RouteTable) -> None:
        self.app = app
        self.table = table
        self._made: _Instruments | None = None

    def labels(self, method: str, path: str) -> tuple[str, str]:
        """The (endpoint, method) labels of a request: its route's template, a bounded method."""
        rule = self.table.lookup(method, path)
        shown = method if method in _METHODS else "other"
        return (UNMATCHED if rule is None else rule.path), shown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._made is None:
            self._made = _instruments()
        made = self._made
        method: str = scope["method"]
        if scope["path"] == METRICS_PATH and method in ("GET", "HEAD"):
            await self._answer_metrics(made, method, send)
            return
        endpoint, method_label = self.labels(method, scope["path"])
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = time.perf_counter()
        in_progress = made.in_progress.labels(endpoint, method_label)
        in_progress.inc()
        try:
            await self.app(scope, receive, watch)
        except Exception:
            # the server answers an escaped error with 500 (unless it had begun answering)
            status = status or 500
            raise
        finally:
            in_progress.dec()
            if status:
                elapsed = time.perf_counter() - started
                made.total.labels(endpoint, method_label, str(status)).inc()
                made.duration.labels(endpoint, method_label, str(status)).observe(elapsed)

    async def _answer_metrics(self, made: _Instruments, method: str, send: Send) -> None:
        # reading every worker's files is blocking work: off the event loop
        body, content_type = await anyio.to_thread.run_sync(_exposition, made.registry)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", content_type.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else body})
