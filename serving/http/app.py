"""The FastAPI app mounted beside ``POST /decide``: every route but the decision itself."""

from __future__ import annotations

from fastapi import FastAPI

from serving.access import ServiceError
from serving.http.errors import handle_service_error
from serving.http.routers import ROUTERS

__all__ = ["create_app"]


def create_app() -> FastAPI:
    """A new app with every router; the service puts its engine in ``app.state.engine``."""
    app = FastAPI(title="Docket routes", docs_url=None, redoc_url=None, openapi_url=None)
    for router in ROUTERS:
        app.include_router(router)
    app.add_exception_handler(ServiceError, handle_service_error)
    return app
