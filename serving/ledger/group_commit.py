"""Group commit: the appends of one process's threads written together, one transaction each.

Without it every :meth:`~serving.ledger.store.DecisionLog.append` is a transaction of
its own that takes the writer lock (``pg_advisory_xact_lock`` on PostgreSQL,
``BEGIN IMMEDIATE`` on SQLite) and waits for its own commit to reach the disk, so all
writers go one at a time and the ceiling is one fsync per entry.

With it, appends queue here and one caller at a time (the *leader*) writes every
queued append in one transaction: one lock, one head read, one insert of all the
entries, one head update, one commit. While the leader writes, new appends queue up
and the next leader takes them all, so groups grow with the load by themselves and a
lone writer is written at once (``window_s`` = 0, the default). A positive
``window_s`` makes each leader wait that long before it takes the queue, trading
latency for larger groups.

What does not change
--------------------
* Order: the leader chains the group from ``chain_head`` under the same lock as
  before, so the ledger is still one chain (seq, prev hash); processes (workers,
  replicas) still serialise on the lock, each now writing groups.
* Acknowledgement: :meth:`GroupCommitter.submit` returns only after the transaction
  holding the entry committed; if the commit fails, every caller of the group gets
  :class:`~serving.ledger.entries.LogWriteError`, as a failed commit did before.
* ``also(session, entry)`` runs in the transaction that commits the entry, inside a
  savepoint of its own: if it raises, its entry and its rows are rolled back to the
  savepoint, the next entry takes the same seq, and the caller gets the exception;
  the rest of the group commits. Hooks run on the leader's thread.
* ``check(session)`` runs in the transaction that commits the entry, under the lock,
  before the entry is chained, and only reads: if it raises, its caller gets the
  exception and the entry is simply not chained (no savepoint needed, nothing of it
  was written); the rest of the group commits. Checks run on the leader's thread.
  A :class:`ConnectionCheck` is given the transaction's connection instead.
* The leader's session is handed only to ``also`` hooks and to checks that are not
  a :class:`ConnectionCheck`; a group of the common decision (a connection check, no
  hook) is written on the session's connection directly.
* A database error while the group is written (before the commit) rolls the group
  back and writes each of its appends alone, as before, so one entry the database
  refuses fails only its own caller.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session

from serving.ledger.entries import LogEntry

__all__ = [
    "ADAPTIVE_WAIT_S",
    "DEFAULT_MAX_ENTRIES",
    "GROUP_COMMIT_ENV",
    "GROUP_MAX_ENV",
    "GROUP_WINDOW_ENV",
    "Check",
    "ConnectionCheck",
    "GroupCommitSettings",
    "GroupCommitter",
    "GroupWriter",
    "PendingAppend",
    "Take",
]

GROUP_COMMIT_ENV = "DOCKET_LEDGER_GROUP_COMMIT"
GROUP_WINDOW_ENV = "DOCKET_LEDGER_GROUP_WINDOW_MS"
GROUP_MAX_ENV = "DOCKET_LEDGER_GROUP_MAX"
#: a group's transaction stays short (a few ms) even when hundreds of appends queue
DEFAULT_MAX_ENTRIES = 256
_MAX_WINDOW_MS = 1000.0
#: the longest a leader without a window waits for the followers of the last group:
#: none, measured best (benchmarks/ledger_throughput.py, 8 threads: ~1,000/s with 1 ms,
#: ~1,200/s with 0) since the leader takes the queue only once it holds the lock, and
#: the followers still preparing their next append join the group during that round
#: trip anyway; a wait on a condition with a timeout cost more than 1 ms under load
ADAPTIVE_WAIT_S = 0.0

_MESSAGE_BAD_SWITCH = "{env} must be 'on' or 'off' (or 1/0); got {value!r} instead."
_MESSAGE_BAD_WINDOW = (
    "{env} must be a number of milliseconds from 0 to {most:g} (0: no waiting); "
    "got {value!r} instead."
)
_MESSAGE_BAD_MAX = "{env} must be a whole number of entries from 1 to 10000; got {value!r} instead."
_MESSAGE_SETTINGS = "GroupCommitSettings: {field} must be {allowed}; got {value!r} instead."

_ON = {"1", "on", "true", "yes"}
_OFF = {"0", "off", "false", "no"}


@dataclass(frozen=True, slots=True)
class GroupCommitSettings:
    """Whether appends are grouped, how long a leader waits, how many one group holds."""

    enabled: bool = True
    window_s: float = 0.0
    max_entries: int = DEFAULT_MAX_ENTRIES

    def __post_init__(self) -> None:
        if not 0.0 <= self.window_s <= _MAX_WINDOW_MS / 1000:
            raise ValueError(
                _MESSAGE_SETTINGS.format(field="window_s", allowed="0 to 1 s", value=self.window_s)
            )
        if not 1 <= self.max_entries <= 10_000:
            raise ValueError(
                _MESSAGE_SETTINGS.format(
                    field="max_entries", allowed="1 to 10000", value=self.max_entries
                )
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> GroupCommitSettings:
        """``DOCKET_LEDGER_GROUP_COMMIT`` (on), ``…_WINDOW_MS`` (0), ``…_MAX`` (256)."""
        source = os.environ if env is None else env
        switch = source.get(GROUP_COMMIT_ENV, "").strip().lower()
        if switch and switch not in _ON | _OFF:
            raise ValueError(_MESSAGE_BAD_SWITCH.format(env=GROUP_COMMIT_ENV, value=switch))
        enabled = switch not in _OFF
        raw_window = source.get(GROUP_WINDOW_ENV, "").strip()
        window_ms = 0.0
        if raw_window:
            try:
                window_ms = float(raw_window)
            except ValueError:
                window_ms = -1.0
            if not 0.0 <= window_ms <= _MAX_WINDOW_MS:
                raise ValueError(
                    _MESSAGE_BAD_WINDOW.format(
                        env=GROUP_WINDOW_ENV, most=_MAX_WINDOW_MS, value=raw_window
                    )
                )
        raw_max = source.get(GROUP_MAX_ENV, "").strip()
        most = DEFAULT_MAX_ENTRIES
        if raw_max:
            try:
                most = int(raw_max)
            except ValueError:
                most = 0
            if not 1 <= most <= 10_000:
                raise ValueError(_MESSAGE_BAD_MAX.format(env=GROUP_MAX_ENV, value=raw_max))
        return cls(enabled=enabled, window_s=window_ms / 1000, max_entries=most)


Hook = Callable[[Session, LogEntry], None]
#: a read-only check run under the writer lock before the entry is chained
Check = Callable[[Session], None]


class ConnectionCheck:
    """A check that reads through the transaction's connection alone (no ORM session).

    The leader calls ``run(connection)`` with the group's connection, so a group of
    such checks and no ``also`` hook is written without an ORM session at all; called
    as a plain :data:`Check` (with a session) it runs on the session's connection.
    """

    __slots__ = ("run",)

    def __init__(self, run: Callable[[Connection], None]) -> None:
        self.run = run

    def __call__(self, session: Session) -> None:
        self.run(session.connection())


#: what the store queues: its checked, serialised entry (this module never looks inside)
P = TypeVar("P")


@dataclass(slots=True, eq=False)
class PendingAppend(Generic[P]):
    """One caller's append, waiting in the queue; the leader fills ``entry`` or ``error``."""

    prepared: P
    also: Hook | None
    check: Check | None = None
    entry: LogEntry | None = None
    error: BaseException | None = None
    done: bool = False


#: takes the queued appends (once, when the writer lock is held)
Take = Callable[[], list[PendingAppend[P]]]
#: writes the appends ``take()`` returns in one transaction (each one's ``entry`` or
#: ``error`` set), or raises when the group as a whole could not be written
GroupWriter = Callable[[Take[P]], None]


class GroupCommitter(Generic[P]):
    """Queues appends and lets one caller at a time write all of them (see module doc).

    ``write_group(take)`` takes the queue once it holds the writer lock, writes those
    appends in one transaction and sets each one's ``entry`` (written) or ``error``
    (its hook failed); ``done`` is set here.
    """

    def __init__(self, settings: GroupCommitSettings, write_group: GroupWriter[P]) -> None:
        self.settings = settings
        self._write_group = write_group
        self._cond = threading.Condition()
        # the leader waits on this one (same lock) for the followers it expects
        self._arrived = threading.Condition(self._cond._lock)  # type: ignore[attr-defined]
        self._queue: list[PendingAppend[P]] = []
        self._last_group = 1
        self._writing = False
        #: groups written and entries in them (for benchmarks and tests)
        self.groups = 0
        self.grouped = 0

    @property
    def queued(self) -> int:
        """How many appends wait for a leader (for tests and benchmarks)."""
        with self._cond:
            return len(self._queue)

    def submit(self, prepared: P, also: Hook | None, check: Check | None = None) -> LogEntry:
        """Queue one append; return its entry once committed, or raise what failed it."""
        pending = PendingAppend(prepared, also, check)
        with self._cond:
            self._queue.append(pending)
            self._arrived.notify()
        while True:
            with self._cond:
                while not pending.done and self._writing:
                    self._cond.wait()
                if pending.done:
                    break
                self._writing = True
            self._lead()
        if pending.error is not None:
            raise pending.error
        assert pending.entry is not None
        return pending.entry

    def _gather(self) -> None:
        """Wait (holding the queue's lock) for the group to fill, within bounds.

        With ``window_s`` the leader waits that long, or until a full group queued.
        Without it, it waits only while fewer appends queued than the last group
        held, and at most :data:`ADAPTIVE_WAIT_S` (0 by default: the queue is taken
        once the writer lock is held, and the callers just answered, still preparing
        their next append, join the group while the lock is taken). A lone writer
        (last group of one) never waits.
        """
        if self.settings.window_s > 0:
            wanted, wait = self.settings.max_entries, self.settings.window_s
        else:
            wanted, wait = min(self._last_group, self.settings.max_entries), ADAPTIVE_WAIT_S
        if len(self._queue) >= wanted:
            return
        deadline = time.monotonic() + wait
        while len(self._queue) < wanted:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.wait(remaining)

    def _lead(self) -> None:
        """Write one group as the leader; always hand the lead back and wake the others."""
        group: list[PendingAppend[P]] = []

        def take() -> list[PendingAppend[P]]:
            # called once the writer holds the lock: what queued while it waited for
            # another process's transaction joins this group
            if not group:
                with self._cond:
                    group.extend(self._queue[: self.settings.max_entries])
                    del self._queue[: len(group)]
            return group

        try:
            with self._cond:
                self._gather()
            self._write_group(take)
        except BaseException as error:
            take()  # the queue's appends fail with it rather than lead again forever
            for pending in group:
                if pending.entry is None and pending.error is None:
                    pending.error = error
        finally:
            with self._cond:
                for pending in group:
                    if pending.entry is None and pending.error is None:
                        pending.error = RuntimeError("group commit ended without a result")
                    pending.done = True
                self.groups += 1
                self.grouped += len(group)
                self._last_group = max(1, len(group))
                self._writing = False
                self._cond.notify_all()
