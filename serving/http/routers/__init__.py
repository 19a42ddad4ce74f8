"""One router per area; each route declares its roles with ``serving.access.allow``."""

from serving.http import metrics
from serving.http.routers import (
    admin,
    appeals,
    cases,
    decisions,
    docs,
    ledger,
    outcomes,
    promotions,
)
from serving.http.routers.console import CONSOLE_ROUTERS

ROUTERS = (
    decisions.router,
    cases.router,
    appeals.router,
    admin.router,
    ledger.router,
    promotions.router,
    outcomes.router,
    docs.router,
    metrics.router,
    *CONSOLE_ROUTERS,
)

__all__ = ["ROUTERS"]
