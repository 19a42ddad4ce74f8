"""The schema comes from the alembic migrations only, and they can run again safely."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from serving.log import DecisionLog, current_revision, head_revision, migrate
from serving.log.migrate import VERSION_TABLE
from serving.log.schema import Base


def test_migrations_run_twice_idempotently(db_url: str) -> None:
    # given
    assert current_revision(db_url) is None

    # when
    first = migrate(db_url)
    with DecisionLog(db_url) as log:
        entry = log.append("admin", "credit-eligibility", {"action": "first"})
        second = log.migrate()

        # then
        assert first == second == head_revision() == current_revision(db_url)
        assert log.head().entry_hash == entry.entry_hash
        assert log.verify().ok
        with log.engine.connect() as connection:
            heads = connection.execute(text("SELECT count(*) FROM chain_head")).scalar_one()
        assert heads == 1


def test_the_migrated_schema_matches_the_orm_tables(db_url: str) -> None:
    # given
    migrate(db_url)

    with DecisionLog(db_url) as log, log.engine.connect() as connection:
        # when
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        differences = compare_metadata(context, Base.metadata)
        tables = set(inspect(connection).get_table_names())

    # then
    assert differences == []
    assert {"log_entries", "payloads", "chain_head", "log_alembic_version"} <= tables
