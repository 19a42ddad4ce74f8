"""The FastAPI app mounted beside ``POST /decide``: every route but the decision itself."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from serving.access import ServiceError
from serving.access.console_gate import CONSOLE_PREFIX
from serving.http.errors import STATUS, handle_service_error
from serving.http.routers import ROUTERS
from serving.http.routers.console import FormProblem
from serving.http.routers.console.common import problem_page


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


__all__ = ["create_app"]


def create_app() -> FastAPI:
    """A new app with every router; the service puts its engine in ``app.state.engine``."""
    app = FastAPI(title="Docket routes", docs_url=None, redoc_url=None, openapi_url=None)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(FormProblem, _form_problem)
    return app
