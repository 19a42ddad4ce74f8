"""The stop switch of each use case (R7): while on, every request is referred to a person.

A decision is prepared with the state this worker last saw, and the state is
confirmed inside the transaction that records it (:meth:`StopSwitches.confirm`,
run through ``DecisionLog.append(check=...)``). That transaction holds the writer
lock, so the check is ordered with the chain: a decision recorded after a stop was
committed has seen the stop, in every worker, with no separate connection and read
before each decision. When the state differs, nothing is written and the decision
is prepared again under the state found (:class:`SwitchChanged`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import Connection, Select, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from serving.decisions.errors import RecordFailed
from serving.decisions.schema import SwitchRow
from serving.ledger import DecisionLog, LogEntry

__all__ = ["StopSwitches", "SwitchChanged"]

logger = logging.getLogger("docket.serving")
#: where a connection keeps the switch states its transaction has read (``Connection.info``)
_MEMO_KEY = "docket_stop_switches"


class SwitchChanged(Exception):
    """The switch is not what the decision was prepared under; nothing was written."""

    def __init__(self, use_case: str, stopped: bool) -> None:
        super().__init__(f"the stop switch of {use_case!r} is now {'on' if stopped else 'off'}")
        self.use_case, self.stopped = use_case, stopped


@cache
def _state_query() -> Select[bool]:
    # built once: making the expression is most of the cost of this read, paid per decision
    return select(SwitchRow.stopped).where(SwitchRow.use_case == bindparam("use_case"))


_SQLITE_STATE = f"SELECT stopped FROM {SwitchRow.__tablename__} WHERE use_case = ?"


class StopSwitches:
    """Reads and flips the switches; every flip is also a chained ``admin`` entry."""

    def __init__(self, log: DecisionLog) -> None:
        self.log = log
        # the state each use case's switch had at this worker's last read; only a hint
        # for preparing a decision, confirmed in the transaction that records it
        self._seen: dict[str, bool] = {}

    def expected(self, use_case: str) -> bool:
        """The state to prepare a decision under: the last one seen (read once if never)."""
        seen = self._seen.get(use_case)
        return self.is_stopped(use_case) if seen is None else seen

    def confirm(self, connection: Connection, use_case: str, assumed: bool) -> None:
        """Raise :class:`SwitchChanged` unless the switch is ``assumed`` (on the append's
        connection, in its transaction, so a database error fails the append: 503,
        nothing written)."""
        # read once per transaction: a group commit confirms many decisions in one, under
        # the writer lock, and a flip committed after this read appends its own entry
        # only after this transaction releases the lock, so the chain's order still holds
        transaction = connection.get_transaction()
        memo: tuple[object, dict[str, bool]] | None = connection.info.get(_MEMO_KEY)
        if memo is None or memo[0] is not transaction:
            # connection.info lasts as long as the database connection: the states are
            # kept with the transaction they were read in (held, so never mistaken for a
            # later one that reuses its id)
            memo = (transaction, {})
            connection.info[_MEMO_KEY] = memo
        known = memo[1]
        stopped = known.get(use_case)
        if stopped is None:
            if connection.dialect.name == "sqlite":
                # SQLite's own SQL: no compiled-statement lookup, read under the lock
                # for every group (0/1 or no row, as the Boolean column reads back)
                found = connection.exec_driver_sql(_SQLITE_STATE, (use_case,)).scalar()
            else:
                found = connection.execute(_state_query(), {"use_case": use_case}).scalar()
            stopped = bool(found)
            known[use_case] = stopped
        self._seen[use_case] = stopped
        if stopped != assumed:
            raise SwitchChanged(use_case, stopped)

    def is_stopped(self, use_case: str) -> bool:
        """Read the switch now (its own connection); a database error is :class:`RecordFailed`."""
        try:
            with self.log.engine.connect() as conn:
                stopped = bool(conn.execute(_state_query(), {"use_case": use_case}).scalar())
            self._seen[use_case] = stopped
            return stopped
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
        self._seen[use_case] = stopped
        return self.log.append(
            "admin",
            use_case,
            {"action": "stop" if stopped else "resume", "by": by, "reason": reason, "at": now},
            subject_id=f"switch:{use_case}",
        )

    def all(self) -> dict[str, bool]:
        with Session(self.log.engine) as session:
            return {r.use_case: r.stopped for r in session.scalars(select(SwitchRow))}
