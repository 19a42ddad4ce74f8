"""Outcome labels as ledger entries: own decisions only, idempotent, conflicts refused,
corrections recorded, unknown ids refused per item; the reader carries the latest label."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from serving.access import Principal
from serving.ledger.entries import LogKind
from serving.ledger.store import DecisionLog
from serving.monitoring.outcomes import OutcomeItem, label_value, record_outcomes
from serving.monitoring.reader import read_decisions

APP = Principal.local("loans-app", role="application")
OTHER = Principal.local("other-app", role="application")
USE_CASE = "credit-eligibility"


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}") as decision_log:
        decision_log.migrate()
        yield decision_log


def _decide(log: DecisionLog, decision_id: str, by: Principal = APP) -> None:
    digest = {
        "decision_id": decision_id,
        "decided_at": "2026-11-02T10:00:00+00:00",
        "outcome": "approved",
        "score": 0.8,
        "recommendation": "approve",
        "model_version": "1",
        "requested_by_key": by.key_id,
    }
    log.append(LogKind.DECISION, USE_CASE, digest, {"features": {}}, decision_id)


def _record(log: DecisionLog, *items: OutcomeItem, who: Principal = APP) -> list[dict]:
    done = record_outcomes(log, items, who, favourable_of=lambda use_case: "good")
    return [r.as_dict() for r in done]


def test_labels_are_entries_about_the_decision_and_repeats_record_nothing(
    log: DecisionLog,
) -> None:
    _decide(log, "d1")
    _decide(log, "d2")
    first = _record(log, OutcomeItem("d1", 1, "2027-01-01T00:00:00Z"), OutcomeItem("d2", "good"))
    assert [(r["status"], r["label"]) for r in first] == [("recorded", 1), ("recorded", 1)]
    entry = log.entries_for("d1")[-1]
    assert entry.kind == LogKind.ADMIN and entry.seq == first[0]["seq"]
    assert entry.digest["label"] == 1 and entry.digest["by"] == "loans-app"
    assert entry.digest["observed_at"] == "2027-01-01T00:00:00Z"
    head = log.head().seq
    again = _record(log, OutcomeItem("d1", 1))
    assert again == [
        {"decision_id": "d1", "status": "unchanged", "label": 1, "seq": first[0]["seq"]}
    ]
    assert log.head().seq == head
    assert log.verify().ok


def test_a_different_label_is_a_conflict_unless_a_correction(log: DecisionLog) -> None:
    _decide(log, "d1")
    (first,) = _record(log, OutcomeItem("d1", 1))
    (conflict,) = _record(log, OutcomeItem("d1", 0))
    assert conflict["status"] == "conflict" and "correction" in conflict["error"]
    (fixed,) = _record(log, OutcomeItem("d1", 0, correction=True))
    assert fixed["status"] == "recorded"
    assert log.entries_for("d1")[-1].digest["corrects"] == first["seq"]
    frame = read_decisions(log, USE_CASE, features=[], attributes=[]).frame
    assert frame.loc[frame["decision_id"] == "d1", "label"].tolist() == [0]


def test_unknown_foreign_and_bad_items_are_refused_one_by_one(log: DecisionLog) -> None:
    _decide(log, "mine")
    _decide(log, "theirs", by=OTHER)
    results = _record(
        log,
        OutcomeItem("nope", 1),
        OutcomeItem("theirs", 1),
        OutcomeItem("mine", 2),
        OutcomeItem("mine", True),
        OutcomeItem("mine", 0),
    )
    assert [r["status"] for r in results] == [
        "not_found",
        "forbidden",
        "invalid",
        "invalid",
        "recorded",
    ]
    assert "[0, 1, 'good']" in results[2]["error"] and "2" in results[2]["error"]
    # an auditor-like caller that is not an application is not limited to its own decisions
    (admin,) = _record(log, OutcomeItem("theirs", 0), who=Principal.local("ops", role="admin"))
    assert admin["status"] == "recorded"


def test_label_values() -> None:
    assert [label_value(v, "good") for v in (0, 1, "good", "bad", True, 1.0, 2)] == [
        0,
        1,
        1,
        None,
        None,
        None,
        None,
    ]
