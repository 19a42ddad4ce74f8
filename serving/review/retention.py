"""Retention and erasure of personal payloads (R30).

A use case's spec may set ``[retention] payload_days``: the personal payloads of a
decision (the decision's own, and those of its review actions and appeal) are
erased that many days after the decision became *final* (the automated outcome,
else the resolution of its referral, else of its appeal; see
:mod:`serving.review.outcomes`). A decision still pending review is never erased by
retention. Erasure on a person's request (:func:`erase_decision`) needs only a reason.

Erasing goes through :meth:`serving.ledger.DecisionLog.erase_payload`: each erasure is
itself an ``admin`` entry of the ledger, the salted payload hash stays in the chain,
so the chain, the Merkle tree, receipts and checkpoints still verify, and replay says
the inputs are gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.ledger import DecisionLog, EntryNotFoundError, LogKind
from serving.ledger.schema import LogEntryRow, PayloadRow
from serving.review.outcomes import final_outcome

__all__ = [
    "Due",
    "RetentionReport",
    "RetentionSchedule",
    "due_for_erasure",
    "erase_decision",
    "retain",
]

_MESSAGE_NO_DECISION = "no decision has decision_id {decision_id!r}"


@dataclass(frozen=True)
class Due:
    """One decision whose personal payloads are past their retention period."""

    decision_id: str
    use_case: str
    final_at: str
    due_at: str
    entry_ids: tuple[str, ...]


@dataclass
class RetentionReport:
    """What a retention run found and did."""

    checked: int = 0
    erased: list[Due] = field(default_factory=list)
    pending_review: int = 0
    not_yet_due: int = 0
    no_period: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "checked": self.checked,
            "erased": [d.__dict__ for d in self.erased],
            "pending_review": self.pending_review,
            "not_yet_due": self.not_yet_due,
            "no_retention_period": self.no_period,
        }


def _held_payloads(session: Session, decision_id: str) -> tuple[str, ...]:
    """Entries about the decision (its own, review actions, appeals) still holding a payload."""
    rows = session.execute(
        select(LogEntryRow.entry_id)
        .join(PayloadRow, PayloadRow.entry_id == LogEntryRow.entry_id)
        .where(LogEntryRow.subject_id == decision_id, PayloadRow.erased_at.is_(None))
        .order_by(LogEntryRow.seq)
    )
    return tuple(str(r[0]) for r in rows)


def _decisions(session: Session) -> list[tuple[str, str]]:
    rows = session.execute(
        select(LogEntryRow.subject_id, LogEntryRow.use_case)
        .where(LogEntryRow.kind == str(LogKind.DECISION))
        .order_by(LogEntryRow.seq)
    )
    return [(str(r[0]), str(r[1])) for r in rows]


def due_for_erasure(
    log: DecisionLog, periods: Mapping[str, int], now: datetime | None = None
) -> tuple[list[Due], RetentionReport]:
    """Decisions whose payloads are past ``periods[use_case]`` days after they became final.

    Use cases without a period are counted in the report and left alone.
    """
    now = now or datetime.now(UTC)
    report = RetentionReport()
    due: list[Due] = []
    with Session(log.engine) as session:
        for decision_id, use_case in _decisions(session):
            held = _held_payloads(session, decision_id)
            if not held:
                continue
            report.checked += 1
            days = periods.get(use_case)
            if days is None:
                report.no_period[use_case] = report.no_period.get(use_case, 0) + 1
                continue
            standing = final_outcome(session, decision_id)
            if standing.status != "final":
                report.pending_review += 1
                continue
            final_at = datetime.fromisoformat(standing.decided_at)
            due_at = final_at + timedelta(days=days)
            if due_at > now:
                report.not_yet_due += 1
                continue
            due.append(Due(decision_id, use_case, standing.decided_at, due_at.isoformat(), held))
    return due, report


def retain(
    log: DecisionLog,
    periods: Mapping[str, int],
    now: datetime | None = None,
    *,
    dry_run: bool = False,
) -> RetentionReport:
    """Erase every payload past its retention period (``dry_run``: only say which)."""
    due, report = due_for_erasure(log, periods, now)
    for item in due:
        if not dry_run:
            days = periods[item.use_case]
            reason = f"retention period ended: {days} days after the decision was final"
            for entry_id in item.entry_ids:
                log.erase_payload(entry_id, reason)
        report.erased.append(item)
    return report


def erase_decision(log: DecisionLog, decision_id: str, reason: str) -> tuple[str, ...]:
    """Erase every personal payload about one decision, on the person's request.

    Returns the entry ids erased (none when they were erased already). Raises
    :class:`serving.ledger.EntryNotFoundError` for an unknown decision id.
    """
    if not isinstance(reason, str) or not reason.strip():
        raise ValueError(f"an erasure needs a reason (without personal data); got {reason!r}")
    with Session(log.engine) as session:
        known = session.scalar(
            select(LogEntryRow.entry_id).where(
                LogEntryRow.subject_id == decision_id,
                LogEntryRow.kind == str(LogKind.DECISION),
            )
        )
        if known is None:
            raise EntryNotFoundError(_MESSAGE_NO_DECISION.format(decision_id=decision_id))
        held = _held_payloads(session, decision_id)
    for entry_id in held:
        log.erase_payload(entry_id, reason)
    return held


class RetentionSchedule:
    """Runs :func:`retain` at most once every ``every_seconds`` (the service: daily).

    ``periods`` gives, when called, each served use case's ``payload_days``; use cases
    without a ``[retention]`` section are left alone. The first run is one period after
    the start, so a restart loop cannot erase more often than the schedule says.
    """

    def __init__(
        self,
        log: DecisionLog,
        periods: Callable[[], Mapping[str, int]],
        every_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.log = log
        self.periods = periods
        self.every = timedelta(seconds=every_seconds)
        self.clock = clock
        self.next_run = clock() + self.every
        self.last: RetentionReport | None = None

    def run_if_due(self) -> RetentionReport | None:
        """Erase what is past its period when the schedule says so; else do nothing."""
        now = self.clock()
        if now < self.next_run:
            return None
        self.next_run = now + self.every
        self.last = retain(self.log, self.periods(), now)
        return self.last
