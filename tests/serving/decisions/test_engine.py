"""The decision engine in process: paths, rationale rules, recourse, stop switch, record, replay."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from models.settings import Settings
from serving.access import Principal
from serving.decisions import DecisionEngine, NotServed, RecordFailed, UnknownUseCase
from serving.decisions.replay import replay_decision
from serving.decisions.validation import DecideRequest, InvalidFeatures
from serving.ledger import DecisionLog

from ..paths import rows_by_path

USE_CASES = ["credit-eligibility", "retention-propensity"]


TESTER = Principal.local("tester", role="application")


def _decide(engine: DecisionEngine, use_case: str, features: dict, **kw: object) -> dict:
    request = DecideRequest(use_case=use_case, features=features, **kw)
    return engine.decide(request, TESTER).model_dump(mode="json")


@pytest.mark.parametrize("use_case", USE_CASES)
def test_approve_decline_and_refer_paths(engine: DecisionEngine, use_case: str) -> None:
    paths = rows_by_path(engine, use_case)
    policy = engine.served(use_case).spec.policy
    assert policy is not None
    for features in paths["approve"]:
        d = _decide(engine, use_case, features)
        assert d["outcome"] == "approved" and d["status"] == "final" and d["recourse"] is None
    for features in paths["decline"]:
        d = _decide(engine, use_case, features)
        if policy.refer_adverse:
            assert d["outcome"] == "referred"
            assert [r["rule"] for r in d["referral_reasons"]] == ["adverse_review"]
        else:
            assert d["outcome"] == "declined" and d["status"] == "final"
        assert d["recommendation"] == "decline" and d["recourse"] is not None
    for features in paths["uncertain"]:
        d = _decide(engine, use_case, features)
        assert d["outcome"] == "referred" and d["status"] == "pending_review"
        assert d["case_id"] and d["review_deadline"]
        assert "uncertain_score" in [r["rule"] for r in d["referral_reasons"]]
    assert all(paths.values()), {k: len(v) for k, v in paths.items()}


def test_final_decline_on_a_policy_without_adverse_review(engine: DecisionEngine) -> None:
    paths = rows_by_path(engine, "synthetic-eligibility")
    d = _decide(engine, "synthetic-eligibility", paths["decline"][0])
    assert (d["outcome"], d["status"]) == ("declined", "final")


@pytest.mark.parametrize("use_case", USE_CASES)
def test_rationale_is_exact_and_reasons_follow_the_rules(
    engine: DecisionEngine, use_case: str
) -> None:
    served = engine.served(use_case)
    paths = rows_by_path(engine, use_case, per_path=8)
    for features in [f for fs in paths.values() for f in fs]:
        d = _decide(engine, use_case, features)
        r = d["rationale"]
        total = r["base_value"] + sum(c["contribution"] for c in r["contributions"])
        assert abs(total - r["log_odds"]) <= 1e-6
        assert [c["feature"] for c in r["contributions"]] == served.model.feature_names
        if d["recommendation"] != "approve":
            reasons = d["reasons"]
            assert 1 <= len(reasons) <= 4
            contributions = [x["contribution"] for x in reasons]
            assert contributions == sorted(contributions)
            for reason in reasons:
                assert set(reason["features"]) <= set(served.model.feature_names)
        assert "automated system" in d["notice"] and d["decision_id"] in d["notice"]


@pytest.mark.parametrize("use_case", USE_CASES)
def test_recourse_is_redecided_through_the_request_path(
    engine: DecisionEngine, use_case: str
) -> None:
    # given: adverse decisions
    served = engine.served(use_case)
    paths = rows_by_path(engine, use_case, per_path=8)
    found = 0
    for features in paths["decline"] + paths["uncertain"]:
        recourse = _decide(engine, use_case, features)["recourse"]
        if not recourse["found"]:
            # then: said plainly, without claiming the decision would change
            assert recourse["message"].startswith("No change to the factors you can act on")
            assert "would change this decision" not in recourse["message"]
            continue
        found += 1
        changed = dict(features)
        for change in recourse["changes"]:
            assert served.spec.features[change["feature"]].actionable
            changed[change["feature"]] = change["to_value"]
        # then: the counterfactual, sent as a real request, is approved by the machine
        again = _decide(engine, use_case, changed)
        assert (again["outcome"], again["status"]) == ("approved", "final"), again[
            "referral_reasons"
        ]
        assert recourse["would_be"]["outcome"] == "approved"
    assert found > 0


@pytest.mark.parametrize("use_case", [*USE_CASES, "synthetic-eligibility"])
def test_adverse_reasons_only_name_factors_that_lowered_the_score(
    engine: DecisionEngine, use_case: str
) -> None:
    served = engine.served(use_case)
    catalogue = served.spec.reasons
    assert catalogue is not None
    paths = rows_by_path(engine, use_case, per_path=6)
    for features in paths["decline"] + paths["uncertain"]:
        d = _decide(engine, use_case, features)
        assert d["rationale"]["reference_kind"] and "approves" in d["rationale"]["reference"]
        assert 1 <= len(d["reasons"]) <= 4
        for reason in d["reasons"]:
            assert reason["contribution"] < 0
            # a per-value text is the one for this person's value of the code's first
            # categorical feature (the table's default for a value it does not name)
            text = catalogue.codes[reason["code"]].adverse
            if isinstance(text, dict):
                code = catalogue.codes[reason["code"]]
                by = next(f for f in code.features if served.spec.features[f].type == "categorical")
                value = {c["feature"]: c["value"] for c in d["rationale"]["contributions"]}[by]
                text = text.get(value, text.get("default"))
            assert reason["text"] == text


def test_stop_switch_refers_everything_and_is_logged(engine: DecisionEngine) -> None:
    approve = rows_by_path(engine, "synthetic-eligibility")["approve"][0]
    engine.set_stopped("synthetic-eligibility", True, "ops", "incident 7: drift suspected")
    try:
        d = _decide(engine, "synthetic-eligibility", approve)
        assert d["outcome"] == "referred"
        assert d["referral_reasons"][0]["rule"] == "stop_switch"
    finally:
        engine.set_stopped("synthetic-eligibility", False, "ops", "incident 7 closed")
    assert _decide(engine, "synthetic-eligibility", approve)["outcome"] == "approved"
    actions = [e.digest["action"] for e in engine.log.entries_for("switch:synthetic-eligibility")]
    assert actions[-2:] == ["stop", "resume"]


def test_consent_withheld_is_referred(engine: DecisionEngine) -> None:
    approve = rows_by_path(engine, "synthetic-eligibility")["approve"][0]
    d = _decide(engine, "synthetic-eligibility", approve, automated_decision_consent=False)
    assert d["outcome"] == "referred" and d["referral_reasons"][0]["rule"] == "consent_withheld"


def test_unknown_and_unserved_use_cases(engine: DecisionEngine) -> None:
    with pytest.raises(UnknownUseCase, match="served use cases: \\['credit-eligibility'"):
        _decide(engine, "mortgage", {})
    engine._unserved["dormant"] = "no champion: no version has passed the gate and been promoted"
    try:
        with pytest.raises(NotServed, match="no champion"):
            _decide(engine, "dormant", {})
    finally:
        del engine._unserved["dormant"]


def test_invalid_features_write_nothing(engine: DecisionEngine) -> None:
    before = engine.log.head().seq
    with pytest.raises(InvalidFeatures):
        _decide(engine, "credit-eligibility", {"Amount": -1})
    assert engine.log.head().seq == before


def test_record_holds_versions_and_personal_data_apart(engine: DecisionEngine) -> None:
    approve = rows_by_path(engine, "credit-eligibility")["approve"][0]
    d = _decide(engine, "credit-eligibility", approve, application_ref="APP-1")
    entry = engine.log.entries_for(d["decision_id"])[0]
    for key in (
        "model_version",
        "policy_version",
        "explainer_version",
        "catalogue_version",
        "score",
        "outcome",
        "reasons",
        "rationale",
        "decided_at",
        "use_case",
    ):
        assert key in entry.digest
    assert entry.payload_hash == d["input_hash"]
    assert "value" not in entry.digest["rationale"]["contributions"][0]
    assert "APP-1" not in str(entry.digest)
    assert engine.log.get_payload(entry.entry_id).payload["application_ref"] == "APP-1"


def test_fail_closed_when_the_record_cannot_be_written(
    served_settings: Settings, tmp_path: Path
) -> None:
    settings = served_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'd.db'}"})
    e = DecisionEngine(settings)
    e.start()
    approve = rows_by_path(e, "synthetic-eligibility")["approve"][0]
    with e.log.engine.begin() as conn:  # the log table disappears under the service
        conn.execute(text("ALTER TABLE log_entries RENAME TO gone"))
    with pytest.raises(RecordFailed, match="could not be recorded, so no decision is given"):
        _decide(e, "synthetic-eligibility", approve)


def test_tampering_is_detected_and_replay_is_identical(
    served_settings: Settings, tmp_path: Path
) -> None:
    settings = served_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'd.db'}"})
    e = DecisionEngine(settings)
    e.start()
    ids = []
    for use_case in ("credit-eligibility", "retention-propensity"):
        for fs in rows_by_path(e, use_case, per_path=3).values():
            ids += [_decide(e, use_case, f)["decision_id"] for f in fs]
    # replay: same score and reasons with the recorded versions
    for decision_id in ids:
        result = replay_decision(settings, e.log, decision_id)
        assert result["identical"], result["differences"]
    assert e.log.verify().ok
    # change a score directly in the database
    with e.log.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE log_entries SET digest = replace(digest, '\"score\":0.', '\"score\":0.9')"
            " WHERE seq = 4"
        )
    result = e.log.verify()
    assert not result.ok and result.first_broken_seq == 4


@pytest.mark.postgres
def test_decisions_on_postgres(served_settings: Settings, postgres_url: str) -> None:
    db_url = postgres_url
    e = DecisionEngine(
        served_settings.model_copy(update={"database_url": db_url}), DecisionLog(db_url)
    )
    e.start()
    paths = rows_by_path(e, "credit-eligibility")
    ids = [_decide(e, "credit-eligibility", f)["decision_id"] for fs in paths.values() for f in fs]
    assert e.log.verify().ok and e.log.head().seq >= len(ids)
    with e.log.engine.begin() as conn:
        conn.execute(
            text(
                "DELETE FROM payloads WHERE entry_id = (SELECT entry_id FROM log_entries WHERE seq = 2)"
            )
        )
        conn.execute(text("DELETE FROM log_entries WHERE seq = 2"))
    assert e.log.verify().first_broken_seq == 2


def test_reload_serves_exactly_the_registry_champions(engine: DecisionEngine) -> None:
    from models import registry

    engine.reload()
    client = registry.connect(engine.settings)
    expected = {
        name: registry.alias_version(client, name, registry.CHAMPION)
        for name in ("credit-eligibility", "retention-propensity", "synthetic-eligibility")
    }
    assert engine.served_versions() == expected
    assert engine.reload()["changed"] == {}


def test_reload_to_a_new_champion_without_dropping_requests(
    served_copy: Settings, tmp_path: Path
) -> None:
    import threading

    from audits.audit import run_audit
    from audits.promotion import promote
    from models.spec import load_spec
    from training.train import train_use_case

    # a copy of the served registry: this test trains and promotes a new champion
    settings = served_copy.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'd.db'}"})
    e = DecisionEngine(settings)
    e.start()
    before = e.served("synthetic-eligibility").version
    approve = rows_by_path(e, "synthetic-eligibility")["approve"][0]
    spec = load_spec(served_copy.home / "synth" / "spec.toml")
    new = train_use_case(spec, settings, mitigation="reweighing")
    assert run_audit(spec, settings, version=new.version).outcome == "PASS"
    promote(spec, settings, new.version, requested_by="test-model-owner")

    versions: list[str] = []
    errors: list[Exception] = []
    stop = threading.Event()

    def keep_deciding() -> None:
        while not stop.is_set() and len(versions) < 2000:
            try:
                versions.append(_decide(e, "synthetic-eligibility", approve)["model_version"])
            except Exception as exc:  # any dropped request fails the test
                errors.append(exc)

    worker = threading.Thread(target=keep_deciding)
    worker.start()
    try:
        changed = e.reload()["changed"]
    finally:
        stop.set()
        worker.join(timeout=60)
    assert changed == {"synthetic-eligibility": new.version}
    assert not errors and versions and set(versions) <= {before, new.version}
    assert _decide(e, "synthetic-eligibility", approve)["model_version"] == new.version
    serves = [x.digest for x in e.log.entries_for("serving:synthetic-eligibility")]
    assert [d["version"] for d in serves][-1] == new.version
