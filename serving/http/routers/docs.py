"""Where people look for the API documentation."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from serving.access import allow

router = APIRouter(tags=["docs"])


@router.get(
    "/docs",
    summary="the interactive API documentation (redirects to `/`, which reads `/docs.json`)",
    status_code=307,
    response_class=RedirectResponse,
    responses={
        307: {"description": "to `/`", "headers": {"Location": {"schema": {"type": "string"}}}}
    },
)
@allow()
def docs() -> RedirectResponse:
    return RedirectResponse("/", status_code=307)
