"""Serving fixtures: fresh log databases on each backend, and a registry with served champions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from models.settings import Settings
from serving.decisions.engine import DecisionEngine
from tests.serving.postgres import postgres_schema


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL schema (skips with a printed reason when there is no server)."""
    yield from postgres_schema()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database (not migrated): a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'decisions.db'}"
        return
    yield from postgres_schema()


@pytest.fixture(scope="module")
def engine(served_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> DecisionEngine:
    db = tmp_path_factory.mktemp("engine-db") / "decisions.db"
    settings = served_settings.model_copy(update={"database_url": f"sqlite:///{db}"})
    e = DecisionEngine(settings)
    e.start()
    return e
