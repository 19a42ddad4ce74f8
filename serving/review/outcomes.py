"""Where a decision stands after review and appeal, and its review history (R21, R25).

The final outcome of a decision is, in order of precedence: the resolution of
its appeal; else the resolution of its referral case; else the model's
automated outcome. While a referral or an appeal is unresolved the status is
``pending_review``.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.ledger import LogKind
from serving.ledger.schema import LogEntryRow
from serving.review.errors import CaseNotFound
from serving.review.ledger_reads import cases_of, decision_of
from serving.review.schema import CaseRow
from serving.review.views import CaseEvent, FinalOutcome

__all__ = ["final_outcome", "history"]

_MESSAGE_NO_DECISION = "no decision has decision_id {decision_id!r}"


def _by_review(row: CaseRow) -> dict[str, object]:
    return {
        "outcome": row.outcome,
        "decided_by_id": row.resolved_by_id,
        "decided_by_name": row.resolved_by_name,
        "second_reviewer_name": row.second_reviewer_name,
        "decided_at": row.resolved_at,
        "case_id": row.case_id,
        "reason_code": row.reason_code,
    }


def final_outcome(session: Session, decision_id: str) -> FinalOutcome:
    """The decision's status, its (final or standing) outcome, and who decided it when."""
    decision = decision_of(session, decision_id)
    if decision is None:
        raise CaseNotFound(_MESSAGE_NO_DECISION.format(decision_id=decision_id))
    record = decision.record
    cases = cases_of(session, decision_id)
    referral, appeal = cases.get("referral"), cases.get("appeal")
    standing: dict[str, object] = {
        "outcome": record.outcome,
        "decided_by": "model",
        "decided_by_id": None,
        "decided_by_name": None,
        "second_reviewer_name": None,
        "decided_at": record.decided_at,
        "case_id": None,
        "reason_code": None,
    }
    status = "final" if record.outcome != "referred" else "pending_review"
    if referral is not None:
        if referral.status == "resolved":
            standing = {**_by_review(referral), "decided_by": "review"}
            status = "final"
        else:
            standing["case_id"] = referral.case_id
            status = "pending_review"
    if appeal is not None:
        if appeal.status == "resolved":
            standing = {**_by_review(appeal), "decided_by": "appeal"}
            status = "final"
        else:
            status = "pending_review"
    return FinalOutcome.model_validate(
        {
            **standing,
            "decision_id": decision_id,
            "use_case": record.use_case,
            "status": status,
            "appeal_case_id": None if appeal is None else appeal.case_id,
            "under_appeal": appeal is not None and appeal.status != "resolved",
        }
    )


def history(session: Session, decision_id: str) -> list[CaseEvent]:
    """Every review action and appeal about the decision, oldest first (notes left out)."""
    rows = session.execute(
        select(LogEntryRow.seq, LogEntryRow.kind, LogEntryRow.recorded_at, LogEntryRow.digest)
        .where(
            LogEntryRow.subject_id == decision_id,
            LogEntryRow.kind.in_((str(LogKind.REVIEW_ACTION), str(LogKind.APPEAL))),
        )
        .order_by(LogEntryRow.seq)
    )
    return [
        CaseEvent.model_validate(
            {**json.loads(digest), "seq": seq, "kind": kind, "recorded_at": recorded_at}
        )
        for seq, kind, recorded_at, digest in rows
    ]
