"""Audit, promotion, waivers, rollback and history against a real (temporary) MLflow registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from audits.audit import latest_report, run_audit
from audits.promotion import PromotionRefused, Waiver, history, make_waiver, promote
from models import registry
from models.settings import Settings
from models.spec import load_spec
from training.synthetic import write_synthetic
from training.train import train_use_case


@pytest.fixture(scope="module")
def biased_spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("biased"), rows=4000, disparity=1.5, seed=3)


def test_plain_fails_mitigated_passes_and_the_gate_guards_champion(
    settings: Settings, biased_spec_path: Path
) -> None:
    spec = load_spec(biased_spec_path)
    client = registry.connect(settings)

    # given a plain model on biased data
    plain = train_use_case(spec, settings)
    report = run_audit(spec, settings, version=plain.version)
    # then the gate fails on the group impact ratio, and the outcome is stored on the version
    assert report.outcome == "FAIL"
    assert any(c.id == "impact_ratio[group=B]" and c.verdict == "FAIL" for c in report.checks)
    tags = client.get_model_version(spec.name, plain.version).tags
    assert tags["audit.status"] == "FAIL"
    assert tags["audit.id"] == report.audit_id
    assert tags["audit.spec_hash"] == spec.spec_hash()
    stored = latest_report(client, spec.name, plain.version)
    assert stored is not None and stored.model_dump() == report.model_dump()

    # when promoting it, the gate refuses and changes nothing
    with pytest.raises(PromotionRefused, match="did not pass its audit") as refusal:
        promote(spec, settings, plain.version, requested_by="alice")
    assert "impact_ratio[group=B]" in str(refusal.value)
    assert registry.alias_version(client, spec.name, registry.CHAMPION) is None

    # and a waiver with the same requester and approver is refused
    with pytest.raises(PromotionRefused, match="approver other than the requester"):
        make_waiver("The business accepts this risk for a pilot.", "alice", "Alice")
    with pytest.raises(ValueError, match="approver other than the requester"):
        Waiver(
            justification="The business accepts this risk for a pilot.",
            requested_by="a",
            approved_by="a",
        )

    # given a mitigated model of the same use case
    mitigated = train_use_case(spec, settings, mitigation="reweighing")
    report2 = run_audit(spec, settings, version=mitigated.version)
    assert report2.outcome == "PASS", [c for c in report2.failing]
    # when promoted, the alias moves
    event = promote(spec, settings, mitigated.version, requested_by="alice")
    assert event.action == "promote"
    assert registry.alias_version(client, spec.name, registry.CHAMPION) == mitigated.version

    # and a rollback to the failing version needs a proper waiver
    waiver = make_waiver("Temporary rollback while incident 42 is investigated.", "alice", "bob")
    rollback = promote(spec, settings, plain.version, requested_by="alice", waiver=waiver)
    assert rollback.action == "rollback" and rollback.approved_by == "bob"
    assert registry.alias_version(client, spec.name, registry.CHAMPION) == plain.version
    assert client.get_model_version(spec.name, plain.version).tags["waiver.approved_by"] == "bob"

    # then the history lists the refusal, the promotion and the waived rollback, in order
    events = history(client, spec.name)
    assert [e.action for e in events] == ["refused", "promote", "rollback"]
    assert events[0].audit_status == "FAIL"
    assert events[2].waiver is not None and events[2].waiver.justification.startswith("Temporary")


def test_audit_under_a_changed_spec_must_be_redone(
    settings: Settings, biased_spec_path: Path, tmp_path: Path
) -> None:
    spec = load_spec(biased_spec_path)
    trained = train_use_case(spec, settings, mitigation="reweighing")
    assert run_audit(spec, settings, version=trained.version).outcome == "PASS"
    # when the gate changes after the audit
    changed = tmp_path / "spec.toml"
    changed.write_text(
        biased_spec_path.read_text().replace("min_impact_ratio = 0.8", "min_impact_ratio = 0.95")
    )
    (tmp_path / "data.csv").write_bytes((biased_spec_path.parent / "data.csv").read_bytes())
    with pytest.raises(PromotionRefused, match="audited under another spec"):
        promote(load_spec(changed), settings, trained.version, requested_by="carol")


def test_audit_is_reproducible_and_reports_are_complete(
    settings: Settings, biased_spec_path: Path
) -> None:
    spec = load_spec(biased_spec_path)
    trained = train_use_case(spec, settings)
    a = run_audit(spec, settings, version=trained.version, store=False)
    b = run_audit(spec, settings, version=trained.version, store=False)
    strip = {"audit_id", "created_at"}
    assert a.model_dump(exclude=strip) == b.model_dump(exclude=strip)
    raw = json.loads(a.model_dump_json())
    assert raw["schema_version"] == "2"
    assert raw["basis"] == "policy" and raw["decision_threshold"] is None
    outcomes = raw["outcomes"]
    overall = outcomes["overall"]
    assert overall["approved"] + overall["referred"] + overall["declined"] == a.n_test
    assert {g["group"] for g in outcomes["attributes"][0]["groups"]} == {"A", "B"}
    assert {g["group"] for g in raw["fairness"]["attributes"][0]["groups"]} == {"A", "B"}
    for check in raw["checks"]:
        assert {"value", "ci_low", "ci_high", "threshold", "verdict"} <= set(check)
    assert raw["rule_text"]


def test_audit_errors_are_clear(settings: Settings, biased_spec_path: Path) -> None:
    from models.registry import RegistryError

    spec = load_spec(biased_spec_path)
    with pytest.raises(RegistryError, match="has no registered model"):
        run_audit(spec, settings)
    train_use_case(spec, settings)
    with pytest.raises(RegistryError, match=r"has no version 9; versions: \[1\]"):
        run_audit(spec, settings, version="9")


def test_stored_html_report_is_an_artifact(settings: Settings, biased_spec_path: Path) -> None:
    spec = load_spec(biased_spec_path)
    trained = train_use_case(spec, settings)
    report = run_audit(spec, settings, version=trained.version)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    files = {f.path for f in client.list_artifacts(trained.run_id, f"audits/{report.audit_id}")}
    assert files == {
        f"audits/{report.audit_id}/report.json",
        f"audits/{report.audit_id}/report.html",
    }
