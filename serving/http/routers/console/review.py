"""The reviewer's pages: the queue, a case, its actions, appeals (R6, R21–R24)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict

from serving.access import allow
from serving.console.formatting import seconds_until
from serving.http.routers import deps
from serving.http.routers.console.common import page, see_other, session_of
from serving.review import Case

router = APIRouter(prefix="/console", tags=["console"])

QUEUE_STATUSES = ("open", "claimed", "escalated", "awaiting_second_review", "resolved")


class QueueRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    case: Case
    left: float
    mine: bool
    taken: bool
    claimable: bool


def _rows(cases: list[Case], person_id: str, now: datetime) -> list[QueueRow]:
    rows = []
    for case in cases:
        holder = case.claimed_by_id if case.status == "claimed" else None
        rows.append(
            QueueRow(
                case=case,
                left=seconds_until(case.deadline, now),
                mine=holder == person_id,
                taken=holder is not None and holder != person_id,
                claimable=case.status in ("open", "escalated"),
            )
        )
    return rows


@router.get(
    "/queue",
    summary="the review queue page: open, claimed and escalated cases, deadlines and time left (overdue highlighted), filters, claim buttons",
)
@allow("reviewer", "senior_reviewer")
def queue_page(
    request: Request,
    use_case: str = "",
    status: Literal["", "open", "claimed", "escalated", "awaiting_second_review", "resolved"] = "",
    rule: str = "",
) -> Response:
    me = session_of(request).principal
    assert me.person_id is not None
    statuses = [status] if status else ["open", "claimed", "escalated", "awaiting_second_review"]
    cases = deps.desk(request).queue(
        status=statuses,  # type: ignore[arg-type]
        use_case=use_case or None,
        person_id=me.person_id,
    )
    every_rule = sorted({r for c in cases for r in c.referral_rules})
    if rule:
        cases = [c for c in cases if rule in c.referral_rules]
    query = request.url.query
    return page(
        request,
        "queue.html.j2",
        title="Review queue",
        rows=_rows(cases, me.person_id, datetime.now(UTC)),
        use_cases=sorted(deps.engine(request).served_versions()),
        statuses=QUEUE_STATUSES,
        rules=every_rule,
        filters={"use_case": use_case, "status": status, "rule": rule},
        refresh_url="/console/queue" + (f"?{query}" if query else ""),
        flash=_FLASH.get(request.query_params.get("done", "")),
    )


_FLASH = {
    "released": "The case went back to the queue.",
    "resolved": "The case is resolved.",
}


@router.post("/cases/{case_id}/claim", summary="claim a case from the console (then open it)")
@allow("reviewer", "senior_reviewer")
def claim_case(case_id: str, request: Request) -> Response:
    pid, name, roles = deps.person(request)
    deps.desk(request).claim(case_id, person_id=pid, person_name=name, roles=roles)
    return see_other(f"/console/cases/{case_id}?done=claimed")
