"""Create and upgrade the decision-log schema with alembic, no ``alembic.ini`` needed.

``migrate(url)`` is idempotent and safe to call from several processes at once:
it runs inside one write transaction (``BEGIN IMMEDIATE`` on SQLite, an advisory
lock on PostgreSQL), so a second caller waits, then finds the schema at head.

To write a new revision after changing a ``schema`` module::

    python -m serving.tables revision -m "what changed" --url sqlite:////tmp/x.db
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Engine, func, select

from serving.ledger.engine import create_log_engine, is_postgres, writer

__all__ = ["MIGRATIONS_DIR", "alembic_config", "current_revision", "head_revision", "migrate"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "log_alembic_version"

#: ``pg_advisory_xact_lock`` key serialising concurrent migrations ("DktLgMig").
MIGRATION_LOCK_KEY = 0x446B744C674D6967


def alembic_config(url: str | URL | None = None) -> Config:
    """Return an alembic ``Config`` pointing at the decision-log migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    if url is not None:
        rendered = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the decision log has no migrations"
    return head


def _upgrade(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with writer(engine).begin() as connection:
        if is_postgres(engine):
            connection.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(target: str | URL | Engine) -> str | None:
    """The revision the database at ``target`` is at (``None`` before the first migration)."""
    engine = target if isinstance(target, Engine) else create_log_engine(target)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            return context.get_current_revision()
    finally:
        if engine is not target:
            engine.dispose()


def migrate(target: str | URL | Engine, revision: str = "head") -> str | None:
    """Upgrade the decision log at ``target`` (a URL or an engine) to ``revision``.

    Returns the revision the database is at afterwards.
    """
    engine = target if isinstance(target, Engine) else create_log_engine(target)
    try:
        _upgrade(engine, revision)
        return current_revision(engine)
    finally:
        if engine is not target:
            engine.dispose()
