"""Opening a case inside the transaction that records its decision (or its appeal).

``serving.decisions`` sits below this package and cannot import it, so the
engine takes a hook: ``on_referred(session, record)`` is passed to
``DecisionLog.append(..., also=...)`` and the HTTP service (the top layer)
wires it to :func:`open_referral_case`. The case row is then written in the
same transaction as the decision entry: if either fails, neither exists, and
the unique ``(decision_id, kind)`` key makes a second referral case impossible.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.orm import Session

from serving.decisions.record import DecisionRecord
from serving.ledger.times import parse, stamp
from serving.review.schema import CaseRow
from serving.review.views import CaseKind

__all__ = ["open_case", "open_referral_case"]

_MESSAGE_NO_CASE = (
    "decision {decision_id!r} has outcome {outcome!r} and no case reference; only a referred"
    " decision with its 'case' (case_id, deadline) opens a review case"
)


def open_case(
    session: Session,
    *,
    decision_id: str,
    use_case: str,
    deadline: datetime | str,
    referral_rules: Iterable[str],
    model_recommendation: str,
    kind: CaseKind = "referral",
    appeal_of: str | None = None,
    excluded: Iterable[str] = (),
    now: datetime,
    case_id: str | None = None,
) -> str:
    """Add an ``open`` case to ``session``'s transaction and return its id.

    Parameters
    ----------
    deadline : datetime or str
        When the case must be resolved (an aware datetime or an ISO 8601 string).
    referral_rules : iterable of str
        The policy rules that sent the decision to a person (``Referral.rule``).
    model_recommendation : str
        ``approve``, ``decline`` or ``uncertain``: what the model alone would do.
    excluded : iterable of str
        Person ids who may not work this case (for an appeal, R9).
    case_id : str, optional
        The id the decision record already names; a new one otherwise.
    """
    due = parse(deadline) if isinstance(deadline, str) else deadline
    row = CaseRow(
        case_id=case_id or uuid.uuid4().hex,
        decision_id=decision_id,
        use_case=use_case,
        kind=kind,
        appeal_of=appeal_of,
        status="open",
        created_at=stamp(now),
        deadline=stamp(due),
        referral_rules=json.dumps(list(referral_rules)),
        model_recommendation=model_recommendation,
        excluded=json.dumps(sorted(set(excluded))),
    )
    session.add(row)
    session.flush()
    return row.case_id


def open_referral_case(session: Session, record: DecisionRecord) -> None:
    """The engine's ``on_referred`` hook: open the case ``record.case`` names.

    Raises ``ValueError`` for a record without a case (the decision is then not
    written either, since this runs inside its transaction).
    """
    if record.case is None:
        raise ValueError(
            _MESSAGE_NO_CASE.format(decision_id=record.decision_id, outcome=record.outcome)
        )
    open_case(
        session,
        decision_id=record.decision_id,
        use_case=record.use_case,
        deadline=record.case.deadline,
        referral_rules=[referral.rule for referral in record.referral_reasons],
        model_recommendation=record.recommendation,
        now=parse(record.decided_at),
        case_id=record.case.case_id,
    )
