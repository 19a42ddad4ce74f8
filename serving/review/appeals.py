"""Appeals (R9, R25): a person contests a decision, and a reviewer who took no part decides.

Filing an appeal opens a linked case (kind ``appeal``, ``appeal_of`` the
decision's referral case, if it had one) with its own deadline from
``[review] appeal_deadline_hours``, and chains an ``appeal`` entry, in one
transaction. Everyone who claimed, opened, resolved or second-reviewed any
earlier case of the decision is excluded from the appeal case. Its resolution
is the decision's final outcome.

Refused: an appeal of a decision that was already appealed (an appeal of an
appeal), and of a decision whose review is still pending. The person's
statement and new information are personal data: they go in the erasable
payload, the chain keeps only which features were given.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from serving.decisions.validation import InvalidFeatures, check_features
from serving.ledger.receipts import pending_receipt
from serving.ledger.store import LogTransaction
from serving.ledger.times import stamp
from serving.review.cases import SpecLookup, load_case, review_section
from serving.review.entries import ReviewEntry, record
from serving.review.errors import AppealRefused, CaseNotFound, ReviewError
from serving.review.ledger_reads import cases_of, decision_of, participants, payload_of
from serving.review.opening import open_case
from serving.review.views import ActionResult, case_view

__all__ = ["MAX_STATEMENT_LENGTH", "file_appeal"]

MAX_STATEMENT_LENGTH = 5000

_MESSAGE_NO_DECISION = "no decision has decision_id {decision_id!r}"
_MESSAGE_APPEALED = (
    "decision {decision_id} was already appealed (appeal case {case_id}, status {status});"
    " the appeal's resolution is final and an appeal cannot itself be appealed"
)
_MESSAGE_PENDING = (
    "decision {decision_id} is still pending review (case {case_id}, status {status}); it can"
    " be appealed once that review is resolved"
)
_MESSAGE_BAD_STATEMENT = (
    "'statement' must be a non-empty str of at most {limit} characters (the person's own"
    " words); got {value!r} instead"
)
_MESSAGE_BAD_FILER = (
    "'filed_by' must be a non-empty str of at most 200 characters (who files on the person's"
    " behalf); got {value!r} instead"
)
_MESSAGE_BAD_FEATURES = (
    "'features' must be a mapping of feature names to new values, or null; got {type} instead"
)


def _new_information(
    spec_for: SpecLookup, use_case: str, known: dict[str, Any] | None, new: object
) -> dict[str, Any]:
    if new is None:
        return {}
    if not isinstance(new, dict):
        raise ReviewError(_MESSAGE_BAD_FEATURES.format(type=type(new).__name__))
    spec = spec_for(use_case)
    if spec is None or not new:
        return dict(new)
    try:
        check_features(spec, {**(known or {}), **new})
    except InvalidFeatures as error:
        # only the values the person gave are theirs to fix; the rest may be erased
        problems = [p for p in error.problems if p.loc[-1] in new]
        if problems:
            raise InvalidFeatures(use_case, problems) from None
    return dict(new)


def file_appeal(
    tx: LogTransaction,
    spec_for: SpecLookup,
    decision_id: str,
    *,
    statement: object,
    filed_by: object,
    features: object = None,
    now: datetime,
) -> ActionResult:
    """Open the appeal case of ``decision_id`` (see the module docstring for refusals)."""
    if (
        not isinstance(statement, str)
        or not statement.strip()
        or len(statement) > MAX_STATEMENT_LENGTH
    ):
        raise ReviewError(
            _MESSAGE_BAD_STATEMENT.format(limit=MAX_STATEMENT_LENGTH, value=statement)
        )
    if not isinstance(filed_by, str) or not filed_by.strip() or len(filed_by) > 200:
        raise ReviewError(_MESSAGE_BAD_FILER.format(value=filed_by))
    session = tx.session
    decision = decision_of(session, decision_id)
    if decision is None:
        raise CaseNotFound(_MESSAGE_NO_DECISION.format(decision_id=decision_id))
    record_ = decision.record
    review = review_section(spec_for, record_.use_case)
    cases = cases_of(session, decision_id)
    if "appeal" in cases:
        earlier = cases["appeal"]
        raise AppealRefused(
            _MESSAGE_APPEALED.format(
                decision_id=decision_id, case_id=earlier.case_id, status=earlier.status
            )
        )
    referral = cases.get("referral")
    if referral is not None and referral.status != "resolved":
        raise AppealRefused(
            _MESSAGE_PENDING.format(
                decision_id=decision_id, case_id=referral.case_id, status=referral.status
            )
        )
    if referral is None and record_.outcome == "referred":
        raise AppealRefused(
            _MESSAGE_PENDING.format(decision_id=decision_id, case_id=None, status="not opened")
        )
    payload, _ = payload_of(session, decision.entry_id)
    known = None if payload is None else payload.get("features")
    new = _new_information(spec_for, record_.use_case, known, features)
    excluded = sorted(participants(session, decision_id))
    deadline = now + timedelta(hours=review.appeal_deadline_hours)
    case_id = open_case(
        session,
        decision_id=decision_id,
        use_case=record_.use_case,
        deadline=deadline,
        referral_rules=["appeal"],
        model_recommendation=record_.recommendation,
        kind="appeal",
        appeal_of=None if referral is None else referral.case_id,
        excluded=excluded,
        now=now,
        case_id=uuid.uuid4().hex,
    )
    row = load_case(session, case_id)
    entry = ReviewEntry(
        action="appeal_filed",
        case_id=case_id,
        case_kind="appeal",
        decision_id=decision_id,
        at=stamp(now),
        deadline=row.deadline,
        appeal_of=row.appeal_of,
        excluded=tuple(excluded),
        new_information=tuple(sorted(new)),
        filed_by=filed_by.strip(),
    )
    written = record(tx, row, entry, {"statement": statement.strip(), "features": new})
    return ActionResult(
        case=case_view(row, now),
        entry_id=written.entry_id,
        entry_seq=written.seq,
        receipt=pending_receipt(written),
    )
