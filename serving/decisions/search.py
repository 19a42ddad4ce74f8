"""Finding decisions in the ledger: by id, use case, automated outcome and the day recorded.

Only the chained ``decision`` entries are read, and every filter runs in SQL,
newest first, one page at a time (``limit``, then ``before_seq`` for the next
page). The automated outcome is the model's; where a decision stands after
review (pending or final, and its final outcome) belongs to ``serving.review``,
a layer above, so callers that filter on it do so on the rows found here.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import JSON, ColumnElement, Engine, cast, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models.policy import Outcome
from serving.decisions.record import DecisionRecord
from serving.ledger import DecisionLog, LogKind, LogReadError
from serving.ledger.engine import is_postgres
from serving.ledger.schema import LogEntryRow
from serving.ledger.times import stamp

__all__ = ["MAX_PAGE", "DecisionPage", "DecisionQuery", "FoundDecision", "search_decisions"]

#: the most decisions one page may hold
MAX_PAGE = 500

_MESSAGE_DATES = "date_to must be on or after date_from; got date_from={start}, date_to={end}"
_MESSAGE_LIMIT = "limit must be between 1 and {most}; got {got!r} instead"


class DecisionQuery(BaseModel):
    """What to look for; a field left empty (``None`` or blank) does not filter.

    ``decision_id`` matches ids that start with it (a full id finds one
    decision); ``date_from`` and ``date_to`` are UTC days, both included.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision_id: str | None = Field(default=None, max_length=200)
    use_case: str | None = Field(default=None, max_length=200)
    outcome: Outcome | None = None
    date_from: date | None = None
    date_to: date | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        # an HTML form sends an unfilled field as ""
        if isinstance(value, str):
            value = value.strip()
            return value or None
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> DecisionQuery:
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError(_MESSAGE_DATES.format(start=self.date_from, end=self.date_to))
        return self


class FoundDecision(BaseModel):
    """One decision found: its chained record and its place in the ledger."""

    model_config = ConfigDict(frozen=True)

    seq: int
    recorded_at: str
    record: DecisionRecord


class DecisionPage(BaseModel):
    """A page of decisions, newest first; ``next_before`` continues with older ones."""

    model_config = ConfigDict(frozen=True)

    rows: tuple[FoundDecision, ...]
    next_before: int | None


def _outcome_of(engine: Engine) -> ColumnElement[str]:
    # the digest is canonical JSON in a text column: PostgreSQL needs a cast to use ->>;
    # SQLite's JSON_EXTRACT reads the text as it is (a CAST there would make it a number)
    digest = (
        cast(LogEntryRow.digest, JSON)
        if is_postgres(engine)
        else type_coerce(LogEntryRow.digest, JSON)
    )
    return digest["outcome"].as_string()


def _start_of(day: date) -> str:
    return stamp(datetime.combine(day, time(0), tzinfo=UTC))


def search_decisions(
    log: DecisionLog,
    query: DecisionQuery,
    *,
    limit: int = 100,
    before_seq: int | None = None,
) -> DecisionPage:
    """Up to ``limit`` decisions matching ``query``, newest first, older than ``before_seq``.

    ``next_before`` is set exactly when older matches exist. Nothing is written
    and no personal data is read. Raises ``ValueError`` for a ``limit`` outside
    1..:data:`MAX_PAGE` and :class:`LogReadError` when the ledger cannot be read.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(_MESSAGE_LIMIT.format(most=MAX_PAGE, got=limit))
    found = select(LogEntryRow.seq, LogEntryRow.recorded_at, LogEntryRow.digest).where(
        LogEntryRow.kind == str(LogKind.DECISION)
    )
    if query.decision_id is not None:
        found = found.where(LogEntryRow.subject_id.startswith(query.decision_id, autoescape=True))
    if query.use_case is not None:
        found = found.where(LogEntryRow.use_case == query.use_case)
    if query.outcome is not None:
        found = found.where(_outcome_of(log.engine) == query.outcome)
    if query.date_from is not None:
        found = found.where(LogEntryRow.recorded_at >= _start_of(query.date_from))
    if query.date_to is not None:
        # stored times sort as text, so "before the next day's midnight" includes the whole day
        found = found.where(LogEntryRow.recorded_at < _start_of(query.date_to + timedelta(days=1)))
    if before_seq is not None:
        found = found.where(LogEntryRow.seq < before_seq)
    found = found.order_by(LogEntryRow.seq.desc()).limit(limit + 1)
    try:
        with Session(log.engine) as session:
            rows = session.execute(found).all()
    except SQLAlchemyError as error:
        raise LogReadError(f"could not search the decisions: {error}") from error
    page = [
        FoundDecision(
            seq=seq,
            recorded_at=recorded_at,
            record=DecisionRecord.model_validate(json.loads(digest)),
        )
        for seq, recorded_at, digest in rows[:limit]
    ]
    more = len(rows) > limit
    return DecisionPage(rows=tuple(page), next_before=page[-1].seq if more else None)
