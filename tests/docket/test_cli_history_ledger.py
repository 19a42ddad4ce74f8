"""`docket history` reads the ledger; it and `docket ledger verify` report a differing MLflow copy.

The registry holds one use case with a plain version (v1, FAILs its audit) and a
mitigated one (v2, PASSes). Each test works on its own copy, with the
environment pointing at it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from audits.audit import run_audit
from audits.promotion import HISTORY_PREFIX
from docket.cli import app
from models import registry
from models.settings import Settings
from models.spec import load_spec
from tests.built_once import built_once
from tests.registry_copy import copy_registry
from training.synthetic import write_synthetic
from training.train import train_use_case

NAME = "synthetic-eligibility"


def _build(home: Path) -> None:
    settings = Settings.local(home)
    spec = load_spec(write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3))
    assert train_use_case(spec, settings).version == "1"
    assert run_audit(spec, settings, version="1").outcome == "FAIL"
    assert train_use_case(spec, settings, mitigation="reweighing").version == "2"
    assert run_audit(spec, settings, version="2").outcome == "PASS"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_once(tmp_path_factory, "cli-history-ledger", _build)


@pytest.fixture
def home(built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    settings = copy_registry(Settings.local(built), tmp_path / "home")
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DOCKET_SPEC_DIRS", raising=False)
    return settings


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def _refuse_then_promote(home: Settings) -> None:
    spec = str(home.home / "synth" / "spec.toml")
    refused = _run("promote", spec, "--version", "1", "--requested-by", "ann")
    assert refused.exit_code == 1 and "did not pass its audit" in refused.output
    promoted = _run("promote", spec, "--version", "2", "--requested-by", "ann")
    assert promoted.exit_code == 0, promoted.output


def test_history_is_read_from_the_ledger(home: Settings) -> None:
    # given a refused and a successful promotion through the CLI
    _refuse_then_promote(home)

    # when
    result = _run("history", NAME, "--json")

    # then both are ledger entries, oldest first, and MLflow's copy agrees
    assert result.exit_code == 0, result.output
    read = json.loads(result.stdout)
    assert [(e["action"], e["version"], e["audit_status"]) for e in read["events"]] == [
        ("refused", "1", "FAIL"),
        ("promote", "2", "PASS"),
    ]
    assert read["mismatches"] == []
    spec = load_spec(home.home / "synth" / "spec.toml")
    assert [e["spec_hash"] for e in read["events"]] == [spec.spec_hash()] * 2
    assert [e["spec_changed"] for e in read["events"]] == [False, False]
    verified = _run("ledger", "verify", "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.stdout)["history_mismatches"] == []


def test_a_deleted_or_edited_mlflow_tag_is_reported(home: Settings) -> None:
    # given two recorded events
    _refuse_then_promote(home)
    client = registry.connect(home)
    tags = client.get_registered_model(NAME).tags
    keys = sorted(k for k in tags if k.startswith(HISTORY_PREFIX))

    # when the refusal's MLflow tag is deleted and the promotion's requester edited
    client.delete_registered_model_tag(NAME, keys[0])
    edited = json.loads(tags[keys[1]]) | {"requested_by": "mallory"}
    client.set_registered_model_tag(NAME, keys[1], json.dumps(edited))

    # then history still shows the ledger's two events, and reports both problems
    result = _run("history", NAME, "--json")
    assert result.exit_code == 0, result.output
    read = json.loads(result.stdout)
    assert [e["requested_by"] for e in read["events"]] == ["ann", "ann"]
    assert [(m["problem"], m["action"], m["fields"]) for m in read["mismatches"]] == [
        ("ledger_only", "refused", []),
        ("differs", "promote", ["requested_by"]),
    ]
    human = _run("history", NAME)
    assert "MISMATCH: 2 event(s) differ" in human.stdout
    assert "is in the ledger but not in the MLflow history tags" in human.stdout

    # and ledger verify fails with the same two, the chain itself intact
    verified = _run("ledger", "verify", "--json")
    assert verified.exit_code == 1
    out = json.loads(verified.stdout)
    assert out["chain"]["ok"] and not out["ok"]
    assert [m["problem"] for m in out["history_mismatches"]] == ["ledger_only", "differs"]
    line = _run("ledger", "verify")
    assert line.exit_code == 1
    assert line.stdout.splitlines()[0].startswith("MISMATCH: ")
    assert "history: synthetic-eligibility: refused of v1" in line.stdout


def test_a_promotion_missing_from_the_ledger_is_reported(home: Settings) -> None:
    # given a promotion recorded only in MLflow (as before the ledger kept them)
    from audits.promotion import promote

    spec = load_spec(home.home / "synth" / "spec.toml")
    event = promote(spec, home, "2", requested_by="ann")

    # then
    read = json.loads(_run("history", NAME, "--json").stdout)
    assert read["events"] == []
    assert [(m["problem"], m["at"], m["version"]) for m in read["mismatches"]] == [
        ("mlflow_only", event.at, "2")
    ]
    assert _run("ledger", "verify").exit_code == 1


def test_history_marks_a_promotion_under_a_changed_spec(home: Settings) -> None:
    # given v2 promoted under the spec as built
    path = home.home / "synth" / "spec.toml"
    first = load_spec(path)
    assert _run("promote", str(path), "--version", "2", "--requested-by", "ann").exit_code == 0

    # when the gate is loosened, v2 audited again and promoted under the new spec
    text = path.read_text()
    assert text.count("min_impact_ratio = 0.8") == 1
    path.write_text(text.replace("min_impact_ratio = 0.8", "min_impact_ratio = 0.7"))
    second = load_spec(path)
    assert second.spec_hash() != first.spec_hash()
    assert run_audit(second, home, version="2").outcome == "PASS"
    assert _run("promote", str(path), "--version", "2", "--requested-by", "ann").exit_code == 0

    # then the second promotion is marked, with the new hash
    read = json.loads(_run("history", NAME, "--json").stdout)
    assert [(e["spec_hash"], e["spec_changed"]) for e in read["events"]] == [
        (first.spec_hash(), False),
        (second.spec_hash(), True),
    ]
    assert f"[spec changed: now {second.spec_hash()[:12]}]" in _run("history", NAME).stdout
