"""The ledger: verification of the hash chain."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from serving.access import allow
from serving.http.routers import deps

router = APIRouter(tags=["ledger"])


@router.get("/log/verify", summary="verify the hash chain; names the first broken entry")
@allow("auditor", "admin")
def verify_log(request: Request) -> dict[str, Any]:
    return deps.engine(request).log.verify().to_dict()
