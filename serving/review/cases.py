"""The state machine of a case: claim, open, release, resolve, second review.

::

    open ──claim──► claimed ──resolve──► resolved
     ▲  ▲             │  │                  ▲
     │  └──release────┘  └─resolve (four eyes)─► awaiting_second_review ──confirm──┘
     │     (or lease expiry)                          │
     └────────────────────reject──────────────────────┘
    (``escalated`` behaves like ``open`` once an overdue case is escalated)

What this module guarantees
---------------------------
* One reviewer at a time: a claim holds a lease (``[review] lease_minutes``);
  an abandoned claim stops holding the case when its lease runs out.
* Resolved once: every transition is a conditional ``UPDATE`` (on the status,
  the holder and the lease) whose row count is checked, inside one ledger
  transaction that also chains the ``review_action`` entry, so two reviewers
  acting at once can never both claim or both resolve, and no state changes
  without its entry.
* Meaningful review (R8): resolving is refused unless the same person opened
  the full case after claiming it, at least ``[review] min_review_seconds``
  before; overriding the model's recommendation needs a reason code that may
  justify it and a note.
* Four eyes (R23): a resolution matching a ``[[review.second_review]]`` rule
  waits in ``awaiting_second_review`` until a senior reviewer other than its
  proposer (compared by person id, not by name) confirms or rejects it. If the
  decision's feature values were erased, a feature rule counts as matched.

What it cannot check: that the person behind a person id is who they say;
the caller authenticates them and passes the id, name and roles.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.sql import ColumnElement

from models.spec import DecisionSpec, ReviewSection, SecondReviewRule
from serving.decisions.record import PersonalData
from serving.ledger.entries import LogEntry
from serving.ledger.receipts import pending_receipt
from serving.ledger.store import LogTransaction
from serving.ledger.times import parse, stamp
from serving.review.entries import ReviewEntry, record
from serving.review.errors import (
    CaseConflict,
    CaseNotFound,
    InvalidResolution,
    ReviewForbidden,
    ReviewNotConfigured,
)
from serving.review.ledger_reads import appeal_entry, decision_of, payload_of
from serving.review.schema import CaseRow
from serving.review.views import (
    ActionResult,
    AppealStatement,
    OpenedCase,
    Proposal,
    case_view,
    effective_status,
)

__all__ = [
    "DEFAULT_LEASE_MINUTES",
    "MAX_NOTE_LENGTH",
    "OUTCOMES",
    "REVIEWER",
    "SENIOR_REVIEWER",
    "Actor",
    "SpecLookup",
    "claim",
    "load_case",
    "open_for_review",
    "release",
    "resolve",
    "review_section",
    "second_review",
]

REVIEWER = "reviewer"
SENIOR_REVIEWER = "senior_reviewer"
_REVIEW_ROLES = frozenset({REVIEWER, SENIOR_REVIEWER})
OUTCOMES = ("approved", "declined")
#: the lease of a use case whose spec has no [review] section (its cases can be claimed and
#: read, not resolved)
DEFAULT_LEASE_MINUTES: float = ReviewSection.model_fields["lease_minutes"].default
MAX_NOTE_LENGTH = 4000
_AGREES = {"approve": "approved", "decline": "declined"}

SpecLookup = Callable[[str], DecisionSpec | None]

_MESSAGE_NO_CASE = "no review case has case_id {case_id!r}"
_MESSAGE_BAD_PERSON = (
    "the acting person's {field} must be a non-empty str of at most {limit} characters;"
    " got {value!r} instead"
)
_MESSAGE_NEEDS_ROLE = (
    "{action} needs one of the roles {allowed}; {name} ({person_id}) has {roles} instead"
)
_MESSAGE_NOT_CONFIGURED = (
    "use case {use_case!r} has no [review] section in its decision spec, so its cases cannot"
    " be resolved; add [review] (codes with justifies_override, lease_minutes,"
    " min_review_seconds, appeal_deadline_hours) to the spec"
)
_MESSAGE_RESOLVED = "case {case_id} is already resolved ({outcome}, by {name} at {at})"
_MESSAGE_AWAITING = (
    "case {case_id} is awaiting a second review of {name}'s proposed outcome {outcome!r};"
    " only a senior reviewer other than {name} can confirm or reject it"
)
_MESSAGE_HELD = (
    "case {case_id} is claimed by {name} until {until}; it can be claimed when they release"
    " it or the claim expires"
)
_MESSAGE_NOT_HELD = (
    "{action} case {case_id} needs your live claim on it; the case is {status} instead"
    " (claim it first)"
)
_MESSAGE_LEASE_LOST = (
    "{action} case {case_id} needs your live claim on it; your claim expired at {until}"
    " (claim it again)"
)
_MESSAGE_EXCLUDED = (
    "{name} ({person_id}) took part in decision {decision_id} or an earlier review of it,"
    " so may not work its appeal (R9); another reviewer must take case {case_id}"
)
_MESSAGE_NOT_OPENED = (
    "case {case_id} cannot be resolved before its full case is opened: {name} has not opened"
    " it since {since} (R8); open the case, read it, then resolve"
)
_MESSAGE_TOO_FAST = (
    "case {case_id} was opened {seconds:.0f} s ago; at least {minimum} s must pass between"
    " opening and resolving (review.min_review_seconds of {use_case!r}), so wait"
    " {left:.0f} s more"
)
_MESSAGE_BAD_OUTCOME = "'outcome' must be one of {allowed}; got {value!r} instead"
_MESSAGE_BAD_CODE = (
    "'reason_code' must be one of the review codes of {use_case!r}: {allowed}; got {value!r}"
    " instead"
)
_MESSAGE_CODE_CANNOT_OVERRIDE = (
    "outcome {outcome!r} overrides the model's recommendation {recommendation!r}, and"
    " reason_code {value!r} cannot justify an override; codes that can: {allowed}"
)
_MESSAGE_OVERRIDE_NEEDS_NOTE = (
    "outcome {outcome!r} overrides the model's recommendation {recommendation!r}, so 'note'"
    " must say why (a non-empty str); got {value!r} instead"
)
_MESSAGE_BAD_NOTE = (
    f"'note' must be a str of at most {MAX_NOTE_LENGTH} characters or null; got {{value!r}} instead"
)
_MESSAGE_REJECT_NEEDS_NOTE = (
    "rejecting a proposed resolution needs a 'note' saying why (a non-empty str); got"
    " {value!r} instead"
)
_MESSAGE_FOUR_EYES = (
    "four eyes: the second review of case {case_id} must be made by a person other than"
    " {name} ({person_id}), who proposed the resolution"
)
_MESSAGE_NOT_AWAITING = (
    "case {case_id} has no resolution awaiting a second review; its status is {status}"
)
_MESSAGE_CANNOT_OPEN = (
    "opening case {case_id} needs your live claim on it (or, while it awaits a second"
    " review, the senior_reviewer role); the case is {status} instead"
)
_MESSAGE_RACED = "case {case_id} changed while {action}; read it again and retry"


@dataclass(frozen=True)
class Actor:
    """The authenticated person acting: ids are compared, names are shown."""

    person_id: str
    person_name: str
    roles: frozenset[str]

    @classmethod
    def of(cls, person_id: object, person_name: object, roles: Iterable[str]) -> Actor:
        for field, value, limit in (
            ("person_id", person_id, 64),
            ("person_name", person_name, 200),
        ):
            if not isinstance(value, str) or not value.strip() or len(value) > limit:
                raise ReviewForbidden(
                    _MESSAGE_BAD_PERSON.format(field=field, limit=limit, value=value)
                )
        assert isinstance(person_id, str) and isinstance(person_name, str)
        return cls(person_id, person_name.strip(), frozenset(roles))

    def require(self, allowed: frozenset[str], action: str) -> None:
        if not self.roles & allowed:
            raise ReviewForbidden(
                _MESSAGE_NEEDS_ROLE.format(
                    action=action,
                    allowed=sorted(allowed),
                    name=self.person_name,
                    person_id=self.person_id,
                    roles=sorted(self.roles),
                )
            )


# -- shared steps ----------------------------------------------------------------------


def load_case(session: Session, case_id: str) -> CaseRow:
    """The case ``case_id`` as stored now (raises :class:`CaseNotFound`)."""
    row = session.get(CaseRow, case_id, populate_existing=True)
    if row is None:
        raise CaseNotFound(_MESSAGE_NO_CASE.format(case_id=case_id))
    return row


def review_section(spec_for: SpecLookup, use_case: str) -> ReviewSection:
    """The ``[review]`` section of ``use_case``'s spec (raises :class:`ReviewNotConfigured`)."""
    spec = spec_for(use_case)
    if spec is None or spec.review is None:
        raise ReviewNotConfigured(_MESSAGE_NOT_CONFIGURED.format(use_case=use_case))
    return spec.review


def _lease_minutes(spec_for: SpecLookup, use_case: str) -> float:
    spec = spec_for(use_case)
    return (
        DEFAULT_LEASE_MINUTES if spec is None or spec.review is None else spec.review.lease_minutes
    )


def _transition(
    session: Session,
    row: CaseRow,
    where: Iterable[ColumnElement[bool]],
    values: dict[str, Any],
    action: str,
) -> CaseRow:
    """``UPDATE`` the case only if ``where`` still holds; exactly one row or a conflict."""
    statement = update(CaseRow).where(CaseRow.case_id == row.case_id, *where).values(**values)
    result = session.connection().execute(statement)
    if result.rowcount != 1:
        raise CaseConflict(_MESSAGE_RACED.format(case_id=row.case_id, action=action))
    return load_case(session, row.case_id)


def _entry(
    row: CaseRow, action: Any, now: datetime, actor: Actor | None, **facts: Any
) -> ReviewEntry:
    return ReviewEntry(
        action=action,
        case_id=row.case_id,
        case_kind=row.kind,  # type: ignore[arg-type]
        decision_id=row.decision_id,
        at=stamp(now),
        person_id=None if actor is None else actor.person_id,
        person_name=None if actor is None else actor.person_name,
        **facts,
    )


def _result(row: CaseRow, written: LogEntry, now: datetime) -> ActionResult:
    return ActionResult(
        case=case_view(row, now),
        entry_id=written.entry_id,
        entry_seq=written.seq,
        receipt=pending_receipt(written),
    )


def _resolved(row: CaseRow) -> CaseConflict:
    return CaseConflict(
        _MESSAGE_RESOLVED.format(
            case_id=row.case_id, outcome=row.outcome, name=row.resolved_by_name, at=row.resolved_at
        )
    )


def _awaiting(row: CaseRow) -> CaseConflict:
    return CaseConflict(
        _MESSAGE_AWAITING.format(
            case_id=row.case_id, name=row.proposed_by_name, outcome=row.proposed_outcome
        )
    )


def _refuse_unless_holder(row: CaseRow, actor: Actor, now_text: str, action: str) -> None:
    """Raise the conflict that says why ``actor`` does not hold the case now, if it does not."""
    if row.status == "resolved":
        raise _resolved(row)
    if row.status == "awaiting_second_review":
        raise _awaiting(row)
    if row.status == "claimed" and row.claimed_by_id == actor.person_id:
        if row.lease_until is not None and row.lease_until < now_text:
            raise CaseConflict(
                _MESSAGE_LEASE_LOST.format(
                    action=action, case_id=row.case_id, until=row.lease_until
                )
            )
        return
    if row.status == "claimed" and effective_status(row, now_text) == "claimed":
        raise CaseConflict(
            _MESSAGE_HELD.format(
                case_id=row.case_id, name=row.claimed_by_name, until=row.lease_until
            )
        )
    raise CaseConflict(
        _MESSAGE_NOT_HELD.format(
            action=action, case_id=row.case_id, status=effective_status(row, now_text)
        )
    )


def _refuse_if_excluded(row: CaseRow, actor: Actor) -> None:
    if actor.person_id in json.loads(row.excluded):
        raise ReviewForbidden(
            _MESSAGE_EXCLUDED.format(
                name=actor.person_name,
                person_id=actor.person_id,
                decision_id=row.decision_id,
                case_id=row.case_id,
            )
        )


def _held_by(actor: Actor, now_text: str) -> list[ColumnElement[bool]]:
    return [
        CaseRow.status == "claimed",
        CaseRow.claimed_by_id == actor.person_id,
        CaseRow.lease_until >= now_text,
    ]


_CLEAR_CLAIM: dict[str, Any] = {
    "claimed_by_id": None,
    "claimed_by_name": None,
    "claimed_at": None,
    "lease_until": None,
    "opened_by_id": None,
    "opened_at": None,
}


def _back_to_queue(row: CaseRow) -> str:
    return "open" if row.escalated_at is None else "escalated"


# -- claim and release -----------------------------------------------------------------


def claim(
    tx: LogTransaction, spec_for: SpecLookup, case_id: str, actor: Actor, now: datetime
) -> ActionResult:
    """Claim ``case_id`` for ``actor`` (or renew the actor's own live claim)."""
    actor.require(_REVIEW_ROLES, "claiming a case")
    session = tx.session
    row = load_case(session, case_id)
    now_text = stamp(now)
    until = stamp(now + timedelta(minutes=_lease_minutes(spec_for, row.use_case)))
    if row.status == "resolved":
        raise _resolved(row)
    if row.status == "awaiting_second_review":
        raise _awaiting(row)
    _refuse_if_excluded(row, actor)
    status = effective_status(row, now_text)
    if status == "claimed" and row.claimed_by_id == actor.person_id:
        row = _transition(
            session, row, _held_by(actor, now_text), {"lease_until": until}, "renewing"
        )
        written = record(tx, row, _entry(row, "claim_renewed", now, actor, lease_until=until))
        return _result(row, written, now)
    if status == "claimed":
        _refuse_unless_holder(row, actor, now_text, "claiming")
    took_over = row.status == "claimed"  # an expired claim of someone else
    previous = (row.claimed_by_id, row.claimed_by_name) if took_over else (None, None)
    free = (CaseRow.status.in_(("open", "escalated"))) | (
        (CaseRow.status == "claimed") & (CaseRow.lease_until < now_text)
    )
    row = _transition(
        session,
        row,
        [free],
        {
            **_CLEAR_CLAIM,
            "status": "claimed",
            "claimed_by_id": actor.person_id,
            "claimed_by_name": actor.person_name,
            "claimed_at": now_text,
            "lease_until": until,
        },
        "claiming",
    )
    entry = _entry(
        row,
        "claimed",
        now,
        actor,
        lease_until=until,
        took_over_from_id=previous[0],
        took_over_from_name=previous[1],
    )
    written = record(tx, row, entry)
    return _result(row, written, now)


def release(tx: LogTransaction, case_id: str, actor: Actor, now: datetime) -> ActionResult:
    """Give ``actor``'s claim back: the case returns to the queue."""
    session = tx.session
    row = load_case(session, case_id)
    now_text = stamp(now)
    _refuse_unless_holder(row, actor, now_text, "releasing")
    row = _transition(
        session,
        row,
        _held_by(actor, now_text),
        {**_CLEAR_CLAIM, "status": _back_to_queue(row)},
        "releasing",
    )
    written = record(tx, row, _entry(row, "released", now, actor))
    return _result(row, written, now)


# -- opening the full case -------------------------------------------------------------


def _may_second_review(row: CaseRow, actor: Actor) -> None:
    actor.require(frozenset({SENIOR_REVIEWER}), "a second review")
    if actor.person_id == row.proposed_by_id:
        raise ReviewForbidden(
            _MESSAGE_FOUR_EYES.format(
                case_id=row.case_id, name=row.proposed_by_name, person_id=row.proposed_by_id
            )
        )
    _refuse_if_excluded(row, actor)


def open_for_review(tx: LogTransaction, case_id: str, actor: Actor, now: datetime) -> OpenedCase:
    """The full case for the reviewer holding it (or a senior reviewer, for a second review).

    Records an ``opened`` action; the first opening since the claim (or the
    proposal) starts the minimum review time. The caller logs the read of
    personal data with its purpose.
    """
    actor.require(_REVIEW_ROLES, "opening a case")
    session = tx.session
    row = load_case(session, case_id)
    now_text = stamp(now)
    if row.status == "awaiting_second_review":
        _may_second_review(row, actor)
        where = [
            CaseRow.status == "awaiting_second_review",
            CaseRow.proposed_by_id == row.proposed_by_id,
        ]
    elif row.status in ("claimed", "resolved"):
        _refuse_unless_holder(row, actor, now_text, "opening")
        where = _held_by(actor, now_text)
    else:
        raise CaseConflict(
            _MESSAGE_CANNOT_OPEN.format(case_id=row.case_id, status=effective_status(row, now_text))
        )
    if row.opened_by_id != actor.person_id or row.opened_at is None:
        row = _transition(
            session, row, where, {"opened_by_id": actor.person_id, "opened_at": now_text}, "opening"
        )
    written = record(tx, row, _entry(row, "opened", now, actor))
    return _full_case(session, row, now, written)


def _full_case(session: Session, row: CaseRow, now: datetime, written: LogEntry) -> OpenedCase:
    decision = decision_of(session, row.decision_id)
    if decision is None:
        raise CaseNotFound(
            f"case {row.case_id} names decision {row.decision_id!r}, which is not in the ledger"
        )
    payload, erased = payload_of(session, decision.entry_id)
    appeal = None
    if row.kind == "appeal":
        found = appeal_entry(session, row)
        if found is not None:
            filed, appeal_entry_id = found
            said, _ = payload_of(session, appeal_entry_id)
            appeal = AppealStatement(
                statement=None if said is None else said.get("statement"),
                features=None if said is None else said.get("features"),
                filed_by=filed.filed_by or "",
                filed_at=filed.at,
            )
    proposal = None
    if row.status == "awaiting_second_review":
        assert row.proposed_outcome and row.proposed_reason_code
        assert row.proposed_by_id and row.proposed_by_name and row.proposed_at
        note, _ = payload_of(session, row.proposal_entry_id)
        proposal = Proposal(
            outcome=row.proposed_outcome,
            reason_code=row.proposed_reason_code,
            proposed_by_id=row.proposed_by_id,
            proposed_by_name=row.proposed_by_name,
            proposed_at=row.proposed_at,
            note=None if note is None else note.get("note"),
        )
    return OpenedCase(
        case=case_view(row, now),
        record=decision.record,
        # the person's audit attributes are for monitoring only: a reviewer must not see
        # the group, or it could sway the resolution monitoring is there to watch (R32)
        personal=(
            None
            if payload is None
            else PersonalData.model_validate({**payload, "audit_attributes": None})
        ),
        personal_erased=erased,
        appeal=appeal,
        proposal=proposal,
        entry_id=written.entry_id,
        entry_seq=written.seq,
        receipt=pending_receipt(written),
    )


# -- resolving -------------------------------------------------------------------------


def _check_note(note: object) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str) or len(note) > MAX_NOTE_LENGTH:
        raise InvalidResolution(_MESSAGE_BAD_NOTE.format(value=note))
    return note.strip() or None


def _check_opened(
    row: CaseRow, actor: Actor, since: str, review: ReviewSection, now: datetime
) -> float:
    """Seconds since ``actor`` opened the case; refuses too early or never opened (R8)."""
    if row.opened_by_id != actor.person_id or row.opened_at is None or row.opened_at < since:
        raise CaseConflict(
            _MESSAGE_NOT_OPENED.format(case_id=row.case_id, name=actor.person_name, since=since)
        )
    seconds = (now - parse(row.opened_at)).total_seconds()
    if seconds < review.min_review_seconds:
        raise CaseConflict(
            _MESSAGE_TOO_FAST.format(
                case_id=row.case_id,
                seconds=seconds,
                minimum=review.min_review_seconds,
                use_case=row.use_case,
                left=review.min_review_seconds - seconds,
            )
        )
    return seconds


def _features_for_rules(session: Session, row: CaseRow) -> dict[str, Any] | None:
    """The decision's feature values, updated by an appeal's new information (None: erased)."""
    decision = decision_of(session, row.decision_id)
    payload, _ = payload_of(session, None if decision is None else decision.entry_id)
    features = None if payload is None else dict(payload.get("features") or {})
    if row.kind == "appeal":
        found = appeal_entry(session, row)
        said = None if found is None else payload_of(session, found[1])[0]
        if said and said.get("features"):
            features = {**(features or {}), **said["features"]}
    return features


def _fires(
    rule: SecondReviewRule, outcome: str, recommendation: str, features: dict[str, Any] | None
) -> bool:
    if rule.outcome is not None and rule.outcome != outcome:
        return False
    if rule.model_recommendation is not None and rule.model_recommendation != recommendation:
        return False
    if rule.feature is None:
        return True
    value = None if features is None else features.get(rule.feature)
    if value is None:
        return True  # cannot tell: the values were erased or are missing, so fail closed
    if rule.above is not None:
        return bool(value > rule.above)
    if rule.below is not None:
        return bool(value < rule.below)
    return bool(value == rule.equals)


def resolve(
    tx: LogTransaction,
    spec_for: SpecLookup,
    case_id: str,
    actor: Actor,
    *,
    outcome: object,
    reason_code: object,
    note: object,
    now: datetime,
) -> ActionResult:
    """Resolve the case ``actor`` holds, or send it to a second reviewer (four eyes)."""
    session = tx.session
    row = load_case(session, case_id)
    review = review_section(spec_for, row.use_case)
    actor.require(_REVIEW_ROLES, "resolving a case")
    if outcome not in OUTCOMES:
        raise InvalidResolution(_MESSAGE_BAD_OUTCOME.format(allowed=list(OUTCOMES), value=outcome))
    assert isinstance(outcome, str)
    if not isinstance(reason_code, str) or reason_code not in review.codes:
        raise InvalidResolution(
            _MESSAGE_BAD_CODE.format(
                use_case=row.use_case, allowed=sorted(review.codes), value=reason_code
            )
        )
    text = _check_note(note)
    now_text = stamp(now)
    _refuse_unless_holder(row, actor, now_text, "resolving")
    assert row.claimed_at is not None
    seconds = _check_opened(row, actor, row.claimed_at, review, now)
    recommendation = row.model_recommendation
    override = recommendation in _AGREES and _AGREES[recommendation] != outcome
    if override:
        if not review.codes[reason_code].justifies_override:
            allowed = sorted(c for c, v in review.codes.items() if v.justifies_override)
            raise InvalidResolution(
                _MESSAGE_CODE_CANNOT_OVERRIDE.format(
                    outcome=outcome,
                    recommendation=recommendation,
                    value=reason_code,
                    allowed=allowed,
                )
            )
        if text is None:
            raise InvalidResolution(
                _MESSAGE_OVERRIDE_NEEDS_NOTE.format(
                    outcome=outcome, recommendation=recommendation, value=note
                )
            )
    features = _features_for_rules(session, row) if review.second_review else None
    fired = next(
        (r for r in review.second_review if _fires(r, outcome, recommendation, features)), None
    )
    facts: dict[str, Any] = {
        "outcome": outcome,
        "reason_code": reason_code,
        "model_recommendation": recommendation,
        "override": override,
        "review_seconds": round(seconds, 3),
        "has_note": text is not None,
    }
    payload = None if text is None else {"note": text}
    if fired is not None:
        entry = _entry(
            row, "second_review_requested", now, actor, second_review_rule=fired.reason, **facts
        )
        written = record(tx, row, entry, payload)
        row = _transition(
            session,
            row,
            _held_by(actor, now_text),
            {
                **_CLEAR_CLAIM,
                "status": "awaiting_second_review",
                "proposed_outcome": outcome,
                "proposed_reason_code": reason_code,
                "proposed_by_id": actor.person_id,
                "proposed_by_name": actor.person_name,
                "proposed_at": now_text,
                "proposal_entry_id": written.entry_id,
            },
            "resolving",
        )
        return _result(row, written, now)
    written = record(tx, row, _entry(row, "resolved", now, actor, **facts), payload)
    row = _transition(
        session,
        row,
        _held_by(actor, now_text),
        {
            **_CLEAR_CLAIM,
            "status": "resolved",
            "outcome": outcome,
            "reason_code": reason_code,
            "resolved_by_id": actor.person_id,
            "resolved_by_name": actor.person_name,
            "resolved_at": now_text,
            "resolution_entry_id": written.entry_id,
        },
        "resolving",
    )
    return _result(row, written, now)


def second_review(
    tx: LogTransaction,
    spec_for: SpecLookup,
    case_id: str,
    actor: Actor,
    *,
    confirm: bool,
    note: object,
    now: datetime,
) -> ActionResult:
    """Confirm (the case is resolved) or reject (it returns to the queue) a proposed resolution."""
    session = tx.session
    row = load_case(session, case_id)
    review = review_section(spec_for, row.use_case)
    if row.status != "awaiting_second_review":
        raise CaseConflict(
            _MESSAGE_NOT_AWAITING.format(
                case_id=row.case_id, status=effective_status(row, stamp(now))
            )
        )
    _may_second_review(row, actor)
    text = _check_note(note)
    if not confirm and text is None:
        raise InvalidResolution(_MESSAGE_REJECT_NEEDS_NOTE.format(value=note))
    assert row.proposed_at is not None
    seconds = _check_opened(row, actor, row.proposed_at, review, now)
    now_text = stamp(now)
    where = [
        CaseRow.status == "awaiting_second_review",
        CaseRow.proposed_by_id == row.proposed_by_id,
    ]
    facts: dict[str, Any] = {
        "outcome": row.proposed_outcome,
        "reason_code": row.proposed_reason_code,
        "model_recommendation": row.model_recommendation,
        "proposed_by_id": row.proposed_by_id,
        "proposed_by_name": row.proposed_by_name,
        "review_seconds": round(seconds, 3),
        "has_note": text is not None,
    }
    payload = None if text is None else {"note": text}
    action = "second_review_confirmed" if confirm else "second_review_rejected"
    written = record(tx, row, _entry(row, action, now, actor, **facts), payload)
    cleared = {
        "proposed_outcome": None,
        "proposed_reason_code": None,
        "proposed_by_id": None,
        "proposed_by_name": None,
        "proposed_at": None,
        "proposal_entry_id": None,
    }
    if confirm:
        values = {
            **_CLEAR_CLAIM,
            **cleared,
            "status": "resolved",
            "outcome": row.proposed_outcome,
            "reason_code": row.proposed_reason_code,
            "resolved_by_id": row.proposed_by_id,
            "resolved_by_name": row.proposed_by_name,
            "second_reviewer_id": actor.person_id,
            "second_reviewer_name": actor.person_name,
            "resolved_at": now_text,
            "resolution_entry_id": written.entry_id,
        }
    else:
        values = {**_CLEAR_CLAIM, **cleared, "status": _back_to_queue(row)}
    row = _transition(session, row, where, values, "second-reviewing")
    return _result(row, written, now)
