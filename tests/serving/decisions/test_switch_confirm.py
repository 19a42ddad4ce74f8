"""``StopSwitches.confirm``: the switch read once per transaction, on the append's connection."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event

from serving.decisions.switches import StopSwitches, SwitchChanged
from serving.ledger import DecisionLog
from serving.ledger.group_commit import ConnectionCheck

USE_CASE = "credit-eligibility"


@pytest.fixture
def log(db_url: str) -> Iterator[DecisionLog]:
    with DecisionLog(db_url) as decision_log:
        decision_log.migrate()
        yield decision_log


def _switch_reads(log: DecisionLog) -> list[str]:
    reads: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "decision_switches" in statement:
            reads.append(statement)

    event.listen(log.engine, "before_cursor_execute", seen)
    return reads


def test_confirm_reads_the_switch_once_per_transaction(log: DecisionLog) -> None:
    switches = StopSwitches(log)
    switches.set(USE_CASE, True, "ops", "incident")
    reads = _switch_reads(log)

    with log.engine.connect() as connection:
        with connection.begin():
            switches.confirm(connection, USE_CASE, True)
            switches.confirm(connection, USE_CASE, True)
            with pytest.raises(SwitchChanged) as changed:
                switches.confirm(connection, USE_CASE, False)
            assert changed.value.stopped is True
        assert len(reads) == 1
        # a later transaction on the same connection reads it again
        with connection.begin():
            switches.confirm(connection, USE_CASE, True)
        assert len(reads) == 2
    assert switches.expected(USE_CASE) is True


def test_a_decision_appended_with_confirm_sees_a_flip_committed_before(log: DecisionLog) -> None:
    # given: this worker saw the switch off, another flipped it on since
    switches = StopSwitches(log)
    assert switches.expected(USE_CASE) is False
    StopSwitches(log).set(USE_CASE, True, "ops", "incident")

    # when / then: nothing written under the stale state
    before = log.head()
    with pytest.raises(SwitchChanged):
        log.append(
            "decision",
            USE_CASE,
            {"n": 1},
            check=ConnectionCheck(lambda c: switches.confirm(c, USE_CASE, False)),
        )
    assert log.head() == before
    assert switches.expected(USE_CASE) is True
