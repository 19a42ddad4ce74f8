"""The one place where a service error's kind becomes an HTTP status code."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse

from serving.access import ErrorKind, ServiceError

__all__ = ["STATUS", "error_response", "handle_service_error"]

STATUS: dict[ErrorKind, int] = {
    "invalid": 400,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
    "unavailable": 503,
}


def error_response(exc: ServiceError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=STATUS[exc.kind])


async def handle_service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc)
