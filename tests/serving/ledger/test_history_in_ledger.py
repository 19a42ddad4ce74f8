"""Promotions, refusals, rollbacks and waivers are ledger entries; MLflow's tags are a copy.

The registry holds one use case with a plain version (v1, FAILs its audit) and a
mitigated one (v2, PASSes). Each test writes to its own copy and its own ledger.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking._tracking_service import utils as artifact_utils

from audits.audit import run_audit
from audits.promotion import HISTORY_PREFIX, PromotionRefused, history, make_waiver, promote
from models import registry
from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from serving.access import Principal, add_person, authenticate_person
from serving.access.promotions import (
    HistoryMismatch,
    compare_history,
    ledger_promotions,
    ledger_recorder,
)
from serving.access.waivers import WaiverRefused, approve_waiver_as, request_waiver_as
from serving.ledger import DecisionLog
from tests.built_once import built_once
from tests.registry_copy import copy_registry
from training.synthetic import write_synthetic
from training.train import train_use_case

JUSTIFICATION = "Pilot limited to 100 cases, each reviewed by a person."


def _build(home: Path) -> None:
    settings = Settings.local(home)
    spec = load_spec(write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3))
    assert train_use_case(spec, settings).version == "1"
    assert run_audit(spec, settings, version="1").outcome == "FAIL"
    assert train_use_case(spec, settings, mitigation="reweighing").version == "2"
    assert run_audit(spec, settings, version="2").outcome == "PASS"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return built_once(tmp_path_factory, "history-in-ledger", _build)


class World:
    def __init__(self, settings: Settings, spec: DecisionSpec, log: DecisionLog) -> None:
        self.settings, self.spec, self.log = settings, spec, log

    def person(self, name: str, *roles: str) -> Principal:
        token, _ = add_person(self.log.engine, name, roles, "ops", log=self.log)
        who = authenticate_person(self.log.engine, token)
        assert who is not None
        return who

    def mismatches(self) -> list[HistoryMismatch]:
        client = registry.connect(self.settings)
        name = self.spec.name
        return compare_history(name, history(client, name), ledger_promotions(self.log, name))


@pytest.fixture
def world(built: Path, tmp_path: Path) -> World:
    settings = copy_registry(Settings.local(built), tmp_path / "home")
    artifact_utils._artifact_repos_cache.clear()  # see tests/serving/access/test_waivers.py
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}")
    log.migrate()
    return World(settings, load_spec(settings.home / "synth" / "spec.toml"), log)


def _refuse_promote_rollback(world: World) -> None:
    """v1 refused, v2 promoted, then a waived rollback to v1, each recorded in the ledger."""
    record = ledger_recorder(world.log, world.spec)
    with pytest.raises(PromotionRefused, match="did not pass its audit"):
        promote(world.spec, world.settings, "1", requested_by="alice", record=record)
    promote(world.spec, world.settings, "2", requested_by="alice", record=record)
    waiver = make_waiver("Temporary rollback while incident 42 is investigated.", "alice", "bob")
    promote(world.spec, world.settings, "1", requested_by="alice", waiver=waiver, record=record)


def test_a_refusal_a_promotion_and_a_rollback_are_ledger_entries(world: World) -> None:
    # when
    _refuse_promote_rollback(world)

    # then each is a promotion entry, in order, with the spec it was under
    entries = ledger_promotions(world.log, world.spec.name)
    fields = ("action", "version", "previous_champion", "requested_by", "approved_by")
    assert [tuple(e.digest[f] for f in fields) for e in entries] == [
        ("refused", "1", None, "alice", None),
        ("promote", "2", None, "alice", None),
        ("rollback", "1", "2", "alice", "bob"),
    ]
    assert [e.digest["audit_status"] for e in entries] == ["FAIL", "PASS", "FAIL"]
    assert {e.digest["spec_hash"] for e in entries} == {world.spec.spec_hash()}
    assert entries[2].digest["justification"].startswith("Temporary rollback")
    # and the ledger's times are MLflow's, so the two copies agree
    client = registry.connect(world.settings)
    assert [e.digest["at"] for e in entries] == [e.at for e in history(client, world.spec.name)]
    assert world.mismatches() == []
    assert world.log.verify().ok


def test_a_waiver_flow_is_in_the_ledger_once(world: World) -> None:
    # given two people
    ann = world.person("Ann Lee", "senior_reviewer", "admin")
    bo = world.person("Bo Chen", "admin")

    # when Ann asks, Ann's own approval is refused, and Bo approves
    request = request_waiver_as(ann, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)
    with pytest.raises(WaiverRefused, match="the approver must be another person"):
        approve_waiver_as(ann, world.settings, request.request_id, log=world.log)
    approve_waiver_as(bo, world.settings, request.request_id, log=world.log, note="ok")

    # then three entries, one per step (the promotion is not recorded twice)
    entries = ledger_promotions(world.log, world.spec.name)
    assert [(e.digest["action"], e.digest.get("approved_by")) for e in entries] == [
        ("waiver_requested", None),
        ("waiver_approval_refused", "Ann Lee"),
        ("promote", "Bo Chen"),
    ]
    assert entries[2].digest["approved_by_id"] == bo.key_id
    assert entries[2].digest["spec_hash"] == world.spec.spec_hash()
    assert world.mismatches() == []


def test_a_changed_or_missing_copy_is_a_mismatch(world: World) -> None:
    # given the ledger and MLflow in agreement
    _refuse_promote_rollback(world)
    client = registry.connect(world.settings)
    name = world.spec.name
    tags = {k: v for k, v in client.get_registered_model(name).tags.items()}
    keys = sorted(k for k in tags if k.startswith(HISTORY_PREFIX))  # oldest first by stamp
    refused, promoted, rolled_back = (history(client, name)[i] for i in range(3))

    # when the refusal's tag is deleted, the rollback's reason edited, and a promotion
    # happens without the ledger
    client.delete_registered_model_tag(name, keys[0])
    client.set_registered_model_tag(
        name, keys[2], rolled_back.model_copy(update={"reason": "nothing to see"}).model_dump_json()
    )
    unrecorded = promote(world.spec, world.settings, "2", requested_by="mallory")

    # then each is reported
    assert sorted(world.mismatches(), key=lambda m: m.at) == [
        HistoryMismatch(name, "ledger_only", refused.at, "1", "refused"),
        HistoryMismatch(name, "differs", rolled_back.at, "1", "rollback", ("reason",)),
        HistoryMismatch(name, "mlflow_only", unrecorded.at, "2", "promote"),
    ]
    assert promoted.action == "promote"  # untouched, so not reported


def test_key_changes_are_ledger_entries_without_the_secret(tmp_path: Path) -> None:
    from serving.access.keys import authenticate, create_key, hash_secret, revoke_key

    # given a ledger
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}")
    log.migrate()

    # when a key is created and revoked through it
    key, who = create_key(log.engine, "auditor", "audit team", log=log, by="ops")
    assert authenticate(log.engine, key) == who
    assert revoke_key(log.engine, who.key_id, log=log, by="ops")
    assert not revoke_key(log.engine, who.key_id, log=log, by="ops")  # nothing to record

    # then two admin entries name the key, its role and who; neither holds the secret
    entries = [e for e in log.iter_entries() if str(e.kind) == "admin"]
    assert [e.digest for e in entries] == [
        {"action": a, "key_id": who.key_id, "role": "auditor", "name": "audit team", "by": "ops"}
        for a in ("key_created", "key_revoked")
    ]
    secret = key.split("_", 2)[2]
    stored = str([e.hashed_fields() for e in entries])
    assert secret not in stored and hash_secret(secret) not in stored
    assert authenticate(log.engine, key) is None
    assert log.verify().ok
