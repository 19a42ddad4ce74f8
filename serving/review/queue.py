"""The review queue: cases by effective status and use case, oldest deadline first.

Overdue cases carry how long they are overdue. A claim whose lease ran out is
back in the queue at once (shown ``open`` or ``escalated``), even before
anyone claims it. A person's queue leaves out the appeals they may not work.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, select
from sqlalchemy.orm import Session

from serving.ledger.times import stamp
from serving.review.errors import ReviewError
from serving.review.schema import CaseRow
from serving.review.views import Case, CaseStatus, case_view

__all__ = ["ALL_STATUSES", "WAITING", "overdue", "queue"]

ALL_STATUSES: tuple[CaseStatus, ...] = (
    "open",
    "escalated",
    "claimed",
    "awaiting_second_review",
    "resolved",
)
#: every status but ``resolved``: the work still to do
WAITING: tuple[CaseStatus, ...] = ALL_STATUSES[:-1]
MAX_LIMIT = 1000

_MESSAGE_BAD_STATUS = "'status' must be among {allowed}; got {value!r} instead"
_MESSAGE_BAD_LIMIT = f"'limit' must be an int from 1 to {MAX_LIMIT}; got {{value!r}} instead"


def _effective(now_text: str) -> ColumnElement[str]:
    lapsed = and_(CaseRow.status == "claimed", CaseRow.lease_until < now_text)
    return case(
        (and_(lapsed, CaseRow.escalated_at.is_(None)), "open"),
        (lapsed, "escalated"),
        else_=CaseRow.status,
    )


def queue(
    session: Session,
    now: datetime,
    *,
    statuses: Iterable[str] | None = None,
    use_case: str | None = None,
    person_id: str | None = None,
    limit: int = 200,
) -> list[Case]:
    """Cases in ``statuses`` (default: all but resolved), oldest deadline first.

    ``person_id`` leaves out the cases that person is excluded from (appeals of
    decisions they took part in).
    """
    wanted = list(WAITING if statuses is None else statuses)
    unknown = [s for s in wanted if s not in ALL_STATUSES]
    if unknown or not wanted:
        raise ReviewError(_MESSAGE_BAD_STATUS.format(allowed=list(ALL_STATUSES), value=unknown))
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ReviewError(_MESSAGE_BAD_LIMIT.format(value=limit))
    now_text = stamp(now)
    query = select(CaseRow).where(_effective(now_text).in_(wanted))
    if use_case is not None:
        query = query.where(CaseRow.use_case == use_case)
    if person_id is not None:
        query = query.where(~CaseRow.excluded.contains(f'"{person_id}"', autoescape=True))
    query = query.order_by(CaseRow.deadline, CaseRow.created_at, CaseRow.case_id).limit(limit)
    return [case_view(row, now) for row in session.scalars(query)]


def overdue(session: Session, now: datetime, *, use_case: str | None = None) -> list[Case]:
    """Every unresolved case past its deadline, most overdue first."""
    query = select(CaseRow).where(CaseRow.status != "resolved", CaseRow.deadline < stamp(now))
    if use_case is not None:
        query = query.where(CaseRow.use_case == use_case)
    query = query.order_by(CaseRow.deadline, CaseRow.case_id)
    return [case_view(row, now) for row in session.scalars(query)]
