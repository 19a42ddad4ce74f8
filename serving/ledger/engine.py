"""Engines for the decision log: SQLite (default, WAL) or PostgreSQL (psycopg 3).

SQLite connections run with ``journal_mode=WAL``, ``synchronous=FULL`` (the
WAL is synced at every commit, whatever the build's default), ``foreign_keys=ON``
and a busy timeout (``DOCKET_SQLITE_BUSY_SECONDS``, default 10: shorter than the
service's 30 s request timeout, so a locked database is answered 503, not 504), and SQLAlchemy (not the ``sqlite3`` driver) emits ``BEGIN``.
Writers use :func:`writer` so their transactions start with ``BEGIN IMMEDIATE``:
the write lock is taken before the chain head is read, so two processes can
never extend the same head. Before that ``BEGIN IMMEDIATE``, a writer on a file
database first takes an OS file lock beside it (``<database>.writer-lock``, see
:class:`WriterConnection`): SQLite's own busy handler waits by sleeping 1, 2, 5, 10,
15, 20, 25 … ms between attempts, so writers of two worker processes that meet on the
lock lost up to tens of milliseconds per hand-over; on the file lock the next writer
goes on within a fraction of a millisecond of the commit. SQLite's lock stays the one
that counts (a writer that cannot get the file lock in time goes on to ``BEGIN
IMMEDIATE`` and SQLite's busy timeout, as before, and other programs writing the
file need not know of it). On PostgreSQL writers serialise on
``pg_advisory_xact_lock`` instead (see :mod:`serving.ledger.store`), and a connection
attempt gives up after ``DOCKET_PG_CONNECT_SECONDS`` (default 5), so a database host
that drops packets is answered 503 within that time.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url

from models.settings import positive_from_env

__all__ = [
    "PG_CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_S",
    "WriterConnection",
    "create_log_engine",
    "is_postgres",
    "normalise_url",
    "writer",
]

SQLITE_BUSY_TIMEOUT_S = 10.0
PG_CONNECT_TIMEOUT_S = 5
_BEGIN_MODE_OPTION = "docket_sqlite_begin"
_SUPPORTED_BACKENDS = ("sqlite", "postgresql")

_MESSAGE_BAD_BACKEND = (
    "The decision log URL must use one of the backends {allowed}; got {url!r} instead."
)
_MESSAGE_BAD_DRIVER = (
    "The decision log talks to PostgreSQL through psycopg 3 ('postgresql+psycopg://...'); "
    "got {url!r} instead."
)


def normalise_url(url: str | URL) -> URL:
    """Parse ``url``, check the backend, and pick psycopg 3 for a bare ``postgresql://``."""
    parsed = make_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() not in _SUPPORTED_BACKENDS:
        raise ValueError(_MESSAGE_BAD_BACKEND.format(allowed=list(_SUPPORTED_BACKENDS), url=shown))
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.get_driver_name() != "psycopg":
            raise ValueError(_MESSAGE_BAD_DRIVER.format(url=shown))
    return parsed


def is_postgres(engine: Engine) -> bool:
    """Whether ``engine`` talks to PostgreSQL."""
    return engine.dialect.name == "postgresql"


#: the longest sleep between two tries of a held writer file lock: a hand-over costs at
#: most this, against SQLite's own busy handler's 1 to 100 ms steps
_LOCK_POLL_MAX_S = 0.0005
_LOCK_POLL_FIRST_S = 0.00005
_WRITE_MODES = ("IMMEDIATE", "EXCLUSIVE")


class WriterConnection(sqlite3.Connection):
    """A SQLite connection whose write transactions queue on a file lock first.

    :meth:`take_writer_lock` is called just before ``BEGIN IMMEDIATE``; the lock is let
    go once the transaction ends (:meth:`commit`, :meth:`rollback`, :meth:`close`), so
    it is held exactly while SQLite's write lock may be. It is an ``flock`` on its own
    descriptor: threads and processes alike wait on it, and the kernel lets it go if
    the process dies.
    """

    lock_path: str | None = None
    _lock_fd: int | None = None
    _locked: bool = False

    def take_writer_lock(self, wait_s: float) -> bool:
        """Take the file lock, trying for at most ``wait_s``; whether it was taken."""
        if self.lock_path is None or self._locked:
            return self._locked
        if self._lock_fd is None:
            self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_s
        pause = _LOCK_POLL_FIRST_S
        while True:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False  # SQLite's busy timeout decides from here, as before
                time.sleep(pause)
                pause = min(pause * 2, _LOCK_POLL_MAX_S)
                continue
            self._locked = True
            return True

    def release_writer_lock(self) -> None:
        if self._locked and self._lock_fd is not None:
            self._locked = False
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release_writer_lock()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release_writer_lock()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release_writer_lock()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


def _lock_path(url: URL) -> str | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return f"{database}.writer-lock"


def _install_sqlite_hooks(engine: Engine, busy_seconds: float, lock_path: str | None) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if isinstance(dbapi_connection, WriterConnection):
            dbapi_connection.lock_path = lock_path
        # SQLAlchemy emits BEGIN itself (below); the driver must not.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_seconds * 1000)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA journal_mode = WAL")
            # durability must not depend on how SQLite was built: with WAL, FULL syncs
            # the WAL at every commit, so a committed decision survives a power loss
            cursor.execute("PRAGMA synchronous = FULL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(_BEGIN_MODE_OPTION, "DEFERRED")
        dbapi = connection.connection.dbapi_connection
        if mode not in _WRITE_MODES or not isinstance(dbapi, WriterConnection):
            connection.exec_driver_sql(f"BEGIN {mode}")
            return
        # half the busy time here at most, so that with SQLite's own wait after it a
        # writer still gives up well before the service's request timeout
        dbapi.take_writer_lock(busy_seconds / 2)
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            dbapi.release_writer_lock()
            raise


def create_log_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for the decision log at ``url`` (see module docstring).

    SQL parameters are left out of error messages: they can hold personal data.
    """
    parsed = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        busy = positive_from_env("DOCKET_SQLITE_BUSY_SECONDS", SQLITE_BUSY_TIMEOUT_S, "seconds")
        connect_args = {
            "timeout": busy,
            "factory": WriterConnection,
            **kwargs.pop("connect_args", {}),
        }
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        _install_sqlite_hooks(engine, busy, _lock_path(parsed))
        return engine
    connect = positive_from_env("DOCKET_PG_CONNECT_SECONDS", PG_CONNECT_TIMEOUT_S, "seconds")
    connect_args = {"connect_timeout": max(1, round(connect)), **kwargs.pop("connect_args", {})}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def writer(engine: Engine) -> Engine:
    """Return ``engine`` set up for write transactions (``BEGIN IMMEDIATE`` on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_MODE_OPTION: "IMMEDIATE"})
    return engine
