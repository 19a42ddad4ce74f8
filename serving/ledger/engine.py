"""Engines for the decision log: SQLite (default, WAL) or PostgreSQL (psycopg 3).

SQLite connections run with ``journal_mode=WAL``, ``synchronous=FULL`` (the
WAL is synced at every commit, whatever the build's default), ``foreign_keys=ON``
and a busy timeout (``DOCKET_SQLITE_BUSY_SECONDS``, default 10: shorter than the
service's 30 s request timeout, so a locked database is answered 503, not 504), and SQLAlchemy (not the ``sqlite3`` driver) emits ``BEGIN``.
Writers use :func:`writer` so their transactions start with ``BEGIN IMMEDIATE``:
the write lock is taken before the chain head is read, so two processes can
never extend the same head. On PostgreSQL writers serialise on
``pg_advisory_xact_lock`` instead (see :mod:`serving.ledger.store`), and a connection
attempt gives up after ``DOCKET_PG_CONNECT_SECONDS`` (default 5), so a database host
that drops packets is answered 503 within that time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import URL, Engine, create_engine, event, make_url

from models.settings import positive_from_env

__all__ = [
    "PG_CONNECT_TIMEOUT_S",
    "SQLITE_BUSY_TIMEOUT_S",
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


def _install_sqlite_hooks(engine: Engine, busy_seconds: float) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
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
        connection.exec_driver_sql(f"BEGIN {mode}")


def create_log_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for the decision log at ``url`` (see module docstring).

    SQL parameters are left out of error messages: they can hold personal data.
    """
    parsed = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        busy = positive_from_env("DOCKET_SQLITE_BUSY_SECONDS", SQLITE_BUSY_TIMEOUT_S, "seconds")
        connect_args = {"timeout": busy, **kwargs.pop("connect_args", {})}
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
        _install_sqlite_hooks(engine, busy)
        return engine
    connect = positive_from_env("DOCKET_PG_CONNECT_SECONDS", PG_CONNECT_TIMEOUT_S, "seconds")
    connect_args = {"connect_timeout": max(1, round(connect)), **kwargs.pop("connect_args", {})}
    return create_engine(parsed, pool_pre_ping=True, connect_args=connect_args, **kwargs)


def writer(engine: Engine) -> Engine:
    """Return ``engine`` set up for write transactions (``BEGIN IMMEDIATE`` on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_MODE_OPTION: "IMMEDIATE"})
    return engine
