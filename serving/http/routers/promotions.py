"""Waivers of a failed gate: the pending requests, and approval by a second person (R23)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from audits.promotion import event_dict
from serving.access import allow
from serving.access.waivers import approve_waiver_as, list_waiver_requests
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps

router = APIRouter(prefix="/promotions", tags=["promotions"], responses=API_GATE)


class ApproveRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(default="", max_length=2000)


@router.get(
    "",
    summary="waiver requests of failed gates: `?status=pending` (the default), `approved`, `stale` or `all`",
)
@allow("senior_reviewer", "auditor", "admin")
def list_requests(
    request: Request, status: Literal["pending", "approved", "stale", "all"] = "pending"
) -> list[dict[str, Any]]:
    found = list_waiver_requests(
        deps.principal(request),
        deps.engine(request).settings,
        status=None if status == "all" else status,
    )
    return [r.model_dump(mode="json") for r in found]


@router.post(
    "/{request_id}/approve",
    responses=json_errors(400, 404, 409),
    summary="approve a pending waiver request as yourself (a person's token, never the requester's): the version becomes champion through the gate; logged",
)
@allow("senior_reviewer", "admin")
def approve(
    request_id: str, request: Request, body: ApproveRequest | None = None
) -> dict[str, Any]:
    engine = deps.engine(request)
    event = approve_waiver_as(
        deps.principal(request),
        engine.settings,
        request_id,
        log=engine.log,
        note=body.note if body is not None else "",
    )
    return {"request_id": request_id, **event_dict(event)}
