"""What the OpenAPI document says a route may answer besides its success.

BentoML builds ``GET /docs.json`` from the mounted app's routes, so the statuses a
route declares here are what clients (and the schemathesis fuzz in the tests)
read. Every refusal of the JSON API has the same body, :class:`ErrorBody`; the
console answers HTML pages, redirects to its sign-in page (303) and refuses forms
with HTML pages too.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = [
    "API_GATE",
    "CONSOLE_PAGES",
    "ErrorBody",
    "console_errors",
    "json_errors",
]


class ErrorBody(BaseModel):
    """A refused request: what is wrong, in words naming the field, header or rule."""

    error: str = Field(description="What was refused and why.")
    detail: list[dict[str, Any]] | None = Field(
        default=None,
        description="Invalid feature values, one item per problem (loc, msg, input, allowed).",
    )


_WHY: dict[int, str] = {
    400: "The request breaks a rule; `error` names the field and what is allowed.",
    401: "No API key or personal token, or one that is unknown, revoked or of a disabled person.",
    403: "The caller's roles or task do not allow this.",
    404: "Nothing with that id or name.",
    409: "The thing is not in a state that allows this (claimed by another, not final, ...).",
    413: "The request body is over the limit.",
    415: "A request body that is not JSON.",
    429: "Too many failed authentications from this address: wait `Retry-After` seconds.",
    503: "This part of the service is unavailable (no ledger key, the database unreachable).",
}

_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds until the address may try again.",
        "schema": {"type": "integer"},
    }
}


def json_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The JSON API's refusals with these status codes, each an :class:`ErrorBody`."""
    found: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _WHY[code]}
        if code == 429:
            entry["headers"] = _RETRY_AFTER
        found[code] = entry
    return found


#: what the gatekeeper answers before any route of the JSON API runs
API_GATE = json_errors(401, 403, 413, 415, 429)

_HTML = {"text/html": {"schema": {"type": "string"}}}

_CONSOLE_WHY: dict[int, str] = {
    303: "Done, or signed out (a page read): see `Location`.",
    400: "The form does not validate: the page names the field.",
    401: "A form sent while signed out.",
    403: "The person's roles do not allow this page, or the form's csrf_token is missing.",
    404: "Nothing with that id or name.",
    409: "The case or person is not in a state that allows this.",
    413: "The form is over the size limit.",
    429: "Too many failed sign-ins from this address.",
    503: "The database is unreachable.",
}


def console_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The console's other answers with these codes: HTML pages (303: a redirect)."""
    found: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        entry: dict[str, Any] = {"description": _CONSOLE_WHY[code]}
        if code == 303:
            entry["headers"] = {"Location": {"schema": {"type": "string"}}}
        else:
            entry["content"] = _HTML
        found[code] = entry
    return found


#: what the console gate and every console page may answer besides the page itself
CONSOLE_PAGES = console_errors(303, 400, 401, 403, 404, 409, 413, 429)
