"""Reliability fixtures: a served stack whose ledger is a SQLite file or a PostgreSQL schema."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.stack import Stack, build_stack
from tests.serving.postgres import postgres_schema


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (skips with a printed reason when there is no server)."""
    yield from postgres_schema()


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Stack:
    return build_stack(tmp_path / "home")


@pytest.fixture
def postgres_stack(tmp_path: Path, postgres_url: str) -> Stack:
    return build_stack(tmp_path / "home", postgres_url)
