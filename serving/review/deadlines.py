"""Deadlines (R24): an overdue case is escalated exactly once, with an ``escalated`` entry.

:func:`escalate_overdue` is what the service runs periodically (and what a
test runs with a test clock). Escalation sets ``escalated_at`` with a
conditional ``UPDATE ... WHERE escalated_at IS NULL`` inside the ledger
transaction that chains the entry, so two workers running it at once still
escalate each case once. An unclaimed case becomes ``escalated``; a claimed
case stays with its reviewer, marked escalated; either stays in the queue,
overdue, until resolved.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, select, update

from serving.ledger.store import LogTransaction
from serving.ledger.times import parse, stamp
from serving.review.entries import SYSTEM, ReviewEntry, record
from serving.review.schema import CaseRow
from serving.review.views import Escalation

__all__ = ["escalate_overdue"]

#: cases escalated per call; the next call takes the rest
BATCH = 500


def escalate_overdue(tx: LogTransaction, now: datetime, *, batch: int = BATCH) -> list[Escalation]:
    """Escalate every unresolved case past its deadline that was not escalated yet."""
    session = tx.session
    now_text = stamp(now)
    due = session.scalars(
        select(CaseRow)
        .where(
            CaseRow.status != "resolved",
            CaseRow.escalated_at.is_(None),
            CaseRow.deadline < now_text,
        )
        .order_by(CaseRow.deadline, CaseRow.case_id)
        .limit(batch)
    ).all()
    done: list[Escalation] = []
    for row in due:
        statement = (
            update(CaseRow)
            .where(
                CaseRow.case_id == row.case_id,
                CaseRow.escalated_at.is_(None),
                CaseRow.status != "resolved",
            )
            .values(
                escalated_at=now_text,
                status=case((CaseRow.status == "open", "escalated"), else_=CaseRow.status),
            )
        )
        if session.connection().execute(statement).rowcount != 1:
            continue  # resolved or escalated meanwhile
        late = (now - parse(row.deadline)).total_seconds()
        entry = ReviewEntry(
            action="escalated",
            case_id=row.case_id,
            case_kind=row.kind,  # type: ignore[arg-type]
            decision_id=row.decision_id,
            at=now_text,
            person_name=SYSTEM,
            deadline=row.deadline,
            overdue_seconds=round(late, 3),
            status=row.status,
        )
        written = record(tx, row, entry)
        done.append(
            Escalation(
                case_id=row.case_id,
                decision_id=row.decision_id,
                use_case=row.use_case,
                kind=row.kind,  # type: ignore[arg-type]
                deadline=row.deadline,
                escalated_at=now_text,
                overdue_seconds=late,
                entry_seq=written.seq,
            )
        )
    return done
