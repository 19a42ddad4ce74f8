"""What every route reaches through the request: the engine (app state) and the caller."""

from __future__ import annotations

from fastapi import Request

from serving.access import Principal, require_person
from serving.decisions import DecisionEngine
from serving.review import ReviewDesk


def engine(request: Request) -> DecisionEngine:
    """The service's engine, put in the app state by the service when it starts."""
    found = getattr(request.app.state, "engine", None)
    assert isinstance(found, DecisionEngine), "the service has not started its engine"
    return found


def principal(request: Request) -> Principal:
    """The caller the gatekeeper authenticated."""
    found = request.state.principal
    assert isinstance(found, Principal)
    return found


def desk(request: Request) -> ReviewDesk:
    """The service's review desk (cases, appeals), in the app state beside the engine."""
    found = getattr(request.app.state, "desk", None)
    assert isinstance(found, ReviewDesk), "the service has not started its review desk"
    return found


def person(request: Request) -> tuple[str, str, frozenset[str]]:
    """The acting person's id, name and roles; review actions are a person's, never a key's."""
    who = principal(request)
    return require_person(who, "a review action"), who.name, who.roles
