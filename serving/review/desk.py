"""The review desk: every review operation, bound to one ledger, one spec lookup and one clock.

The HTTP layer and the CLI hold one :class:`ReviewDesk` and pass the
authenticated person as plain arguments (``person_id``, ``person_name``,
``roles``). Each action runs in one ledger transaction
(:meth:`DecisionLog.transaction`): the case row changes and its chained entry
are committed together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from serving.ledger import DecisionLog, LogReadError
from serving.ledger.times import Clock, utc_now
from serving.review.appeals import file_appeal
from serving.review.cases import (
    Actor,
    SpecLookup,
    claim,
    load_case,
    open_for_review,
    release,
    resolve,
    second_review,
)
from serving.review.deadlines import escalate_overdue
from serving.review.outcomes import final_outcome, history
from serving.review.queue import overdue, queue
from serving.review.stats import reviewer_stats
from serving.review.views import (
    ActionResult,
    Case,
    CaseEvent,
    Escalation,
    FinalOutcome,
    OpenedCase,
    ReviewerStats,
    case_view,
)

__all__ = ["ReviewDesk"]

T = TypeVar("T")


class ReviewDesk:
    """Cases, claims, resolutions, deadlines, appeals and statistics over one decision log.

    Parameters
    ----------
    log : DecisionLog
        The migrated decision log (its database holds the cases too).
    spec_for : callable
        ``spec_for(use_case)`` returns the use case's current :class:`DecisionSpec`
        (its ``[review]`` section) or ``None`` if it is unknown.
    clock : callable, optional
        Returns the current aware time (tests pass a fake clock).
    """

    def __init__(
        self, log: DecisionLog, spec_for: SpecLookup, *, clock: Clock | None = None
    ) -> None:
        self.log = log
        self.spec_for = spec_for
        self.clock = clock or utc_now

    # -- reading ---------------------------------------------------------------------

    @contextmanager
    def _reading(self, action: str) -> Iterator[Session]:
        try:
            with Session(self.log.engine) as session:
                yield session
        except SQLAlchemyError as error:
            raise LogReadError(f"could not read review cases ({action}): {error}") from error

    def _read(self, action: str, work: Callable[[Session], T]) -> T:
        with self._reading(action) as session:
            return work(session)

    def get(self, case_id: str) -> Case:
        """One case as it stands now (no personal data; nothing is recorded)."""
        now = self.clock()
        return self._read("get", lambda s: case_view(load_case(s, case_id), now))

    def queue(
        self,
        *,
        status: Iterable[str] | None = None,
        use_case: str | None = None,
        person_id: str | None = None,
        limit: int = 200,
    ) -> list[Case]:
        """Waiting cases (or those in ``status``), oldest deadline first, overdue marked."""
        now = self.clock()
        return self._read(
            "queue",
            lambda s: queue(
                s, now, statuses=status, use_case=use_case, person_id=person_id, limit=limit
            ),
        )

    def overdue(self, *, use_case: str | None = None) -> list[Case]:
        """Every unresolved case past its deadline (``docket review overdue``)."""
        now = self.clock()
        return self._read("overdue", lambda s: overdue(s, now, use_case=use_case))

    def stats(
        self, *, use_case: str | None = None, since: datetime | None = None
    ) -> list[ReviewerStats]:
        """Per-reviewer statistics (``docket review stats``, ``GET /review/stats``)."""
        return self._read("stats", lambda s: reviewer_stats(s, use_case=use_case, since=since))

    def final_outcome(self, decision_id: str) -> FinalOutcome:
        """The decision's status (``pending_review``/``final``), outcome, who decided and when."""
        return self._read("final_outcome", lambda s: final_outcome(s, decision_id))

    def history(self, decision_id: str) -> list[CaseEvent]:
        """Every review action and appeal about the decision, oldest first."""
        return self._read("history", lambda s: history(s, decision_id))

    # -- acting ----------------------------------------------------------------------

    def claim(
        self, case_id: str, *, person_id: str, person_name: str, roles: Iterable[str]
    ) -> ActionResult:
        """Claim a case for ``[review] lease_minutes`` (a holder claiming again renews it)."""
        actor = Actor.of(person_id, person_name, roles)
        now = self.clock()
        with self.log.transaction() as tx:
            return claim(tx, self.spec_for, case_id, actor, now)

    def release(
        self, case_id: str, *, person_id: str, person_name: str, roles: Iterable[str]
    ) -> ActionResult:
        """Give a claim back; the case returns to the queue."""
        actor = Actor.of(person_id, person_name, roles)
        now = self.clock()
        with self.log.transaction() as tx:
            return release(tx, case_id, actor, now)

    def open(
        self, case_id: str, *, person_id: str, person_name: str, roles: Iterable[str]
    ) -> OpenedCase:
        """The full case (decision, rationale, reasons, the person's data, recourse); recorded.

        The caller must also log the read of personal data with its purpose (R17).
        """
        actor = Actor.of(person_id, person_name, roles)
        now = self.clock()
        with self.log.transaction() as tx:
            return open_for_review(tx, case_id, actor, now)

    def resolve(
        self,
        case_id: str,
        *,
        person_id: str,
        person_name: str,
        roles: Iterable[str],
        outcome: str,
        reason_code: str,
        note: str | None = None,
    ) -> ActionResult:
        """Resolve a case (``approved``/``declined``, a review code, a note for overrides)."""
        actor = Actor.of(person_id, person_name, roles)
        now = self.clock()
        with self.log.transaction() as tx:
            return resolve(
                tx,
                self.spec_for,
                case_id,
                actor,
                outcome=outcome,
                reason_code=reason_code,
                note=note,
                now=now,
            )

    def second_review(
        self,
        case_id: str,
        *,
        person_id: str,
        person_name: str,
        roles: Iterable[str],
        confirm: bool,
        note: str | None = None,
    ) -> ActionResult:
        """A senior reviewer confirms or (with a note) rejects a proposed resolution."""
        actor = Actor.of(person_id, person_name, roles)
        now = self.clock()
        with self.log.transaction() as tx:
            return second_review(
                tx, self.spec_for, case_id, actor, confirm=confirm, note=note, now=now
            )

    def escalate_overdue(self, now: datetime | None = None) -> list[Escalation]:
        """Escalate, once each, the cases past their deadline (the service runs this periodically)."""
        moment = now or self.clock()
        with self.log.transaction() as tx:
            return escalate_overdue(tx, moment)

    def appeal(
        self,
        decision_id: str,
        *,
        statement: str,
        filed_by: str,
        features: dict[str, object] | None = None,
    ) -> ActionResult:
        """Open the appeal case of a decision on the person's behalf."""
        now = self.clock()
        with self.log.transaction() as tx:
            return file_appeal(
                tx,
                self.spec_for,
                decision_id,
                statement=statement,
                filed_by=filed_by,
                features=features,
                now=now,
            )
