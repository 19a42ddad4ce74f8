"""The route table the gatekeeper enforces, gathered from the routes' own declarations.

Every route of the mounted app must declare its roles (``@allow(...)``) or the
table cannot be built; ``POST /decide`` declares its roles next to the BentoML
API method; the health and documentation routes BentoML serves are open.
``GET /metrics`` is a route of :mod:`serving.http.metrics` and declares its roles there.
``docket routes`` prints this table, and a test checks the README shows it.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.routing import APIRoute

from serving.access import OPEN, RouteRule, RouteTable, declared_roles

__all__ = ["BENTOML_OPEN_ROUTES", "route_table"]

#: routes BentoML itself serves without a key
BENTOML_OPEN_ROUTES = (
    RouteRule("GET", "/", OPEN, "the interactive API documentation (Swagger UI)"),
    RouteRule("GET", "/docs.json", OPEN, "the OpenAPI document"),
    RouteRule("GET", "/readyz", OPEN, "ready to serve (200) or not (503)"),
    RouteRule("GET", "/livez", OPEN, "the process is alive"),
    RouteRule("GET", "/healthz", OPEN, "the process is alive"),
    RouteRule("GET", "/static_content/{asset}", OPEN, "files of the documentation page"),
)

_MESSAGE_UNDECLARED = (
    "route {methods} {path} declares no roles: decorate it with serving.access.allow(...)"
)


def route_table(routers: Iterable[APIRouter], *extra: RouteRule) -> RouteTable:
    """Rules for ``extra`` (the BentoML API routes), every route of ``routers``, BentoML's own."""
    rules: list[RouteRule] = list(extra)
    for route in (r for router in routers for r in router.routes):
        if not isinstance(route, APIRoute):
            continue
        roles = declared_roles(route.endpoint)
        if roles is None:
            raise ValueError(
                _MESSAGE_UNDECLARED.format(methods=sorted(route.methods or ()), path=route.path)
            )
        methods = sorted(route.methods or ())
        for method in methods:
            rules.append(RouteRule(method, route.path, roles, route.summary or ""))
    rules.extend(BENTOML_OPEN_ROUTES)
    return RouteTable(rules)
