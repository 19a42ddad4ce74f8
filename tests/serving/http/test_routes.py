"""The route table: declared beside each route, enforced by the gatekeeper, shown in the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi import APIRouter
from typer.testing import CliRunner

from docket.cli import app as cli
from serving.access import ROLES, RouteRule, RouteTable, allow
from serving.http.routers import ROUTERS
from serving.http.routes import route_table
from serving.http.service import DECIDE, ROUTES

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_route_table_is_the_one_the_service_enforces() -> None:
    # given
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- routes:start[^>]*-->\n(.*?)<!-- routes:end -->", text, re.S)
    assert found, "README has no generated route table"

    # then
    assert found.group(1) == ROUTES.markdown()


def test_every_route_of_every_router_declared_its_roles_and_is_in_the_table() -> None:
    # given: the routes as FastAPI knows them
    declared = {
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        for method in route.methods  # type: ignore[attr-defined]
    }

    # then
    in_table = {(r.method, r.path) for r in ROUTES.rules}
    assert declared <= in_table
    assert (DECIDE.method, DECIDE.path) in in_table


def test_a_route_without_declared_roles_cannot_be_built_into_the_table() -> None:
    # given
    router = APIRouter()

    @router.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    # then
    with pytest.raises(ValueError, match=r"route \['GET'\] /forgotten declares no roles"):
        route_table([router])


def test_unknown_roles_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"roles must be among .*; got \['auditer'\] instead"):
        allow("auditer")


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        (
            "GET",
            "/decisions/abc123",
            {"application", "reviewer", "senior_reviewer", "auditor", "admin"},
        ),
        (
            "HEAD",
            "/decisions/abc123",
            {"application", "reviewer", "senior_reviewer", "auditor", "admin"},
        ),
        ("POST", "/decisions/abc123", {"admin"}),  # not a route: admin only (fails closed)
        ("GET", "/decisions/abc/extra", {"admin"}),
        ("GET", "/readyz", set()),
        ("POST", "/admin/stop", {"admin"}),
        ("GET", "/nowhere", {"admin"}),
    ],
)
def test_lookup_by_method_and_path(method: str, path: str, expected: set[str]) -> None:
    assert ROUTES.roles_for(method, path) == expected


def test_a_route_is_declared_once() -> None:
    rule = RouteRule("GET", "/x", frozenset(ROLES))
    with pytest.raises(ValueError, match="declared twice"):
        RouteTable([rule, rule])


def test_docket_routes_prints_the_table() -> None:
    # when
    human = CliRunner().invoke(cli, ["routes"])
    machine = CliRunner().invoke(cli, ["routes", "--json"])

    # then
    assert human.exit_code == 0 and human.stdout == ROUTES.markdown()
    rows = json.loads(machine.stdout)
    assert {"method": "POST", "path": "/decide", "roles": ["admin", "application"]}.items() <= {
        **next(r for r in rows if r["path"] == "/decide")
    }.items()
