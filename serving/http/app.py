"""The FastAPI app mounted beside ``POST /decide``: every route but the decision itself."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.access import ServiceError
from serving.access.console_gate import CONSOLE_PREFIX
from serving.http.errors import STATUS, handle_service_error
from serving.http.routers import ROUTERS
from serving.http.routers.console import FormProblem
from serving.http.routers.console.common import problem_page
from serving.ledger import LogError

logger = logging.getLogger("docket.serving")

#: what a caller is told when the ledger's database cannot be read or written
MESSAGE_LEDGER_DOWN = (
    "the ledger's database cannot be reached, so nothing was done or written; try again later"
)


async def _service_error(request: Request, exc: Exception) -> Response:
    # the console shows the same message as a page; the API answers JSON
    if request.url.path.startswith(CONSOLE_PREFIX) and isinstance(exc, ServiceError):
        return problem_page(
            request, STATUS[exc.kind], "Not done", str(exc.body().get("error", exc))
        )
    return await handle_service_error(request, exc)


async def _form_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FormProblem)
    return problem_page(request, 400, "Form not accepted", exc.message)


async def _ledger_down(request: Request, exc: Exception) -> Response:
    # the driver's message may hold the database URL: the log keeps only its class
    logger.error(
        "%s %s: ledger unavailable (%s)", request.method, request.url.path, type(exc).__name__
    )
    headers = {"Retry-After": "5"}
    if request.url.path.startswith(CONSOLE_PREFIX):
        answer = problem_page(
            request, 503, "Not done", MESSAGE_LEDGER_DOWN[0].upper() + MESSAGE_LEDGER_DOWN[1:] + "."
        )
        answer.headers.update(headers)
        return answer
    return JSONResponse({"error": MESSAGE_LEDGER_DOWN}, status_code=503, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    # FastAPI's own refusals (a body that is not JSON, ...) in the service's error shape
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    if detail == _FASTAPI_UNPARSED:
        detail = MESSAGE_UNPARSED
    if request.url.path.startswith(CONSOLE_PREFIX):
        return problem_page(request, exc.status_code, "Not done", detail)
    return JSONResponse({"error": detail}, status_code=exc.status_code, headers=exc.headers)


_FASTAPI_UNPARSED = "There was an error parsing the body"
MESSAGE_UNPARSED = (
    "the request body could not be read as JSON (malformed, too deeply nested, or not"
    " UTF-8): send one JSON object with the fields this route documents"
)


__all__ = ["MESSAGE_LEDGER_DOWN", "create_app"]


def create_app() -> FastAPI:
    """A new app with every router; the service puts its engine in ``app.state.engine``."""
    app = FastAPI(title="Docket routes", docs_url=None, redoc_url=None, openapi_url=None)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(FormProblem, _form_problem)
    app.add_exception_handler(LogError, _ledger_down)
    app.add_exception_handler(SQLAlchemyError, _ledger_down)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    return app
