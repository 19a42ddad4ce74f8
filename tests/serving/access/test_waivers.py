"""Waivers asked for and approved by people with their own tokens; never by one person twice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking._tracking_service import utils as artifact_utils

from audits.audit import run_audit
from audits.promotion import history
from models import registry
from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from serving.access import AccessDenied, Principal, add_person, authenticate_person, create_key
from serving.access.waivers import (
    WaiverRefused,
    approve_waiver_as,
    list_waiver_requests,
    request_waiver_as,
)
from serving.ledger import DecisionLog
from tests.registry_copy import copy_registry
from training.synthetic import write_synthetic
from training.train import train_use_case

JUSTIFICATION = "Pilot limited to 100 cases, each reviewed by a person."


@pytest.fixture(scope="module")
def failed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """A registry whose only version (a plain model on biased data) FAILS its audit."""
    home = tmp_path_factory.mktemp("waivers-as-people")
    settings = Settings.local(home)
    spec_path = write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3)
    spec = load_spec(spec_path)
    assert train_use_case(spec, settings).version == "1"
    assert run_audit(spec, settings, version="1").outcome == "FAIL"
    return settings, spec_path


class World:
    def __init__(self, settings: Settings, spec: DecisionSpec, log: DecisionLog) -> None:
        self.settings, self.spec, self.log = settings, spec, log

    def person(self, name: str, *roles: str) -> Principal:
        token, _ = add_person(self.log.engine, name, roles, "ops", log=self.log)
        who = authenticate_person(self.log.engine, token)
        assert who is not None
        return who


@pytest.fixture
def world(failed_once: tuple[Settings, Path], tmp_path: Path) -> World:
    settings, spec_path = failed_once
    copy = copy_registry(settings, tmp_path / "registry")
    # MLflow caches each run's artifact folder by run id for the whole process, and the
    # copy has the same run ids: without this, artifacts logged to the copy's runs land
    # in the original's folders
    artifact_utils._artifact_repos_cache.clear()
    log = DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}")
    log.migrate()
    return World(copy, load_spec(spec_path), log)


def _promotion_entries(log: DecisionLog) -> list[dict[str, object]]:
    return [e.digest for e in log.iter_entries() if str(e.kind) == "promotion"]


def test_a_second_person_approves_and_both_are_on_record(world: World) -> None:
    # given two people, each with their own token
    ann = world.person("Ann Lee", "senior_reviewer")
    bo = world.person("Bo Chen", "admin", "auditor")

    # when Ann asks and Bo approves
    request = request_waiver_as(ann, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)
    event = approve_waiver_as(bo, world.settings, request.request_id, log=world.log, note="ok")

    # then the version is champion, with both names in the history and the ledger
    client = registry.connect(world.settings)
    assert registry.alias_version(client, world.spec.name, registry.CHAMPION) == "1"
    assert (event.requested_by, event.approved_by) == ("Ann Lee", "Bo Chen")
    assert [
        (e.action, e.requested_by, e.approved_by) for e in history(client, world.spec.name)
    ] == [("promote", "Ann Lee", "Bo Chen")]
    asked, promoted = _promotion_entries(world.log)
    assert (asked["action"], asked["requested_by"], asked["requested_by_id"]) == (
        "waiver_requested",
        "Ann Lee",
        ann.key_id,
    )
    assert {k: promoted[k] for k in ("action", "requested_by", "approved_by", "note")} == {
        "action": "promote",
        "requested_by": "Ann Lee",
        "approved_by": "Bo Chen",
        "note": "ok",
    }
    assert (promoted["requested_by_id"], promoted["approved_by_id"]) == (ann.key_id, bo.key_id)
    assert world.log.verify().ok


def test_the_requester_cannot_approve_their_own_request(world: World) -> None:
    # given Ann's request
    ann = world.person("Ann Lee", "senior_reviewer", "admin")
    request = request_waiver_as(ann, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)

    # when Ann approves it with her own token
    with pytest.raises(WaiverRefused, match="the approver must be another person") as refused:
        approve_waiver_as(ann, world.settings, request.request_id, log=world.log)

    # then it is forbidden, nothing moved, and the attempt is in the ledger
    assert refused.value.kind == "forbidden"
    client = registry.connect(world.settings)
    assert registry.alias_version(client, world.spec.name, registry.CHAMPION) is None
    refusal = _promotion_entries(world.log)[-1]
    assert (refusal["action"], refusal["approved_by_id"]) == ("waiver_approval_refused", ann.key_id)


@pytest.mark.parametrize("spelling", ["ann lee", "ANN  LEE", "Ａｎｎ Ｌｅｅ"])
def test_no_spelling_of_the_requester_name_approves(world: World, spelling: str) -> None:
    # given Ann's request
    ann = world.person("Ann Lee", "senior_reviewer")
    request = request_waiver_as(ann, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)

    # then a second account under another spelling of her name cannot be made ...
    with pytest.raises(ValueError, match="name must be unique"):
        add_person(world.log.engine, spelling, ["admin"], "ops")
    # ... and an identity carrying that spelling is refused by name (the second check)
    other = Principal(
        key_id="person:0123456789ab", name=spelling, roles=frozenset({"admin"}), kind="person"
    )
    with pytest.raises(WaiverRefused, match="the approver must be another person"):
        approve_waiver_as(other, world.settings, request.request_id, log=world.log)


def test_only_people_of_a_waiver_role_ask_or_approve(world: World) -> None:
    # given a reviewer, an admin API key named like a person, and an in-process caller
    rita = world.person("Rita Roe", "reviewer", "auditor")
    _, admin_key = create_key(world.log.engine, "admin", "Bo Chen")
    local = Principal.local("Bo Chen", role="admin")
    ann = world.person("Ann Lee", "senior_reviewer")

    # then
    expected = (
        "roles ['auditor', 'reviewer'] may not ask for a waiver;"
        " allowed roles: ['admin', 'senior_reviewer']"
    )
    with pytest.raises(AccessDenied, match=re.escape(expected)):
        request_waiver_as(rita, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)
    request = request_waiver_as(ann, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)
    for caller, kind in ((admin_key, "API key"), (local, "local caller")):
        with pytest.raises(AccessDenied, match=f"got the {kind} 'Bo Chen' instead"):
            approve_waiver_as(caller, world.settings, request.request_id, log=world.log)
    assert [e["action"] for e in _promotion_entries(world.log)] == ["waiver_requested"]


def test_unknown_requests_and_who_may_list_them(world: World) -> None:
    # given
    ann = world.person("Ann Lee", "senior_reviewer")
    bo = world.person("Bo Chen", "admin")
    request = request_waiver_as(ann, world.spec, world.settings, "1", JUSTIFICATION, log=world.log)

    # then
    with pytest.raises(WaiverRefused, match="no waiver request has id 'abcdef012345'") as unknown:
        approve_waiver_as(bo, world.settings, "abcdef012345", log=world.log)
    assert unknown.value.kind == "not_found"
    _, auditor_key = create_key(world.log.engine, "auditor", "audit team")
    assert [r.request_id for r in list_waiver_requests(auditor_key, world.settings)] == [
        request.request_id
    ]
    with pytest.raises(AccessDenied, match="may not list waiver requests"):
        list_waiver_requests(Principal.local("x", role="reviewer"), world.settings)
