"""The BentoML service: ``POST /decide`` plus the mounted FastAPI app for the other routes.

Started by ``docket serve`` (``bentoml serve serving.http.service:Docket``).
Every route is behind :class:`serving.access.Gatekeeper` (API-key roles from the
routes' own declarations, body limit), then :class:`IdempotencyLayer` (a retried
API POST with the same ``Idempotency-Key`` gets the first answer again). Routes reach the engine through the app
state; the service's shutdown hook stops the periodic reload and closes the ledger.
A second thread signs a ledger checkpoint every ``DOCKET_CHECKPOINT_SECONDS`` (and
the shutdown hook writes a last one); it never holds up a decision.

Prometheus metrics (``GET /metrics``, unless ``DOCKET_METRICS=0``) come from
:class:`serving.http.metrics.TrafficMetrics`, labelled by route template; BentoML's
own metrics stay off (its middleware labels by raw path: see that module).
``GET /docs.json`` is BentoML's document with ``POST /decide``'s real refusals
(:class:`DocketService`).
"""

from __future__ import annotations

import gc
import json
import logging
import os
import threading
from typing import TYPE_CHECKING, Any

import bentoml
from sqlalchemy.orm import Session
from starlette.responses import Response

from models.settings import Settings
from models.spec import DecisionSpec
from serving.access import Gatekeeper, Principal, RouteRule, ServiceError
from serving.access.idempotency import STATE_KEY, Answer, HeldKey, IdempotencyLayer
from serving.decisions import DecideRequest, DecisionEngine, DecisionView
from serving.decisions.errors import RegistryUnavailable
from serving.http.app import create_app
from serving.http.errors import error_response
from serving.http.examples import add_examples
from serving.http.metrics import TrafficMetrics, count_decision, metrics_enabled
from serving.http.responses import ErrorBody, json_errors
from serving.http.routers import ROUTERS
from serving.http.routes import route_table
from serving.http.slow_headers import header_timeout_seconds, install_header_timeout
from serving.ledger.checkpointing import Checkpointing, checkpoint_seconds
from serving.review import ReviewDesk, open_referral_case
from serving.review.retention import RetentionSchedule

if TYPE_CHECKING:
    from bentoml._internal.service.openapi.specification import OpenAPISpecification

logger = logging.getLogger("docket.serving")

routes_app = create_app()

#: who may ask for a decision, declared beside the API method below
DECIDE = RouteRule(
    "POST",
    "/decide",
    frozenset({"application", "admin"}),
    "a decision: outcome, status, score, versions, rationale, reasons, recourse, notice",
)


def _retention_periods(engine: DecisionEngine) -> dict[str, int]:
    periods = {}
    for use_case in engine.served_versions():
        retention = engine.served(use_case).spec.retention
        if retention is not None:
            periods[use_case] = retention.payload_days
    return periods


def _every(
    engine: DecisionEngine,
    desk: ReviewDesk,
    seconds: float,
    stop: threading.Event,
    retention: RetentionSchedule | None = None,
) -> None:
    """Periodic work: new champions, overdue cases (R24), and, daily, retention (R30)."""
    while not stop.wait(seconds):
        if retention is not None:
            try:
                report = retention.run_if_due()
                if report is not None and report.erased:
                    logger.info("retention: erased %d decisions' payloads", len(report.erased))
            except Exception:  # decisions go on; the next day tries again
                logger.exception("retention run failed")
        try:
            changed = engine.reload()["changed"]
            if changed:
                logger.info("switched to new champions: %s", changed)
        except RegistryUnavailable as exc:  # expected while the registry is away: no traceback
            logger.warning("periodic champion check: %s", exc)
        except Exception:  # keep serving the current champions
            logger.exception("periodic champion check failed")
        try:
            for escalation in desk.escalate_overdue():
                logger.warning("case %s escalated: overdue", escalation.case_id)
        except Exception:  # decisions go on; the next round tries again
            logger.exception("periodic escalation of overdue cases failed")


#: what ``POST /decide`` may refuse with, each an ErrorBody: the gatekeeper's refusals
#: (401, 403, 413, 415, 429) and the engine's (``serving.http.errors.STATUS``)
DECIDE_REFUSALS = (400, 401, 403, 404, 409, 413, 415, 429, 503)
_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


class DocketService(bentoml.Service[Any]):
    """BentoML's service, whose OpenAPI document shows ``POST /decide``'s real refusals.

    BentoML documents a BentoML API's errors as its own (400 with ``detail`` a
    string, 404, 500) and has no setting for them; ``bentoml.service`` takes the
    service class to build (``service_class``), and ``GET /docs.json`` answers this
    property, so the entry is corrected here, after BentoML has built the document.
    """

    @property
    def openapi_spec(self) -> OpenAPISpecification:
        spec = super().openapi_spec
        operation = spec.paths[DECIDE.path].post
        assert isinstance(operation, dict), "BentoML builds its API operations as dicts"
        for code, entry in json_errors(*DECIDE_REFUSALS).items():
            documented = {
                key: value for key, value in entry.items() if key in ("description", "headers")
            }
            documented["content"] = {"application/json": {"schema": _ERROR_REF}}
            operation["responses"][code] = documented
        # the mounted app's routes bring ErrorBody already; this keeps the $ref whole alone
        assert isinstance(spec.components, dict)
        spec.components["schemas"].setdefault("ErrorBody", ErrorBody.model_json_schema())
        # every JSON route's recorded example request and answers (serving.http.examples)
        add_examples(spec.paths)
        return spec


@bentoml.service(
    name="Docket",
    # BentoML's metrics off: its traffic middleware labels series by raw path, so they
    # grow with every id; serving.http.metrics records them by route template instead
    metrics={"enabled": False},
    traffic={"timeout": 30},
    service_class=DocketService,
)
@bentoml.asgi_app(routes_app, path="/")
class Docket:
    """Decisions about people with exact reasons, human review and a tamper-evident record."""

    def __init__(self) -> None:
        # uvicorn never times out slow request headers (slowloris): this worker does
        install_header_timeout(header_timeout_seconds())
        self.engine = DecisionEngine(Settings.from_env(), on_referred=open_referral_case)
        started = self.engine.start()
        logger.info("serving %s; not served: %s", started["served"], started["unserved"])
        self.desk = ReviewDesk(self.engine.log, spec_for=self._spec_for)
        self.checkpointing = Checkpointing.from_env(self.engine.log, self.engine.settings.home)
        routes_app.state.engine = self.engine
        routes_app.state.desk = self.desk
        routes_app.state.checkpointing = self.checkpointing
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        # personal payloads past their spec's period are erased daily (DOCKET_RETENTION_SECONDS)
        self.retention = RetentionSchedule(
            self.engine.log,
            lambda: _retention_periods(self.engine),
            float(os.environ.get("DOCKET_RETENTION_SECONDS", str(24 * 3600))),
        )
        every = float(os.environ.get("DOCKET_RELOAD_SECONDS", "30"))
        if every > 0:
            self._threads.append(
                threading.Thread(
                    target=_every,
                    args=(self.engine, self.desk, every, self._stop, self.retention),
                    daemon=True,
                )
            )
        # its own thread: a slow witness must not delay the champion check or escalations
        checkpoint_every = checkpoint_seconds()
        if checkpoint_every > 0 and self.checkpointing.signer is not None:
            self._threads.append(
                threading.Thread(
                    target=self.checkpointing.run,
                    args=(checkpoint_every, self._stop),
                    daemon=True,
                )
            )
        for thread in self._threads:
            thread.start()
        # Everything loaded so far (BentoML, MLflow, the models: ~450,000 objects) lives as
        # long as the worker; left in the collector's oldest generation, each full
        # collection walked all of it while a decision waited (223 ms, measured)
        gc.freeze()

    def _spec_for(self, use_case: str) -> DecisionSpec | None:
        try:
            return self.engine.served(use_case).spec
        except ServiceError:
            return None

    @bentoml.on_shutdown
    def shutdown(self) -> None:
        """Stop the periodic work, write a last checkpoint, release the ledger's connections."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.checkpointing.write()
        self.engine.close()

    @bentoml.api(route=DECIDE.path, input_spec=DecideRequest)
    def decide(self, ctx: bentoml.Context, **request: Any) -> Any:
        """Decide about one person: outcome, score, exact rationale, reasons, recourse, record."""
        principal: Principal = ctx.request.state.principal
        held: HeldKey | None = getattr(ctx.request.state, STATE_KEY, None)
        answered: list[bytes] = []

        def keep_answer(session: Session, view: DecisionView) -> None:
            # the Idempotency-Key's answer is written with the decision, or neither is;
            # the bytes stored are the bytes sent, so a replay is the same answer
            assert held is not None
            body = json.dumps(_shown(view)).encode()
            held.record(session, Answer(200, body, "application/json"))
            answered.append(body)

        try:
            view = self.engine.decide(
                DecideRequest.model_construct(**request),
                principal,
                also=keep_answer if held is not None else None,
            )
        except ServiceError as exc:
            response = error_response(exc)
            ctx.response.status_code = response.status_code
            return response
        count_decision(view)
        # bytes, not a dict: BentoML serialises a dict through a type adapter it builds (and
        # whose JSON schema it computes) on every request, a large part of the answer's cost
        body = answered[0] if answered else json.dumps(_shown(view)).encode()
        return Response(body, media_type="application/json")


def _shown(view: DecisionView) -> dict[str, Any]:
    """What ``POST /decide`` answers: the view without personal data and history."""
    return view.model_dump(mode="json", exclude={"history", "personal", "personal_erased"})


ROUTES = route_table(ROUTERS, DECIDE)
# BentoML builds the app's middleware in the order they are added, the first outermost:
# the metrics see every answer, the gatekeeper's refusals too (DOCKET_METRICS=0: none,
# and no /metrics); the idempotency layer runs inside the gatekeeper (it needs the
# principal and the body)
if metrics_enabled():
    Docket.add_asgi_middleware(TrafficMetrics, table=ROUTES)  # type: ignore[attr-defined]
Docket.add_asgi_middleware(Gatekeeper, table=ROUTES)  # type: ignore[attr-defined]
Docket.add_asgi_middleware(IdempotencyLayer)  # type: ignore[attr-defined]
