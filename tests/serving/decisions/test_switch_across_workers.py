"""The stop switch applies to the very next decision in every worker (two engines, one database).

Each engine prepares a decision under the switch state it last saw and confirms it in
the transaction that records the decision; these tests flip the switch in one engine
and decide in the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text

import serving.decisions.engine as engine_module
from models.settings import Settings
from serving.access import Principal
from serving.decisions import DecisionEngine, RecordFailed
from serving.decisions.validation import DecideRequest
from serving.http.errors import STATUS

from ..paths import rows_by_path

USE_CASE = "synthetic-eligibility"
TESTER = Principal.local("tester", role="application")


@pytest.fixture
def two_workers(served_settings: Settings, db_url: str) -> Iterator[tuple[DecisionEngine, ...]]:
    settings = served_settings.model_copy(update={"database_url": db_url})
    first, second = DecisionEngine(settings), DecisionEngine(settings)
    first.start()
    second.start()
    yield first, second
    first.close()
    second.close()


def _decide(engine: DecisionEngine, features: dict[str, Any]) -> dict[str, Any]:
    request = DecideRequest(use_case=USE_CASE, features=features)
    return engine.decide(request, TESTER).model_dump(mode="json")


def _decision_outcomes(engine: DecisionEngine) -> list[str]:
    return [e.digest["outcome"] for e in engine.log.iter_entries() if e.kind == "decision"]


def test_a_stop_in_one_worker_refers_the_next_decision_in_the_other(
    two_workers: tuple[DecisionEngine, DecisionEngine],
) -> None:
    admin, worker = two_workers
    approve = rows_by_path(worker, USE_CASE)["approve"][0]
    # the worker has decided (and so seen the switch off) before the stop
    assert _decide(worker, approve)["outcome"] == "approved"

    admin.set_stopped(USE_CASE, True, "ops", "incident 9")
    stopped = _decide(worker, approve)
    assert stopped["outcome"] == "referred"
    assert [r["rule"] for r in stopped["referral_reasons"]] == ["stop_switch"]

    admin.set_stopped(USE_CASE, False, "ops", "incident 9 closed")
    assert _decide(worker, approve)["outcome"] == "approved"
    assert _decision_outcomes(worker) == ["approved", "referred", "approved"]


def test_a_stop_committed_while_a_decision_is_prepared_is_applied_to_it(
    two_workers: tuple[DecisionEngine, DecisionEngine],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    admin, worker = two_workers
    approve = rows_by_path(worker, USE_CASE)["approve"][0]
    assert _decide(worker, approve)["outcome"] == "approved"
    real = engine_module.prepare_decision
    calls: list[bool] = []

    def stop_meanwhile(*args: Any, **kwargs: Any) -> Any:
        prepared = real(*args, **kwargs)
        calls.append(kwargs["stopped"])
        if len(calls) == 1:  # the stop lands after the worker looked, before it records
            admin.set_stopped(USE_CASE, True, "ops", "incident 10")
        return prepared

    monkeypatch.setattr(engine_module, "prepare_decision", stop_meanwhile)
    decided = _decide(worker, approve)

    assert calls == [False, True]  # prepared as running, refused at the record, re-decided
    assert decided["outcome"] == "referred"
    assert [r["rule"] for r in decided["referral_reasons"]] == ["stop_switch"]
    # the approval prepared under the old state was never written
    assert _decision_outcomes(worker) == ["approved", "referred"]
    assert worker.log.verify().ok


def test_a_switch_that_cannot_be_read_when_recording_gives_503_and_writes_nothing(
    two_workers: tuple[DecisionEngine, DecisionEngine],
) -> None:
    admin, worker = two_workers
    approve = rows_by_path(worker, USE_CASE)["approve"][0]
    assert _decide(worker, approve)["outcome"] == "approved"
    head = worker.log.head().seq
    # the table is gone: the read inside the recording transaction fails
    with admin.log.engine.begin() as conn:
        conn.execute(text("DROP TABLE decision_switches"))

    with pytest.raises(RecordFailed) as caught:
        _decide(worker, approve)

    assert STATUS[caught.value.kind] == 503
    assert worker.log.head().seq == head
