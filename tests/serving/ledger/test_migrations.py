"""The schema comes from the alembic migrations only, and they can run again safely."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text

from serving.access import authenticate, create_key, list_keys
from serving.decisions.switches import StopSwitches
from serving.ledger import DecisionLog, current_revision, head_revision, migrate
from serving.ledger.migrate import VERSION_TABLE
from serving.tables import metadata


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
        differences = compare_metadata(context, metadata())
        tables = set(inspect(connection).get_table_names())

    # then
    assert differences == []
    assert {
        "log_entries",
        "payloads",
        "chain_head",
        "access_api_keys",
        "decision_switches",
        "log_alembic_version",
    } <= tables


# --------------------------------------------------------------------------------------
# Upgrading a database made before the tables moved to the packages that own them
# --------------------------------------------------------------------------------------

MAIN_0002_DUMP = Path(__file__).parent / "data" / "main-0002.sql"


def _rows(connection: Connection, table: str) -> list[tuple[object, ...]]:
    return [tuple(r) for r in connection.execute(text(f"SELECT * FROM {table} ORDER BY 1"))]


def test_upgrade_from_a_database_made_at_revision_0002_keeps_every_row(tmp_path: Path) -> None:
    # given: the SQL dump of a database made by Docket before this change (keys, a switch,
    # chained entries with payloads), loaded into a new file
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        raw.executescript(MAIN_0002_DUMP.read_text(encoding="utf-8"))
    url = f"sqlite:///{path}"
    assert current_revision(url) == "0002"
    with DecisionLog(url) as log, log.engine.connect() as connection:
        keys_before = _rows(connection, "api_keys")
        switches_before = _rows(connection, "use_case_switches")
        entries_before = _rows(connection, "log_entries")
    assert len(keys_before) == 2 and len(switches_before) == 1 and len(entries_before) == 4

    # when
    reached = migrate(url)

    # then: the same rows under the owners' table names, and the chain still verifies
    assert reached == head_revision()
    with DecisionLog(url) as log:
        with log.engine.connect() as connection:
            tables = set(inspect(connection).get_table_names())
            assert _rows(connection, "access_api_keys") == keys_before
            assert _rows(connection, "decision_switches") == switches_before
            assert _rows(connection, "log_entries") == entries_before
        assert not {"api_keys", "use_case_switches"} & tables
        assert log.verify().ok
        assert [k["name"] for k in list_keys(log.engine)] == ["fixture app", "fixture auditor"]
        assert StopSwitches(log).is_stopped("credit-eligibility")
        assert log.get_payload(log.entries_for("d2")[0].entry_id).payload == {
            "application_ref": "A-2",
            "features": {"Income": 102},
        }
        # a key made after the upgrade authenticates against the renamed table
        key, principal = create_key(log.engine, "auditor", "after the upgrade")
        assert authenticate(log.engine, key) == principal


@pytest.mark.postgres
def test_upgrade_from_revision_0002_on_postgres_keeps_every_row(postgres_url: str) -> None:
    # given: a database at revision 0002 holding a key and a switch, written as 0002 named them
    migrate(postgres_url, "0002")
    with DecisionLog(postgres_url) as log, log.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_keys VALUES ('k1', 'old app', 'application', :h, '2026-11-01', NULL)"
            ),
            {"h": "ab" * 32},
        )
        connection.execute(
            text(
                "INSERT INTO use_case_switches VALUES"
                " ('credit-eligibility', true, '2026-11-01', 'ops', 'stopped before the upgrade')"
            )
        )

    # when
    migrate(postgres_url)

    # then
    with DecisionLog(postgres_url) as log:
        with log.engine.connect() as connection:
            assert _rows(connection, "access_api_keys") == [
                ("k1", "old app", "application", "ab" * 32, "2026-11-01", None)
            ]
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "version_table": VERSION_TABLE}
            )
            assert compare_metadata(context, metadata()) == []
        assert StopSwitches(log).is_stopped("credit-eligibility")
