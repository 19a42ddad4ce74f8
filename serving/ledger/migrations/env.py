"""Alembic environment of the decision log; run through :func:`serving.ledger.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from serving.ledger.engine import create_log_engine, writer
from serving.ledger.migrate import VERSION_TABLE
from serving.ledger.schema import Base

_MESSAGE_OFFLINE = "The decision log migrations run online only (against a live database)."


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        # autogenerate compares against every table (serving.tables passes them in)
        target_metadata=context.config.attributes.get("target_metadata", Base.metadata),
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_log_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with writer(engine).begin() as new_connection:
            _run(new_connection)
    finally:
        engine.dispose()


def _main() -> None:
    try:
        offline = context.is_offline_mode()
    except NameError:  # imported outside alembic (doctest collection, module walkers)
        return
    if offline:
        raise RuntimeError(_MESSAGE_OFFLINE)
    _run_online()


_main()
