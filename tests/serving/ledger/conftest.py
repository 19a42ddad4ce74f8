"""The decision-log fixture: a migrated, empty log on each backend (see ../conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from serving.ledger import DecisionLog


@pytest.fixture
def log(db_url: str) -> Iterator[DecisionLog]:
    """A migrated, empty decision log."""
    with DecisionLog(db_url) as decision_log:
        decision_log.migrate()
        yield decision_log
