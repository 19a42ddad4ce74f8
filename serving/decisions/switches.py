"""The stop switch of each use case (R7): while on, every request is referred to a person."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from serving.decisions.errors import RecordFailed
from serving.decisions.schema import SwitchRow
from serving.ledger import DecisionLog, LogEntry

__all__ = ["StopSwitches"]

logger = logging.getLogger("docket.serving")


class StopSwitches:
    """Reads and flips the switches; every flip is also a chained ``admin`` entry."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log

    def is_stopped(self, use_case: str) -> bool:
        # read on every decision (no cache), so a stop applies to the very next request
        # in every worker; a Core query keeps it cheap
        query = select(SwitchRow.stopped).where(SwitchRow.use_case == use_case)
        try:
            with self.log.engine.connect() as conn:
                return bool(conn.execute(query).scalar())
        except SQLAlchemyError:
            # without the switch no decision may be given: the same 503 as an unwritable ledger
            logger.error("the stop switch of %s could not be read", use_case)
            raise RecordFailed(
                "the service's database cannot be reached, so no decision is given; try again later"
            ) from None

    def set(self, use_case: str, stopped: bool, by: str, reason: str) -> LogEntry:
        now = datetime.now(UTC).isoformat()
        with Session(self.log.engine) as session, session.begin():
            row = session.get(SwitchRow, use_case)
            if row is None:
                session.add(
                    SwitchRow(
                        use_case=use_case,
                        stopped=stopped,
                        changed_at=now,
                        changed_by=by,
                        reason=reason,
                    )
                )
            else:
                row.stopped, row.changed_at, row.changed_by, row.reason = stopped, now, by, reason
        return self.log.append(
            "admin",
            use_case,
            {"action": "stop" if stopped else "resume", "by": by, "reason": reason, "at": now},
            subject_id=f"switch:{use_case}",
        )

    def all(self) -> dict[str, bool]:
        with Session(self.log.engine) as session:
            return {r.use_case: r.stopped for r in session.scalars(select(SwitchRow))}
