"""What every console page shares: the signed-in person, navigation, forms, rendering.

Pages are HTML; a service error or a bad form becomes a console page that says
what went wrong (the field, what is allowed, what was received), never JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_origin
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError

from serving.access import Principal
from serving.access.sessions import ConsoleSession
from serving.console import render
from serving.http.errors import STATUS

__all__ = [
    "FormProblem",
    "describe_errors",
    "form_of",
    "nav_for",
    "page",
    "problem_page",
    "query_of",
    "see_other",
    "session_of",
]

M = TypeVar("M", bound=BaseModel)

#: every console section, the roles that see it in the navigation, in order
SECTIONS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("/console/queue", "Review queue", frozenset({"reviewer", "senior_reviewer"})),
    ("/console/use-cases", "Use cases", frozenset({"auditor", "admin", "senior_reviewer"})),
    ("/console/decisions", "Decisions", frozenset({"auditor", "admin"})),
    ("/console/promotions", "Promotions", frozenset({"auditor", "admin", "senior_reviewer"})),
    (
        "/console/review-stats",
        "Review statistics",
        frozenset({"auditor", "admin", "senior_reviewer"}),
    ),
    ("/console/ledger", "Ledger", frozenset({"auditor", "admin"})),
    ("/console/monitoring", "Monitoring", frozenset({"auditor", "admin", "senior_reviewer"})),
    ("/console/admin/switches", "Stop switches", frozenset({"admin"})),
    ("/console/admin/people", "People and keys", frozenset({"admin"})),
)


class FormProblem(Exception):
    """A console form did not validate; the message names each field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def session_of(request: Request) -> ConsoleSession:
    """The signed-in session the console gate put on the request."""
    found = request.state.console_session
    assert isinstance(found, ConsoleSession)
    return found


def nav_for(principal: Principal) -> list[tuple[str, str]]:
    """The sections ``principal`` may open."""
    return [(href, label) for href, label, roles in SECTIONS if principal.has_any(roles)]


def page(
    request: Request, template: str, *, title: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A console page for the signed-in person."""
    session = session_of(request)
    me = session.principal
    body = render(
        template,
        title=title,
        me=me,
        csrf=session.csrf,
        nav=nav_for(me),
        here=request.url.path,
        flash=context.pop("flash", None),
        problem=context.pop("problem", None),
        **context,
    )
    return HTMLResponse(body, status_code=status_code)


def problem_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    """A page that says what went wrong; signed in or not."""
    session = getattr(request.state, "console_session", None)
    if isinstance(session, ConsoleSession):
        return page(
            request,
            "message.html.j2",
            title=title,
            message=message,
            back=None,
            status_code=status_code,
        )
    body = render(
        "message.html.j2",
        title=title,
        message=message,
        back="/console/login",
        me=None,
        csrf="",
        nav=[],
        here=request.url.path,
        flash=None,
        problem=None,
    )
    return HTMLResponse(body, status_code=status_code)


def see_other(location: str) -> RedirectResponse:
    """After a form that changed something: go (GET) to ``location``."""
    return RedirectResponse(location, status_code=303)


def describe_errors(exc: ValidationError) -> str:
    """Every field that failed, what was wrong, and what was received."""
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"]) or "form"
        parts.append(f"{field}: {error['msg']}; got {error.get('input')!r}")
    return "The form was not accepted. " + " · ".join(parts)


def _validated(model: type[M], raw: dict[str, list[str]]) -> M:
    # a field typed as a list (checkboxes) takes every value sent; others the last one
    data: dict[str, Any] = {}
    for name, values in raw.items():
        if name == "csrf_token":
            continue
        field = model.model_fields.get(name)
        is_list = field is not None and get_origin(field.annotation) in (list, tuple)
        data[name] = values if is_list else values[-1]
    for name, field in model.model_fields.items():
        if name not in data and get_origin(field.annotation) in (list, tuple):
            data[name] = []  # no box ticked: the browser sends nothing
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise FormProblem(describe_errors(exc)) from None


def form_of(model: type[M]) -> Callable[[Request], Awaitable[M]]:
    """A dependency that reads an HTML form into ``model`` (the CSRF field already checked)."""

    async def read(request: Request) -> M:
        body = (await request.body()).decode("utf-8", "replace")
        return _validated(model, parse_qs(body, keep_blank_values=True))

    return read


def query_of(model: type[M]) -> Callable[[Request], M]:
    """A dependency that reads a GET form's query string into ``model``."""

    def read(request: Request) -> M:
        return _validated(model, parse_qs(request.url.query, keep_blank_values=True))

    return read


def status_of(kind: str) -> int:
    """The HTTP status of a service error kind (the same table as the JSON API)."""
    return STATUS[kind]  # type: ignore[index]
