"""One router per area; each route declares its roles with ``serving.access.allow``."""

from serving.http.routers import admin, appeals, cases, decisions, docs, ledger, promotions

ROUTERS = (
    decisions.router,
    cases.router,
    appeals.router,
    admin.router,
    ledger.router,
    promotions.router,
    docs.router,
)

__all__ = ["ROUTERS"]
