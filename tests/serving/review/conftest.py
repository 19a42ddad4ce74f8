"""Review fixtures: a fake clock, the credit spec, a migrated log on each backend, a desk."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from models.spec import DecisionSpec
from serving.ledger import DecisionLog
from serving.review import ReviewDesk
from tests.serving.review.helpers import USE_CASE, FakeClock, credit_spec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def spec() -> DecisionSpec:
    return credit_spec()


@pytest.fixture
def log(db_url: str, clock: FakeClock) -> Iterator[DecisionLog]:
    """A migrated, empty decision log on the fake clock."""
    with DecisionLog(db_url, clock=clock) as decision_log:
        decision_log.migrate()
        yield decision_log


@pytest.fixture
def desk(log: DecisionLog, spec: DecisionSpec, clock: FakeClock) -> ReviewDesk:
    return ReviewDesk(log, {USE_CASE: spec}.get, clock=clock)
