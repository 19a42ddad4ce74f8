"""What the person is told (R5, R26): a system was involved, the reasons, how to appeal.

Two texts. :func:`notice_for` is the short notice every decision carries from
the moment it is made. :func:`final_notice` is what the organisation sends the
person once the outcome is final (``GET /decisions/{id}/notice``, JSON or
plain-language HTML): the outcome; for an adverse outcome one to four principal
reasons (the model's, or the reviewer's own reason when a person declined on
other grounds); that an automated system was involved and whether a person
reviewed it; how to appeal, by when, and the decision id. Every route a notice
names exists: a test walks them against a running service.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ConfigDict

from models.spec import DecisionSpec
from serving.decisions.record import DecisionRecord

__all__ = [
    "APPEAL_ROUTE",
    "NOTICE",
    "FinalState",
    "Notice",
    "NoticeReason",
    "final_notice",
    "notice_for",
    "render_notice_html",
]

APPEAL_ROUTE = "POST /appeals"
NOTICE = (
    "This decision was made with the help of an automated system.{pending} You may appeal it"
    "{when} and have it reviewed by a person who took no part in it: the organisation that asked"
    " for this decision files your appeal ({route}) quoting decision id {decision_id}."
)


def notice_for(record: DecisionRecord) -> str:
    """The short notice every decision carries."""
    pending = record.status == "pending_review"
    return NOTICE.format(
        pending=" A person will review it before it is final." if pending else "",
        when=" once it is final" if pending else "",
        route=APPEAL_ROUTE,
        decision_id=record.decision_id,
    )


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FinalState(_Frozen):
    """Where the decision stands after any review or appeal (from ``serving.review``)."""

    status: Literal["pending_review", "final"]
    outcome: Literal["approved", "declined", "referred"]
    decided_by: Literal["model", "review", "appeal"]
    decided_at: str
    reason_code: str | None = None


class NoticeReason(_Frozen):
    code: str
    text: str


class Notice(_Frozen):
    """The final notice, as JSON; :func:`render_notice_html` gives the same as a page."""

    decision_id: str
    use_case: str
    outcome: Literal["approved", "declined"]
    adverse: bool
    decided_at: str
    automated_system_involved: bool
    reviewed_by_a_person: bool
    reasons: tuple[NoticeReason, ...]
    reasons_from: Literal["model", "reviewer"] | None
    appeal_route: str | None
    appeal_by: str | None
    text: str


def _reasons(
    record: DecisionRecord, state: FinalState, spec: DecisionSpec
) -> tuple[tuple[NoticeReason, ...], Literal["model", "reviewer"] | None]:
    if state.outcome != "declined":
        return (), None
    review = spec.review
    code = state.reason_code
    if state.decided_by != "model" and code is not None and review is not None:
        entry = review.codes.get(code)
        # a person who declined on other grounds than the model's reasons gives their own
        if entry is not None and (entry.justifies_override or record.recommendation == "approve"):
            return (NoticeReason(code=code, text=entry.text),), "reviewer"
    model = tuple(NoticeReason(code=r.code, text=r.text) for r in record.reasons[:4])
    return model, "model"


def final_notice(record: DecisionRecord, state: FinalState, spec: DecisionSpec) -> Notice:
    """The notice sent once ``state`` is final (the caller refuses pending decisions)."""
    assert state.status == "final" and state.outcome in ("approved", "declined")
    reasons, source = _reasons(record, state, spec)
    reviewed = state.decided_by != "model"
    appealable = state.decided_by != "appeal" and spec.review is not None
    appeal_by = None
    if appealable:
        assert spec.review is not None
        window = timedelta(hours=spec.review.appeal_deadline_hours)
        appeal_by = (datetime.fromisoformat(state.decided_at) + window).isoformat(
            timespec="seconds"
        )
    outcome: Literal["approved", "declined"] = state.outcome  # type: ignore[assignment]
    lines = [
        f"Decision {record.decision_id}: your application was {outcome}.",
        "An automated system was involved in this decision"
        + (", and a person reviewed it." if reviewed else "; no person reviewed it."),
    ]
    if reasons:
        lines.append(
            "The principal reasons, most important first: "
            + "; ".join(r.text for r in reasons)
            + "."
        )
    if appeal_by is not None:
        lines.append(
            f"You may appeal until {appeal_by}: ask the organisation that made this decision to"
            f" file your appeal (they send {APPEAL_ROUTE} with decision id {record.decision_id}"
            " and your statement). A person who took no part in the decision will review it."
        )
    else:
        lines.append(
            "This outcome is the result of an appeal and is final; for questions, contact the"
            f" organisation that made this decision and quote decision id {record.decision_id}."
        )
    return Notice(
        decision_id=record.decision_id,
        use_case=record.use_case,
        outcome=outcome,
        adverse=outcome == "declined",
        decided_at=state.decided_at,
        automated_system_involved=True,
        reviewed_by_a_person=reviewed,
        reasons=reasons,
        reasons_from=source,
        appeal_route=APPEAL_ROUTE if appeal_by else None,
        appeal_by=appeal_by,
        text=" ".join(lines),
    )


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("serving.decisions", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        keep_trailing_newline=True,
    )


def render_notice_html(notice: Notice) -> str:
    """The notice as a plain-language, self-contained HTML page."""
    return _environment().get_template("notice.html.j2").render(notice=notice)
