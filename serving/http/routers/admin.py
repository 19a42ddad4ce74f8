"""Operating the service: the stop switch, reloads, status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import SQLAlchemyError

from serving.access import allow
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps
from serving.http.routers.ledger import checkpointing_of
from serving.ledger import LogError
from serving.monitoring.alerts import status_lines

router = APIRouter(prefix="/admin", tags=["admin"], responses=API_GATE)


class SwitchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    use_case: str = Field(min_length=1)
    reason: str = Field(min_length=5, max_length=2000)


@router.post(
    "/reload",
    summary="switch to newly promoted champions without dropping requests (also checked every `DOCKET_RELOAD_SECONDS`, default 30)",
)
@allow("admin")
def reload_models(request: Request) -> dict[str, Any]:
    return deps.engine(request).reload()


@router.get(
    "/status",
    summary="served versions, refused champions and their reasons, stop switches, the ledger's checkpoints and each witness sink (last success, last error, checkpoints queued), and the monitoring alerts raised now",
)
@allow("auditor", "admin")
def status(request: Request) -> dict[str, Any]:
    found = deps.engine(request).status()
    checkpointing = checkpointing_of(request)
    if checkpointing is not None:
        found["ledger"] = checkpointing.status()
    try:
        found["monitoring"] = status_lines(deps.engine(request).log)
    except (LogError, SQLAlchemyError):  # the status page is most needed when the database is away
        found["monitoring"] = "unknown: the ledger database cannot be reached"
    return found


@router.post(
    "/stop",
    summary="the stop switch: while on, every request is referred to a human; logged",
    responses=json_errors(400, 404, 409),
)
@allow("admin")
def stop(body: SwitchRequest, request: Request) -> dict[str, Any]:
    who = deps.principal(request).name
    return deps.engine(request).set_stopped(body.use_case, True, who, body.reason)


@router.post(
    "/resume", summary="turn the stop switch off; logged", responses=json_errors(400, 404, 409)
)
@allow("admin")
def resume(body: SwitchRequest, request: Request) -> dict[str, Any]:
    who = deps.principal(request).name
    return deps.engine(request).set_stopped(body.use_case, False, who, body.reason)
