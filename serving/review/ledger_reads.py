"""What the review package reads from the ledger's tables, inside the caller's transaction.

These read the decision a case is about, its personal payload, the appeal
that opened a case, and everyone who took part in a decision's reviews. They
run in the session of a review transaction, so they see the same state the
action then changes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.decisions.record import DecisionRecord
from serving.ledger import LogKind
from serving.ledger.schema import LogEntryRow, PayloadRow
from serving.review.entries import ReviewEntry
from serving.review.schema import CaseRow

__all__ = [
    "StoredDecision",
    "appeal_entry",
    "cases_of",
    "decision_of",
    "participants",
    "payload_of",
]


class StoredDecision:
    """A decision entry: its record, and where its personal payload is."""

    def __init__(self, row: LogEntryRow) -> None:
        self.entry_id = row.entry_id
        self.seq = row.seq
        self.record = DecisionRecord.model_validate(json.loads(row.digest))


def decision_of(session: Session, decision_id: str) -> StoredDecision | None:
    """The decision entry of ``decision_id``, or ``None`` if there is none."""
    row = session.scalar(
        select(LogEntryRow)
        .where(LogEntryRow.subject_id == decision_id, LogEntryRow.kind == str(LogKind.DECISION))
        .order_by(LogEntryRow.seq)
        .limit(1)
    )
    return None if row is None else StoredDecision(row)


def payload_of(session: Session, entry_id: str | None) -> tuple[dict[str, Any] | None, bool]:
    """The personal payload of an entry and whether it was erased (``None, False``: none)."""
    if entry_id is None:
        return None, False
    row = session.get(PayloadRow, entry_id)
    if row is None:
        return None, False
    if row.payload is None:
        return None, True
    return json.loads(row.payload), False


def appeal_entry(session: Session, case: CaseRow) -> tuple[ReviewEntry, str] | None:
    """The ``appeal_filed`` entry that opened ``case`` and its entry id."""
    rows = session.scalars(
        select(LogEntryRow)
        .where(
            LogEntryRow.subject_id == case.decision_id,
            LogEntryRow.kind == str(LogKind.APPEAL),
        )
        .order_by(LogEntryRow.seq)
    )
    for row in rows:
        entry = ReviewEntry.model_validate(json.loads(row.digest))
        if entry.action == "appeal_filed" and entry.case_id == case.case_id:
            return entry, row.entry_id
    return None


def participants(session: Session, decision_id: str) -> set[str]:
    """Person ids of everyone who claimed, opened, resolved or second-reviewed a case of it."""
    digests = session.scalars(
        select(LogEntryRow.digest).where(
            LogEntryRow.subject_id == decision_id,
            LogEntryRow.kind == str(LogKind.REVIEW_ACTION),
        )
    )
    found = {ReviewEntry.model_validate(json.loads(d)).person_id for d in digests}
    return {person for person in found if person is not None}


def cases_of(session: Session, decision_id: str) -> dict[str, CaseRow]:
    """The cases of ``decision_id`` by kind (``referral``, ``appeal``)."""
    rows = session.scalars(select(CaseRow).where(CaseRow.decision_id == decision_id))
    return {row.kind: row for row in rows}
