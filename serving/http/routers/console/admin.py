"""The console's admin pages: stop switches, people and API keys (admin only).

What these pages guarantee:

- Every change is attributed to the signed-in administrator (never a typed name)
  and goes through the same functions as ``docket people ...``, ``docket keys ...``
  and ``POST /admin/stop|resume``, so the ledger entries are the same.
- A new personal token or API key is rendered once, in the answer to the POST
  that made it (status 200, no redirect); nothing keeps it, so a reload of the
  page cannot show it again (the console sends ``Cache-Control: no-store``).
- A refused change (duplicate name, no role, unknown role, bad reason) comes back
  with status 400 and a message naming the field, what is allowed and what was
  received; the page and its forms are shown again.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from annotated_types import MaxLen, MinLen
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.access import allow
from serving.access.keys import KeyAdminError, create_key, list_keys, revoke_key
from serving.access.people import PersonAdminError, add_person, disable_person, list_people
from serving.access.roles import KEY_ROLES, PERSON_ROLES
from serving.decisions.schema import SwitchRow
from serving.http.responses import CONSOLE_PAGES
from serving.http.routers import deps
from serving.http.routers.admin import SwitchRequest
from serving.http.routers.console.common import (
    form_of,
    page,
    see_other,
    session_of,
)

# pages answer HTML; the gate and the pages may also redirect or refuse (documented)
router = APIRouter(
    prefix="/console",
    tags=["console"],
    default_response_class=HTMLResponse,
    responses=CONSOLE_PAGES,
)

SWITCHES = "/console/admin/switches"
PEOPLE = "/console/admin/people"

#: the reason's limits, read from the JSON API's model so the two cannot drift apart
_REASON = SwitchRequest.model_fields["reason"]


class SwitchForm(BaseModel):
    """The stop or resume form: the reason, with the same limits as ``POST /admin/stop``."""

    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, _REASON]


class PersonForm(BaseModel):
    """The add-a-person form; names and roles are checked by :func:`add_person` itself."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=2000)
    roles: list[str] = Field(default_factory=list, max_length=20)


class KeyForm(BaseModel):
    """The create-a-key form; the role and the name are checked by :func:`create_key`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=2000)
    role: str = Field(default="", max_length=100)


def _reason_limits() -> tuple[int, int]:
    low = next(m.min_length for m in _REASON.metadata if isinstance(m, MinLen))
    high = next(m.max_length for m in _REASON.metadata if isinstance(m, MaxLen))
    return low, high


# -- stop switches ---------------------------------------------------------------


class SwitchRowView(BaseModel):
    """One served use case on the switches page."""

    model_config = ConfigDict(frozen=True)

    use_case: str
    version: str
    stopped: bool
    changed_at: str | None
    changed_by: str | None
    reason: str | None


def _switch_rows(request: Request, status: dict[str, Any]) -> list[SwitchRowView]:
    # the last change (who, when, why) is read from the switches' own table; on or off
    # comes from the engine's status, the same as GET /admin/status
    with Session(deps.engine(request).log.engine) as session:
        last = {r.use_case: r for r in session.scalars(select(SwitchRow))}
    rows = []
    for use_case, version in status["served"].items():
        change = last.get(use_case)
        rows.append(
            SwitchRowView(
                use_case=use_case,
                version=version,
                stopped=bool(status["stopped"].get(use_case, False)),
                changed_at=change.changed_at if change else None,
                changed_by=change.changed_by if change else None,
                reason=change.reason if change else None,
            )
        )
    return rows


_SWITCH_FLASH = {
    "stopped": "The stop switch of {use_case} is on: every request is referred to a person.",
    "resumed": "The stop switch of {use_case} is off: automated decisions resume.",
}


@router.get(
    "/admin/switches",
    summary="the stop switches page: each served use case, whether it is stopped, by whom and why; stop and resume forms",
)
@allow("admin")
def switches_page(request: Request, done: str = "", use_case: str = "") -> Response:
    status = deps.engine(request).status()
    rows = _switch_rows(request, status)
    served = {r.use_case for r in rows}
    flash = None
    if done in _SWITCH_FLASH and use_case in served:
        flash = _SWITCH_FLASH[done].format(use_case=use_case)
    low, high = _reason_limits()
    return page(
        request,
        "admin_switches.html.j2",
        title="Stop switches",
        rows=rows,
        unserved=status["unserved"],
        reason_min=low,
        reason_max=high,
        flash=flash,
    )


def _flip(request: Request, use_case: str, stopped: bool, reason: str) -> Response:
    who = session_of(request).principal.name
    deps.engine(request).set_stopped(use_case, stopped, who, reason)
    done = "stopped" if stopped else "resumed"
    return see_other(f"{SWITCHES}?done={done}&use_case={quote(use_case, safe='')}")


@router.post(
    "/admin/switches/{use_case}/stop",
    summary="turn a use case's stop switch on from the console (reason required; logged)",
)
@allow("admin")
def stop_use_case(
    use_case: str, request: Request, form: Annotated[SwitchForm, Depends(form_of(SwitchForm))]
) -> Response:
    return _flip(request, use_case, True, form.reason)


@router.post(
    "/admin/switches/{use_case}/resume",
    summary="turn a use case's stop switch off from the console (reason required; logged)",
)
@allow("admin")
def resume_use_case(
    use_case: str, request: Request, form: Annotated[SwitchForm, Depends(form_of(SwitchForm))]
) -> Response:
    return _flip(request, use_case, False, form.reason)


# -- people and keys -------------------------------------------------------------


_PEOPLE_FLASH = {
    "disabled": "The person is disabled: their token and sessions are refused from now on.",
    "revoked": "The key is revoked: it is refused from now on.",
}


def _people_page(
    request: Request,
    *,
    status_code: int = 200,
    problem: str | None = None,
    shown: dict[str, str] | None = None,
    person_form: PersonForm | None = None,
    key_form: KeyForm | None = None,
    flash: str | None = None,
) -> Response:
    store = deps.engine(request).log
    return page(
        request,
        "admin_people.html.j2",
        title="People and keys",
        status_code=status_code,
        people=list_people(store.engine),
        keys=list_keys(store.engine),
        person_roles=PERSON_ROLES,
        key_roles=KEY_ROLES,
        person_form=person_form or PersonForm(),
        key_form=key_form or KeyForm(),
        shown=shown,
        problem=problem,
        flash=flash,
    )


@router.get(
    "/admin/people",
    summary="the people and keys page: people (roles, who added them, disabled or active), API keys; add, disable, create, revoke forms",
)
@allow("admin")
def people_page(request: Request, done: str = "") -> Response:
    return _people_page(request, flash=_PEOPLE_FLASH.get(done))


@router.post(
    "/admin/people",
    summary="add a person from the console; their personal token is shown once on the answer",
)
@allow("admin")
def add_person_page(
    request: Request, form: Annotated[PersonForm, Depends(form_of(PersonForm))]
) -> Response:
    store = deps.engine(request).log
    who = session_of(request).principal.name
    try:
        # the same call as 'docket people add', attributed to the signed-in administrator
        token, person = add_person(store.engine, form.name, form.roles, who, log=store)
    except PersonAdminError as exc:
        return _people_page(request, status_code=400, problem=str(exc), person_form=form)
    shown = {
        "what": "personal token",
        "for": f"{person.name} (person {person.person_id}, roles {', '.join(person.roles)})",
        "token": token,
    }
    return _people_page(request, shown=shown)


@router.post(
    "/admin/people/{person_id}/disable",
    summary="disable a person from the console: their token and sessions are refused at once",
)
@allow("admin")
def disable_person_page(person_id: str, request: Request) -> Response:
    store = deps.engine(request).log
    found = next((p for p in list_people(store.engine) if p.person_id == person_id), None)
    if found is None:
        return _people_page(
            request,
            status_code=404,
            problem=f"person_id must be the id of a person on this page; got {person_id!r}",
        )
    who = session_of(request).principal.name
    try:
        # the same call as 'docket people disable' (by name; names are unique)
        disable_person(store.engine, found.name, who, log=store)
    except PersonAdminError as exc:
        return _people_page(request, status_code=409, problem=str(exc))
    return see_other(f"{PEOPLE}?done=disabled")


@router.post(
    "/admin/keys",
    summary="create an API key from the console; the key is shown once on the answer",
)
@allow("admin")
def create_key_page(
    request: Request, form: Annotated[KeyForm, Depends(form_of(KeyForm))]
) -> Response:
    store = deps.engine(request).log
    by = session_of(request).principal.name
    try:
        # the same call as 'docket keys create'
        key, who = create_key(store.engine, form.role, form.name, log=store, by=by)
    except KeyAdminError as exc:
        return _people_page(request, status_code=400, problem=str(exc), key_form=form)
    shown = {
        "what": "API key",
        "for": f"{who.name} (key {who.key_id}, role {form.role})",
        "token": key,
    }
    return _people_page(request, shown=shown)


@router.post("/admin/keys/{key_id}/revoke", summary="revoke an API key from the console")
@allow("admin")
def revoke_key_page(key_id: str, request: Request) -> Response:
    # the same call as 'docket keys revoke'
    store = deps.engine(request).log
    by = session_of(request).principal.name
    if not revoke_key(store.engine, key_id, log=store, by=by):
        return _people_page(
            request,
            status_code=404,
            problem=f"key_id must be the id of an active key; got {key_id!r}",
        )
    return see_other(f"{PEOPLE}?done=revoked")
