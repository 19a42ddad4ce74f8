"""The review queue and the work on one case (R6, R8, R21–R24)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.access import allow
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps
from serving.review import ActionResult, OpenedCase

router = APIRouter(tags=["review"], responses=API_GATE)

#: what the work on one case may refuse besides the gate
_CASE_ERRORS = json_errors(400, 404, 409)

CaseStatusQuery = Literal["open", "claimed", "escalated", "awaiting_second_review", "resolved"]


class Resolution(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approved", "declined"]
    reason_code: str = Field(min_length=1, max_length=40)
    note: str | None = Field(default=None, max_length=4000)


class SecondReview(BaseModel):
    model_config = ConfigDict(extra="forbid")

    confirm: bool
    note: str | None = Field(default=None, max_length=4000)


@router.get(
    "/cases",
    summary="the review queue: `?status=open` (repeatable) and `?use_case=`, oldest deadline first, overdue marked; a reviewer does not see appeals they may not take",
)
@allow("reviewer", "senior_reviewer", "auditor", "admin")
def queue(
    request: Request,
    status: list[CaseStatusQuery] | None = Query(default=None),  # noqa: B008
    use_case: str | None = None,
) -> list[dict[str, Any]]:
    who = deps.principal(request)
    cases = deps.desk(request).queue(status=status, use_case=use_case, person_id=who.person_id)
    return [c.model_dump(mode="json") for c in cases]


@router.post(
    "/cases/{case_id}/claim",
    responses=_CASE_ERRORS,
    summary="claim a case for the spec's lease time (one reviewer at a time; an abandoned claim returns to the queue)",
)
@allow("reviewer", "senior_reviewer")
def claim(case_id: str, request: Request) -> dict[str, Any]:
    pid, name, roles = deps.person(request)
    return (
        deps.desk(request)
        .claim(case_id, person_id=pid, person_name=name, roles=roles)
        .model_dump(mode="json")
    )


@router.post(
    "/cases/{case_id}/release",
    summary="give a claimed case back to the queue",
    responses=_CASE_ERRORS,
)
@allow("reviewer", "senior_reviewer")
def release(case_id: str, request: Request) -> dict[str, Any]:
    pid, name, roles = deps.person(request)
    return (
        deps.desk(request)
        .release(case_id, person_id=pid, person_name=name, roles=roles)
        .model_dump(mode="json")
    )


@router.get(
    "/cases/{case_id}",
    responses=_CASE_ERRORS,
    summary="open a claimed case: the decision, rationale, reasons, recourse and the person's data; the opening and the read are logged with the case as purpose",
)
@allow("reviewer", "senior_reviewer")
def open_case(case_id: str, request: Request) -> dict[str, Any]:
    return open_and_log(case_id, request).model_dump(mode="json")


def open_and_log(case_id: str, request: Request) -> OpenedCase:
    """Open the case as the acting person and log the personal-data read (R17, R31).

    Every route that shows a case's personal data calls this: the opening is a
    ``review_action`` entry (by the desk) and the read an ``access`` entry with
    the purpose ``review of case <id>``.
    """
    pid, name, roles = deps.person(request)
    opened = deps.desk(request).open(case_id, person_id=pid, person_name=name, roles=roles)
    # the personal-data read is logged automatically, with the case as its purpose (R17, R31)
    deps.engine(request).log.append(
        "access",
        opened.case.use_case,
        {
            "reader": name,
            "reader_key": f"person:{pid}",
            "roles": sorted(roles),
            "purpose": f"review of case {case_id}",
            "decision_id": opened.case.decision_id,
        },
        subject_id=opened.case.decision_id,
    )
    return opened


@router.post(
    "/cases/{case_id}/resolve",
    responses=_CASE_ERRORS,
    summary="resolve a claimed, opened case: `outcome`, a `reason_code` from the spec's review taxonomy, and a `note` (needed to override the model)",
)
@allow("reviewer", "senior_reviewer")
def resolve(case_id: str, body: Resolution, request: Request) -> dict[str, Any]:
    return resolve_as_caller(case_id, body, request).model_dump(mode="json")


def resolve_as_caller(case_id: str, body: Resolution, request: Request) -> ActionResult:
    """Resolve ``case_id`` as the authenticated person (the JSON route and the console)."""
    pid, name, roles = deps.person(request)
    return deps.desk(request).resolve(
        case_id,
        person_id=pid,
        person_name=name,
        roles=roles,
        outcome=body.outcome,
        reason_code=body.reason_code,
        note=body.note,
    )


@router.post(
    "/cases/{case_id}/second-review",
    responses=_CASE_ERRORS,
    summary="a second, different senior reviewer confirms (or, with a note, rejects) a resolution the spec's four-eyes rules hold",
)
@allow("senior_reviewer")
def second_review(case_id: str, body: SecondReview, request: Request) -> dict[str, Any]:
    pid, name, roles = deps.person(request)
    done = deps.desk(request).second_review(
        case_id, person_id=pid, person_name=name, roles=roles, confirm=body.confirm, note=body.note
    )
    return done.model_dump(mode="json")


@router.get(
    "/review/stats",
    summary="per-reviewer statistics: cases, agreement rate with the model, overrides by reason, median time per case",
)
@allow("senior_reviewer", "auditor", "admin")
def stats(request: Request, use_case: str | None = None) -> list[dict[str, Any]]:
    return [s.model_dump(mode="json") for s in deps.desk(request).stats(use_case=use_case)]


@router.get(
    "/review/overdue", summary="every unresolved case past its deadline, with the time overdue"
)
@allow("senior_reviewer", "auditor", "admin")
def overdue(request: Request, use_case: str | None = None) -> list[dict[str, Any]]:
    return [c.model_dump(mode="json") for c in deps.desk(request).overdue(use_case=use_case)]
