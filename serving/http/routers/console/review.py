"""The reviewer's pages: the queue, a case, its actions, appeals (R6, R21–R24)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, ConfigDict

from models.recourse import Recourse, format_value
from models.spec import DecisionSpec
from serving.access import allow
from serving.console.charts import Step, Waterfall, value_text, waterfall
from serving.console.formatting import seconds_until
from serving.http.responses import CONSOLE_PAGES
from serving.http.routers import deps
from serving.http.routers.cases import Resolution, open_and_log, resolve_as_caller
from serving.http.routers.console.common import form_of, page, see_other, session_of
from serving.review import Case, FinalOutcome, OpenedCase

# pages answer HTML; the gate and the pages may also redirect or refuse (documented)
router = APIRouter(
    prefix="/console",
    tags=["console"],
    default_response_class=HTMLResponse,
    responses=CONSOLE_PAGES,
)

QUEUE_STATUSES = ("open", "claimed", "escalated", "awaiting_second_review", "resolved")


class QueueRow(BaseModel):
    model_config = ConfigDict(frozen=True)

    case: Case
    left: float
    mine: bool
    taken: bool
    claimable: bool


def _standing(case: Case, person_id: str, now: datetime) -> QueueRow:
    holder = case.claimed_by_id if case.status == "claimed" else None
    return QueueRow(
        case=case,
        left=seconds_until(case.deadline, now),
        mine=holder == person_id,
        taken=holder is not None and holder != person_id,
        claimable=case.status in ("open", "escalated"),
    )


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
        rows=[_standing(c, me.person_id, datetime.now(UTC)) for c in cases],
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
    "proposed": (
        "Your resolution was sent to a senior reviewer: the spec's four-eyes rules need a"
        " second person to confirm it before it is final."
    ),
}


@router.post("/cases/{case_id}/claim", summary="claim a case from the console (then open it)")
@allow("reviewer", "senior_reviewer")
def claim_case(case_id: str, request: Request) -> Response:
    pid, name, roles = deps.person(request)
    deps.desk(request).claim(case_id, person_id=pid, person_name=name, roles=roles)
    return see_other(f"/console/cases/{case_id}?done=claimed")


# -- one case ----------------------------------------------------------------------------

_CASE_FLASH = {
    "claimed": "You claimed the case. Open it to read the applicant's data and decide.",
    "opened": "The case is open. Your reading is recorded in the ledger, with this case as purpose.",
}


def chart_of(opened: OpenedCase, spec: DecisionSpec | None) -> Waterfall:
    """The contribution waterfall of an opened case, labelled with the spec and the values."""
    rationale = opened.record.rationale
    values = None if opened.personal is None else opened.personal.features
    steps = []
    for c in rationale.contributions:
        feature = None if spec is None else spec.features.get(c.feature)
        shown = "erased" if values is None else value_text(values.get(c.feature))
        steps.append(
            Step(c.feature, c.label if feature is None else feature.label, c.contribution, shown)
        )
    thresholds = {}
    if spec is not None and spec.policy is not None:
        thresholds = {
            "approved at or above": spec.policy.approve_at,
            "declined below": spec.policy.decline_below,
        }
    return waterfall(rationale.base_value, steps, thresholds=thresholds)


class CaseFacts(QueueRow):
    """What the case page shows about the person's standing: nothing personal."""

    opened_by_me: bool
    original: FinalOutcome | None


@router.get(
    "/cases/{case_id}",
    summary="a case: its summary (no personal data) with claim/open buttons, or, opened by its holder, the data, score, chart of contributions, reasons, recourse, history and the resolve form (every view logged)",
)
@allow("reviewer", "senior_reviewer")
def case_page(case_id: str, request: Request) -> Response:
    return _case(case_id, request, open_now=False)


def _case(case_id: str, request: Request, *, open_now: bool) -> Response:
    # open_now: the Open button was pressed, so this view is the opening itself
    me = session_of(request).principal
    assert me.person_id is not None
    desk = deps.desk(request)
    case = desk.get(case_id)
    standing = _standing(case, me.person_id, datetime.now(UTC))
    facts = CaseFacts(
        **standing.model_dump(exclude={"case"}),
        case=case,
        opened_by_me=standing.mine and case.opened_by_id == me.person_id,
        # an appeal is of the decision as it stood: who decided it, how and why
        original=desk.final_outcome(case.decision_id) if case.kind == "appeal" else None,
    )
    spec = desk.spec_for(case.use_case)
    opened = open_and_log(case_id, request) if open_now or facts.opened_by_me else None
    if opened is not None:
        case = opened.case
    events = desk.history(case.decision_id)  # after any opening, so it lists it
    recourse = None
    if opened is not None and opened.personal is not None and opened.personal.recourse:
        recourse = Recourse.model_validate(opened.personal.recourse)
    kind = "Appeal" if case.kind == "appeal" else "Case"
    return page(
        request,
        "case.html.j2",
        title=f"{kind} {case_id[:8]}",
        facts=facts,
        spec=spec,
        policy=None if spec is None else spec.policy,
        codes={} if spec is None or spec.review is None else spec.review.codes,
        opened=opened,
        chart=None if opened is None else chart_of(opened, spec),
        recourse=recourse,
        shown=value_text,
        with_unit=format_value,
        events=events,
        flash=_CASE_FLASH.get("opened" if open_now else request.query_params.get("done", "")),
    )


@router.post(
    "/cases/{case_id}/open",
    summary="open a claimed case from the console (the opening and the personal-data read are logged)",
)
@allow("reviewer", "senior_reviewer")
def open_case(case_id: str, request: Request) -> Response:
    # the page is the answer (no redirect): one opening, one logged read of the data
    return _case(case_id, request, open_now=True)


@router.post(
    "/cases/{case_id}/resolve",
    summary="resolve an opened case from the console: outcome, a review reason code, a note (four-eyes rules may send it to a senior reviewer)",
)
@allow("reviewer", "senior_reviewer")
def resolve_case(
    case_id: str, request: Request, form: Annotated[Resolution, Depends(form_of(Resolution))]
) -> Response:
    done = resolve_as_caller(case_id, form, request)
    proposed = done.case.status == "awaiting_second_review"
    return see_other(f"/console/queue?done={'proposed' if proposed else 'resolved'}")


@router.post(
    "/cases/{case_id}/release", summary="give a claimed case back to the queue from the console"
)
@allow("reviewer", "senior_reviewer")
def release_case(case_id: str, request: Request) -> Response:
    pid, name, roles = deps.person(request)
    deps.desk(request).release(case_id, person_id=pid, person_name=name, roles=roles)
    return see_other("/console/queue?done=released")
