"""The BentoML service: ``POST /decide`` plus a mounted FastAPI app for the other routes.

Started by ``docket serve`` (``bentoml serve serving.service:Docket``). Every
route is behind :class:`serving.gate.Gatekeeper` (API-key roles, body limit).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import bentoml
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from models.settings import Settings
from serving.engine import DecisionEngine, DecisionError
from serving.gate import Gatekeeper
from serving.keys import Principal
from serving.validation import DecideRequest, InvalidFeatures

logger = logging.getLogger("docket.serving")

extra = FastAPI(title="Docket routes", docs_url=None, redoc_url=None, openapi_url=None)
_engine_holder: dict[str, DecisionEngine] = {}


def engine() -> DecisionEngine:
    return _engine_holder["engine"]


def _principal(request: Any) -> Principal:
    return request.state.principal  # type: ignore[no-any-return]


def error_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidFeatures):
        return JSONResponse(
            {
                "error": str(exc).split(":", 1)[0],
                "detail": [p.model_dump(mode="json") for p in exc.problems],
            },
            status_code=400,
        )
    if isinstance(exc, DecisionError):
        return JSONResponse(exc.body(), status_code=exc.status)
    raise exc


class SwitchRequest(BaseModel):
    use_case: str = Field(min_length=1)
    reason: str = Field(min_length=5, max_length=2000)


@extra.exception_handler(DecisionError)
async def _decision_error(_: Request, exc: DecisionError) -> JSONResponse:
    return error_response(exc)


@extra.get("/decisions/{decision_id}")
def get_decision(
    decision_id: str, request: Request, purpose: str | None = None, personal: bool = False
) -> dict[str, Any]:
    """A decision with its rationale; the person's data only with a stated purpose (logged)."""
    who = _principal(request)
    return engine().get_decision(
        decision_id, reader=who.name, role=who.role, purpose=purpose, personal=personal
    )


@extra.post("/admin/reload")
def reload_models() -> dict[str, Any]:
    """Switch every use case to its current champion without dropping requests."""
    return engine().reload()


@extra.get("/admin/status")
def status() -> dict[str, Any]:
    e = engine()
    return {**e.status(), "stopped": e.switches()}


@extra.post("/admin/stop")
def stop(body: SwitchRequest, request: Request) -> dict[str, Any]:
    """Stop automated decisions for a use case: every request is referred to a human."""
    return engine().set_stopped(body.use_case, True, _principal(request).name, body.reason)


@extra.post("/admin/resume")
def resume(body: SwitchRequest, request: Request) -> dict[str, Any]:
    return engine().set_stopped(body.use_case, False, _principal(request).name, body.reason)


@extra.get("/log/verify")
def verify_log() -> dict[str, Any]:
    return engine().log.verify().to_dict()


def _reload_every(seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        try:
            changed = engine().reload()["changed"]
            if changed:
                logger.info("switched to new champions: %s", changed)
        except Exception:  # keep serving the current champions
            logger.exception("periodic champion check failed")


@bentoml.service(
    name="Docket",
    metrics={"enabled": os.environ.get("DOCKET_METRICS", "0") == "1"},
    traffic={"timeout": 30},
)
@bentoml.asgi_app(extra, path="/")
class Docket:
    """Decisions about people with exact reasons, human review and a tamper-evident record."""

    def __init__(self) -> None:
        self.engine = DecisionEngine(Settings.from_env())
        started = self.engine.start()
        logger.info("serving %s; not served: %s", started["served"], started["unserved"])
        _engine_holder["engine"] = self.engine
        self._stop = threading.Event()
        every = float(os.environ.get("DOCKET_RELOAD_SECONDS", "30"))
        if every > 0:
            threading.Thread(target=_reload_every, args=(every, self._stop), daemon=True).start()

    @bentoml.api(route="/decide", input_spec=DecideRequest)
    def decide(self, ctx: bentoml.Context, **request: Any) -> Any:
        """Decide about one person: outcome, score, exact rationale, reasons, recourse, record."""
        principal: Principal = ctx.request.state.principal
        try:
            return self.engine.decide(DecideRequest.model_construct(**request), principal.name)
        except (DecisionError, InvalidFeatures) as exc:
            response = error_response(exc)
            ctx.response.status_code = response.status_code
            return response


Docket.add_asgi_middleware(Gatekeeper)  # type: ignore[attr-defined]
