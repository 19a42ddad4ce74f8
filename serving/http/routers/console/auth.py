"""Signing in and out, the console's home page, and its static files.

Sign-in never adopts a session id the browser already holds (session fixation):
every sign-in starts a new, random session and sets its cookie. A refused
sign-in counts as a failed authentication of the client's address
(:mod:`serving.access.throttle`), and neither the page nor the log ever shows
the token that was typed, even when the form does not validate. Cookies are
HttpOnly, SameSite=Strict, limited to their path, and Secure when the request
came over HTTPS.
"""

from __future__ import annotations

import secrets
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from serving.access import allow
from serving.access.console_gate import LOGIN_CSRF_COOKIE
from serving.access.outages import MESSAGE_UNREACHABLE, log_unreachable
from serving.access.sessions import (
    COOKIE_NAME,
    SessionRefused,
    end_session,
    start_session,
)
from serving.console import render, static_file
from serving.http.responses import CONSOLE_PAGES, console_errors
from serving.http.routers import deps
from serving.http.routers.console.common import FormProblem, nav_for, page, session_of

# pages answer HTML; the gate and the pages may also redirect or refuse (documented)
router = APIRouter(
    prefix="/console",
    tags=["console"],
    default_response_class=HTMLResponse,
    responses={**CONSOLE_PAGES, **console_errors(503)},
)


class LoginForm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=400)
    next: str = Field(default="/console/", max_length=2000)


async def _login_form(request: Request) -> LoginForm:
    """The sign-in form; a problem names the fields but never echoes what was typed.

    The shared form reader quotes each bad value back, which here would be a
    token (or a token pasted into the wrong field).
    """
    raw = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    data = {name: values[-1] for name, values in raw.items() if name != "csrf_token"}
    try:
        return LoginForm.model_validate(data)
    except ValidationError as exc:
        parts = [
            f"{'.'.join(str(p) for p in error['loc']) or 'form'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise FormProblem(
            "The form was not accepted (what was typed is not shown). " + " · ".join(parts)
        ) from None


def _safe_next(target: str) -> str:
    # only a console path of this site: never an absolute or scheme-relative URL
    if target.startswith("/console") and not target.startswith("//") and "\\" not in target:
        return target
    return "/console/"


def _login_page(request: Request, next_path: str, problem: str | None, status: int) -> Response:
    login_csrf = secrets.token_urlsafe(32)
    body = render(
        "login.html.j2",
        title="Sign in",
        me=None,
        csrf="",
        nav=[],
        here="/console/login",
        flash=None,
        problem=problem,
        login_csrf=login_csrf,
        next_path=_safe_next(next_path),
    )
    response = HTMLResponse(body, status_code=status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        login_csrf,
        httponly=True,
        samesite="strict",
        path="/console/login",
        max_age=3600,
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login", summary="the console's sign-in page (a field labelled Token)")
@allow()
def login_page(request: Request, next: str = "/console/") -> Response:
    return _login_page(request, next, None, 200)


@router.post(
    "/login",
    summary="sign in with a personal token: a signed, HttpOnly, SameSite=Strict session cookie that expires",
)
@allow()
def login(request: Request, form: Annotated[LoginForm, Depends(_login_form)]) -> Response:
    engine = deps.engine(request)
    key: bytes = request.state.session_key()
    try:
        # always a new session id: a cookie the browser brought is never adopted
        cookie, session = start_session(engine.log.engine, key, form.token)
    except SessionRefused as exc:
        failed = getattr(request.state, "auth_failed", None)
        if failed is not None and failed():
            return _login_page(
                request,
                form.next,
                "Too many failed sign-ins from this address: it is refused for a while,"
                " even with a correct token. Try again later.",
                429,
            )
        return _login_page(request, form.next, str(exc), 401)
    except SQLAlchemyError as exc:
        log_unreachable(exc, "signing in to the console")
        problem = MESSAGE_UNREACHABLE[0].upper() + MESSAGE_UNREACHABLE[1:] + "."
        return _login_page(request, form.next, problem, 503)
    response = RedirectResponse(_safe_next(form.next), status_code=303)
    response.set_cookie(
        COOKIE_NAME,
        cookie,
        expires=session.expires_at,
        httponly=True,
        samesite="strict",
        path="/console",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout", summary="sign out: the session cookie is refused from now on")
@allow("reviewer", "senior_reviewer", "auditor", "admin")
def logout(request: Request) -> Response:
    end_session(deps.engine(request).log.engine, session_of(request).session_id)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/console")
    return response


@router.get(
    "",
    summary="the console (redirects to `/console/`)",
    status_code=307,
    response_class=RedirectResponse,
    responses={307: {"description": "See `Location`: `/console/`."}},
)
@allow()
def console_root() -> Response:
    return RedirectResponse("/console/", status_code=307)


@router.get("/", summary="the console's home page: the sections your roles open")
@allow("reviewer", "senior_reviewer", "auditor", "admin")
def home(request: Request) -> Response:
    sections = nav_for(session_of(request).principal)
    if len(sections) == 1:
        return RedirectResponse(sections[0][0], status_code=303)
    return page(request, "home.html.j2", title="Home")


@router.get(
    "/static/{name}",
    summary="the console's stylesheet and scripts (htmx vendored, no CDN)",
    response_class=Response,
    responses={
        200: {
            "description": "The file.",
            "content": {
                "text/css": {"schema": {"type": "string"}},
                "text/javascript": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        },
        404: {
            "description": "No such file (a path with control characters: an HTML page).",
            "content": {
                "text/plain": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}},
            },
        },
    },
)
@allow()
def static(name: str) -> Response:
    found = static_file(name)
    if found is None:
        return Response("not found", status_code=404, media_type="text/plain")
    data, media = found
    return Response(data, media_type=media, headers={"cache-control": "public, max-age=3600"})
