"""Prometheus metrics: traffic by route template, decisions, the review queue, alerts.

``GET /metrics`` is a route like any other, declared with its roles (``auditor``,
``admin``, and the ``monitoring`` API-key role, which may read nothing else), so
the gatekeeper refuses it without a key (401) or with a key of another role (403).
A Prometheus server scrapes it with ``authorization: {type: Bearer,
credentials_file: ...}`` holding a ``monitoring`` key (``deploy/prometheus.yml``).

Series (every label set is bounded: route templates, use cases, outcomes, statuses,
alert kinds; never an id):

- ``docket_http_requests_total{endpoint, method, status}``
- ``docket_http_request_duration_seconds{endpoint, method, status}`` (histogram)
- ``docket_http_requests_in_progress{endpoint, method}``
- ``docket_decisions_total{use_case, outcome}``: decisions ``POST /decide`` answered
  (:func:`count_decision`; a replayed ``Idempotency-Key`` answer is not a new decision)
- ``docket_review_cases{use_case, kind, status}``: cases waiting (every status but
  ``resolved``, a lapsed claim counted as open or escalated, as the queue shows it)
- ``docket_review_oldest_case_age_seconds{use_case, kind, status}``: the oldest of them
- ``docket_review_cases_overdue{use_case, kind}``: waiting cases past their deadline
- ``docket_monitoring_alert{use_case, kind, what, subject, group, window}``: 1 while the
  alert is raised, 0 once cleared (the latest ledger entry of each alert,
  :mod:`serving.monitoring.state`); alerts that differ only by reviewer share one
  series (reviewer ids are no labels), raised if any of them is
- ``docket_metrics_source_up{source}``: 1 if the review queue (``review_queue``) or the
  alerts (``alerts``) could be read at this scrape, 0 if not (their series are then
  left out rather than shown stale)

The queue and the alerts are read from the database at scrape time by the worker
that answers the scrape, so they are the same whichever worker it is. Traffic and
decision counts are counted where they happen:

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
statuses. A path that matches no route is ``endpoint="unmatched"``; a method outside
the standard ones is ``method="other"`` (clients choose both). ``GET /metrics`` itself
is not counted (each scrape would add its own series). ``docket serve`` (BentoML)
runs the workers with ``PROMETHEUS_MULTIPROC_DIR`` set whether or not its own metrics
are on, so the counters are written to per-process files and ``/metrics`` sums them
over all workers (``prometheus_client``'s multiprocess mode); without that variable
(a single process) they live in one registry of the process.

With ``DOCKET_METRICS=0`` nothing is recorded and ``/metrics`` answers 404 (after the
gatekeeper: without a key it is still 401).

Not counted: requests BentoML refuses before the service's middlewares run (its
concurrency limit's 503, its timeout's answer); a request cut off by the timeout
leaves the in-progress gauge but records no status.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from serving.access import allow
from serving.access.roles import RouteTable
from serving.ledger import DecisionLog, LogError
from serving.ledger.times import parse, stamp, utc_now
from serving.review.queue import WAITING, _effective
from serving.review.schema import CaseRow

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import GaugeMetricFamily

    from serving.decisions import DecisionView
    from serving.monitoring.state import AlertState

__all__ = [
    "METRICS_PATH",
    "METRICS_ROLES",
    "UNMATCHED",
    "TrafficMetrics",
    "count_decision",
    "metrics_enabled",
    "router",
    "scrape_families",
]

logger = logging.getLogger("docket.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

METRICS_PATH = "/metrics"
#: who may read ``/metrics``: auditors, admins, and a key made for Prometheus alone
METRICS_ROLES = ("auditor", "admin", "monitoring")
#: the endpoint label of a request whose path and method match no route
UNMATCHED = "unmatched"
#: methods kept as their own label; any other is "other"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_MESSAGE_OFF = "metrics are off: the service runs with DOCKET_METRICS=0"


def metrics_enabled() -> bool:
    """Whether the service records metrics and answers ``/metrics`` (``DOCKET_METRICS`` not 0)."""
    return os.environ.get("DOCKET_METRICS", "1") != "0"


@dataclass(frozen=True)
class _Instruments:
    registry: CollectorRegistry
    total: Counter
    duration: Histogram
    in_progress: Gauge
    decisions: Counter


_made: _Instruments | None = None
_making = threading.Lock()


def _instruments() -> _Instruments:
    """The process's instruments, made at first use (the middleware and the decisions share them)."""
    global _made
    if _made is not None:
        return _made
    with _making:
        if _made is None:
            _made = _make_instruments()
    return _made


def _make_instruments() -> _Instruments:
    # prometheus_client chooses between in-memory and per-process-file values when
    # first imported, from PROMETHEUS_MULTIPROC_DIR: import it in the worker, at the
    # first request, never when the service module is imported
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    # a registry of our own: no clash with anything in the global one
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
        decisions=Counter(
            "docket_decisions",
            "Decisions POST /decide answered, by use case and outcome",
            ("use_case", "outcome"),
            registry=registry,
        ),
    )


def count_decision(view: DecisionView) -> None:
    """Count one decision ``POST /decide`` answered (nothing when metrics are off)."""
    if metrics_enabled():
        _instruments().decisions.labels(view.use_case, view.outcome).inc()


# -- read at scrape time ---------------------------------------------------------------


def _queue_families(log: DecisionLog, now: datetime) -> list[GaugeMetricFamily]:
    from prometheus_client.metrics_core import GaugeMetricFamily

    now_text = stamp(now)
    # the queue's own notion of status: a claim whose lease ran out is waiting again
    status = _effective(now_text).label("status")
    query = (
        select(
            CaseRow.use_case,
            CaseRow.kind,
            status,
            func.count(),
            func.min(CaseRow.created_at),
        )
        .where(CaseRow.status != "resolved")
        .group_by(CaseRow.use_case, CaseRow.kind, status)
    )
    overdue_query = (
        select(CaseRow.use_case, CaseRow.kind, func.count())
        .where(CaseRow.status != "resolved", CaseRow.deadline < now_text)
        .group_by(CaseRow.use_case, CaseRow.kind)
    )
    with Session(log.engine) as session:
        rows = session.execute(query).all()
        late = session.execute(overdue_query).all()
    cases = GaugeMetricFamily(
        "docket_review_cases",
        "Review cases waiting, by use case, kind (referral, appeal) and status",
        labels=("use_case", "kind", "status"),
    )
    oldest = GaugeMetricFamily(
        "docket_review_oldest_case_age_seconds",
        "Age of the oldest waiting review case, by use case, kind and status, in seconds",
        labels=("use_case", "kind", "status"),
    )
    for use_case, kind, shown, count, first in rows:
        if shown not in WAITING:
            continue
        cases.add_metric((use_case, kind, shown), float(count))
        oldest.add_metric((use_case, kind, shown), max(0.0, (now - parse(first)).total_seconds()))
    overdue = GaugeMetricFamily(
        "docket_review_cases_overdue",
        "Review cases waiting past their deadline, by use case and kind",
        labels=("use_case", "kind"),
    )
    for use_case, kind, count in late:
        overdue.add_metric((use_case, kind), float(count))
    return [cases, oldest, overdue]


def _alert_family(log: DecisionLog) -> GaugeMetricFamily:
    from prometheus_client.metrics_core import GaugeMetricFamily

    from serving.monitoring.state import alert_entries

    # the latest entry of each alert says whether it is raised (the ledger is the state)
    latest: dict[tuple[str, str], AlertState] = {}
    for entry in alert_entries(log):
        latest[(entry.use_case, entry.key)] = entry
    series: dict[tuple[str, ...], float] = {}
    for entry in latest.values():
        labels = (
            entry.use_case,
            entry.kind,
            entry.what,
            entry.subject,
            entry.group,
            entry.window_kind,
        )
        raised = 1.0 if entry.state == "raised" else 0.0
        series[labels] = max(series.get(labels, 0.0), raised)
    family = GaugeMetricFamily(
        "docket_monitoring_alert",
        "Monitoring alerts: 1 while raised, 0 once cleared (the latest ledger entry of each)",
        labels=("use_case", "kind", "what", "subject", "group", "window"),
    )
    for shown, value in sorted(series.items()):
        family.add_metric(shown, value)
    return family


def scrape_families(log: DecisionLog, now: datetime | None = None) -> list[GaugeMetricFamily]:
    """The series read from the database at scrape time: review queue, alerts, whether read."""
    from prometheus_client.metrics_core import GaugeMetricFamily

    moment = now or utc_now()
    out: list[GaugeMetricFamily] = []
    up = GaugeMetricFamily(
        "docket_metrics_source_up",
        "1 if the source could be read at this scrape, 0 if not (its series are left out)",
        labels=("source",),
    )
    readers: tuple[tuple[str, Callable[[], list[GaugeMetricFamily]]], ...] = (
        ("review_queue", lambda: _queue_families(log, moment)),
        ("alerts", lambda: [_alert_family(log)]),
    )
    for source, read in readers:
        try:
            out.extend(read())
        except (SQLAlchemyError, LogError) as error:
            # a scrape must still show the traffic; the driver's message may hold the URL
            logger.error("/metrics: %s not read (%s)", source, type(error).__name__)
            up.add_metric((source,), 0.0)
        else:
            up.add_metric((source,), 1.0)
    out.append(up)
    return out


class _Families:
    """A collector of families already read (``generate_latest`` takes a registry)."""

    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        return iter(self.families)


def _exposition(log: DecisionLog) -> tuple[bytes, str]:
    """The text format of every worker's counters (multiprocess mode) and the scrape-time series."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    if os.environ.get(_MULTIPROC_ENV):
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
    else:
        counted = _instruments().registry
    read = CollectorRegistry()
    read.register(_Families(scrape_families(log)))  # type: ignore[arg-type]
    return generate_latest(counted) + generate_latest(read), CONTENT_TYPE_LATEST


router = APIRouter(tags=["metrics"])


@router.get(
    METRICS_PATH,
    summary="Prometheus metrics: traffic by route, decisions by outcome, review queue size and age, alert states (404 when the service runs with `DOCKET_METRICS=0`)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "the Prometheus text format"},
        404: {"description": "metrics are off (`DOCKET_METRICS=0`)"},
    },
)
@allow(*METRICS_ROLES)
def metrics(request: Request) -> Response:
    # a plain def: FastAPI runs it in a thread, and reading files and the database blocks
    if not metrics_enabled():
        return Response(
            f'{{"error": "{_MESSAGE_OFF}"}}', status_code=404, media_type="application/json"
        )
    # the engine the service put in the app state (not serving.http.routers.deps: the
    # routers' package imports this module)
    engine = getattr(request.app.state, "engine", None)
    assert engine is not None, "the service has not started its engine"
    body, content_type = _exposition(engine.log)
    return Response(body, media_type=content_type)


class TrafficMetrics:
    """ASGI middleware: count and time each HTTP request by route template."""

    def __init__(self, app: ASGIApp, table: RouteTable) -> None:
        self.app = app
        self.table = table

    def labels(self, method: str, path: str) -> tuple[str, str]:
        """The (endpoint, method) labels of a request: its route's template, a bounded method."""
        rule = self.table.lookup(method, path)
        shown = method if method in _METHODS else "other"
        return (UNMATCHED if rule is None else rule.path), shown

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == METRICS_PATH:
            await self.app(scope, receive, send)
            return
        made = _instruments()
        method: str = scope["method"]
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
