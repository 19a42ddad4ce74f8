"""Exports for retraining hold only final decisions of people who consented to it."""

from __future__ import annotations

import pytest

from serving.ledger import DecisionLog
from serving.review import ReviewDesk
from serving.review.exports import export_decisions
from serving.review.retention import erase_decision
from tests.serving.review.helpers import (
    ANN,
    FEATURES,
    USE_CASE,
    FakeClock,
    record_decision,
    work,
)


def test_only_consenting_final_decisions_are_exported_and_each_read_is_logged(
    log: DecisionLog, desk: ReviewDesk, clock: FakeClock
) -> None:
    # given: consent given (final), consent given (pending review), consent withheld,
    # consent given but erased since, and a referred one resolved by a reviewer
    yes = record_decision(
        log, clock, recommendation="approve", outcome="approved", training_consent=True
    )
    pending = record_decision(log, clock, training_consent=True)
    no = record_decision(log, clock, recommendation="approve", outcome="approved")
    gone = record_decision(
        log, clock, recommendation="approve", outcome="approved", training_consent=True
    )
    erase_decision(log, gone.decision_id, "erasure request")
    reviewed = record_decision(log, clock, training_consent=True)
    assert reviewed.case is not None
    work(desk, reviewed.case.case_id, ANN, clock)
    desk.resolve(
        reviewed.case.case_id, **ANN, outcome="declined", reason_code="model_reasons_confirmed"
    )

    # when
    found = export_decisions(log, USE_CASE, reader="Olga", purpose="retraining")

    # then
    assert [r["__decision_id"] for r in found.rows] == [yes.decision_id, reviewed.decision_id]
    assert found.summary() == {
        "exported": 2,
        "left_out_without_training_consent": 1,
        "left_out_erased": 1,
        "left_out_pending_review": 1,
    }
    first, second = found.rows
    assert {k: first[k] for k in FEATURES} == FEATURES
    assert (first["__final_outcome"], first["__decided_by"]) == ("approved", "model")
    assert (second["__final_outcome"], second["__decided_by"]) == ("declined", "review")
    # the decision without consent was not even read; each exported one was, and logged
    for decision_id in (yes.decision_id, reviewed.decision_id):
        reads = [e for e in log.entries_for(decision_id) if e.kind == "access"]
        assert [r.digest["purpose"] for r in reads] == ["export: retraining"]
        assert reads[0].digest["reader"] == "Olga"
    assert not [e for e in log.entries_for(no.decision_id) if e.kind == "access"]
    assert pending.decision_id not in {r["__decision_id"] for r in found.rows}
    assert log.verify().ok


def test_an_export_needs_a_purpose(log: DecisionLog) -> None:
    with pytest.raises(ValueError, match="needs a purpose"):
        export_decisions(log, USE_CASE, reader="Olga", purpose=" ")


def test_the_request_records_consent_and_the_export_follows_it(
    served_settings: object, tmp_path: object
) -> None:
    from pathlib import Path

    from models.settings import Settings
    from serving.access import Principal
    from serving.decisions import DecisionEngine
    from serving.decisions.validation import DecideRequest
    from tests.serving.paths import rows_by_path

    assert isinstance(served_settings, Settings) and isinstance(tmp_path, Path)
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    engine = DecisionEngine(settings)
    engine.start()
    app = Principal.local("loan-desk", role="application")
    features = rows_by_path(engine, "credit-eligibility", per_path=2)["approve"]
    agreed = engine.decide(
        DecideRequest(
            use_case="credit-eligibility", features=features[0], training_data_consent=True
        ),
        app,
    )
    silent = engine.decide(DecideRequest(use_case="credit-eligibility", features=features[1]), app)
    found = export_decisions(engine.log, "credit-eligibility", reader="t", purpose="retraining")
    assert [r["__decision_id"] for r in found.rows] == [agreed.decision_id]
    assert found.summary()["left_out_without_training_consent"] == 1
    entry = next(e for e in engine.log.entries_for(silent.decision_id) if e.kind == "decision")
    assert engine.log.get_payload(entry.entry_id).payload["training_data_consent"] is False  # type: ignore[index]
