"""Reading decisions back, with where they stand after review, and their final notice."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from serving.access import allow
from serving.decisions import DecisionView
from serving.decisions.errors import DecisionError
from serving.decisions.notice import FinalState, final_notice, render_notice_html
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps
from serving.review import FinalOutcome

router = APIRouter(tags=["decisions"], responses=API_GATE)


class NotFinal(DecisionError):
    kind = "conflict"


def _shown(view: DecisionView, final: FinalOutcome) -> dict[str, Any]:
    shown = view.model_dump(mode="json")
    for absent in ("personal", "personal_erased", "latency_ms", "recourse", "application_ref"):
        if shown.get(absent) is None:
            shown.pop(absent, None)
    # the effective outcome is the resolution of any review or appeal
    shown["automated_outcome"] = view.outcome
    shown["status"] = final.status
    shown["final"] = final.model_dump(mode="json")
    return shown


@router.get(
    "/decisions/{decision_id}",
    responses=json_errors(400, 404),
    summary="read a decision back with its status (`pending_review`, `final`), final outcome, who decided and when, and its whole history; `?personal=true` adds the person's data for an auditor or admin with `&purpose=...`, or for the application that requested the decision (reviewers read it through their cases); every read is logged; an application reads only its own decisions",
)
@allow("application", "reviewer", "senior_reviewer", "auditor", "admin")
def get_decision(
    decision_id: str, request: Request, purpose: str | None = None, personal: bool = False
) -> dict[str, Any]:
    view = deps.engine(request).get_decision(
        decision_id, principal=deps.principal(request), purpose=purpose, personal=personal
    )
    return _shown(view, deps.desk(request).final_outcome(decision_id))


@router.get(
    "/decisions/{decision_id}/notice",
    responses={
        **json_errors(404, 409),
        200: {"content": {"application/json": {}, "text/html": {"schema": {"type": "string"}}}},
    },
    summary="what the person is told once the outcome is final: outcome, principal reasons, that a system was involved and whether a person reviewed it, how and by when to appeal; `?format=html` for the plain-language page",
    response_model=None,
)
@allow("application", "auditor", "admin")
def get_notice(
    decision_id: str, request: Request, format: Literal["json", "html"] = "json"
) -> dict[str, Any] | HTMLResponse:
    engine = deps.engine(request)
    view = engine.get_decision(decision_id, principal=deps.principal(request))
    final = deps.desk(request).final_outcome(decision_id)
    if final.status != "final" or final.outcome == "referred":
        raise NotFinal(
            f"decision {decision_id!r} is still pending review: its notice is sent once the"
            " outcome is final"
        )
    state = FinalState(
        status=final.status,
        outcome=final.outcome,
        decided_by=final.decided_by,
        decided_at=final.decided_at,
        reason_code=final.reason_code,
    )
    notice = final_notice(view, state, engine.served(view.use_case).spec)
    if format == "html":
        return HTMLResponse(render_notice_html(notice))
    return notice.model_dump(mode="json")
