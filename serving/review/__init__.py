"""Review: cases, the queue, claims, resolutions, four eyes, deadlines, appeals, statistics.

This package sits above ``serving.decisions`` and below ``serving.http``.
Decisions cannot import it, so a referred decision's case is opened through a
hook: the engine takes ``on_referred(session, record)`` and passes it to
``DecisionLog.append(..., also=...)``; the HTTP service wires it to
:func:`open_referral_case` (or calls :func:`open_case` itself), so the case
row is written in the same transaction as the decision entry.

Everything else goes through a :class:`ReviewDesk`::

    desk = ReviewDesk(log, spec_for=lambda uc: engine.served(uc).spec)
    desk.claim(case_id, person_id=p.id, person_name=p.name, roles=p.roles)
    opened = desk.open(case_id, ...)        # caller logs the personal-data read
    desk.resolve(case_id, ..., outcome="approved", reason_code="income_verified", note="...")

What it guarantees is said in :mod:`serving.review.cases` (state machine, R8,
four eyes), :mod:`serving.review.deadlines` (escalated exactly once),
:mod:`serving.review.appeals` (R9) and :mod:`serving.review.stats`.
"""

from serving.review.appeals import file_appeal
from serving.review.cases import (
    DEFAULT_LEASE_MINUTES,
    OUTCOMES,
    REVIEWER,
    SENIOR_REVIEWER,
    Actor,
    SpecLookup,
)
from serving.review.deadlines import escalate_overdue
from serving.review.desk import ReviewDesk
from serving.review.entries import ReviewEntry
from serving.review.errors import (
    AppealRefused,
    CaseConflict,
    CaseNotFound,
    InvalidResolution,
    ReviewError,
    ReviewForbidden,
    ReviewNotConfigured,
)
from serving.review.opening import open_case, open_referral_case
from serving.review.views import (
    ActionResult,
    AppealStatement,
    Case,
    CaseEvent,
    CaseKind,
    CaseStatus,
    Escalation,
    FinalOutcome,
    OpenedCase,
    Proposal,
    ReviewerStats,
)

__all__ = [
    "DEFAULT_LEASE_MINUTES",
    "OUTCOMES",
    "REVIEWER",
    "SENIOR_REVIEWER",
    "ActionResult",
    "Actor",
    "AppealRefused",
    "AppealStatement",
    "Case",
    "CaseConflict",
    "CaseEvent",
    "CaseKind",
    "CaseNotFound",
    "CaseStatus",
    "Escalation",
    "FinalOutcome",
    "InvalidResolution",
    "OpenedCase",
    "Proposal",
    "ReviewDesk",
    "ReviewEntry",
    "ReviewError",
    "ReviewForbidden",
    "ReviewNotConfigured",
    "ReviewerStats",
    "SpecLookup",
    "escalate_overdue",
    "file_appeal",
    "open_case",
    "open_referral_case",
]
