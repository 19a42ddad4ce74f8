"""Appeals (R9, R25): a person contests a final decision through the application."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.access import allow
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps

router = APIRouter(tags=["appeals"], responses=API_GATE)


class AppealRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: str = Field(min_length=1, max_length=64)
    statement: str = Field(min_length=10, max_length=10_000)
    features: dict[str, Any] | None = Field(
        default=None, description="New information: feature values the person corrects."
    )


@router.post(
    "/appeals",
    responses=json_errors(400, 404, 409),
    summary="file a person's appeal of a final decision (the application that requested it): opens a linked case for a reviewer who took no part",
)
@allow("application")
def file_appeal(body: AppealRequest, request: Request) -> dict[str, Any]:
    who = deps.principal(request)
    # only the application that requested the decision files its appeal (403 otherwise)
    deps.engine(request).get_decision(body.decision_id, principal=who)
    done = deps.desk(request).appeal(
        body.decision_id, statement=body.statement, filed_by=who.name, features=body.features
    )
    return done.model_dump(mode="json")
