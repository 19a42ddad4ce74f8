"""Waivers in two steps: one person asks, another approves; the same person never both (R23)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow.tracking._tracking_service import utils as artifact_utils

from audits.audit import run_audit
from audits.promotion import (
    MESSAGE_OWN_REQUEST,
    WaiverRequest,
    WaiverRequestRefused,
    approve_waiver,
    find_request,
    history,
    pending_requests,
    request_waiver,
    waiver_requests,
)
from models import registry
from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from tests.registry_copy import copy_registry
from training.synthetic import write_synthetic
from training.train import train_use_case

JUSTIFICATION = "Pilot limited to 100 cases, each reviewed by a person."


@pytest.fixture(scope="module")
def failed_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    """A registry whose only version (a plain model on biased data) FAILS its audit."""
    home = tmp_path_factory.mktemp("waiver-requests")
    settings = Settings.local(home)
    spec_path = write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3)
    spec = load_spec(spec_path)
    trained = train_use_case(spec, settings)
    assert trained.version == "1"
    assert run_audit(spec, settings, version="1").outcome == "FAIL"
    return settings, spec_path


@pytest.fixture
def failed(failed_once: tuple[Settings, Path], tmp_path: Path) -> tuple[Settings, DecisionSpec]:
    """A private copy of that registry: the tests write requests and move the champion."""
    settings, spec_path = failed_once
    copy = copy_registry(settings, tmp_path / "registry")
    # MLflow caches each run's artifact folder by run id for the whole process, and the
    # copy has the same run ids: without this, artifacts logged to the copy's runs land
    # in the original's folders
    artifact_utils._artifact_repos_cache.clear()
    return copy, load_spec(spec_path)


def _ask(
    settings: Settings, spec: DecisionSpec, who: str = "Ann Lee", ref: str = "person:ann"
) -> WaiverRequest:
    return request_waiver(
        spec,
        settings,
        "1",
        requested_by=who,
        requester_ref=ref,
        justification=JUSTIFICATION,
        reason="pilot",
    )


def test_a_request_promotes_nothing_until_another_person_approves_it(
    failed: tuple[Settings, DecisionSpec],
) -> None:
    settings, spec = failed
    client = registry.connect(settings)

    # given a pending request
    request = _ask(settings, spec)
    assert request.status == "pending" and re.fullmatch(r"[0-9a-f]{12}", request.request_id)
    assert registry.alias_version(client, spec.name, registry.CHAMPION) is None
    assert [r.request_id for r in pending_requests(settings)] == [request.request_id]

    # when a second person approves it
    event = approve_waiver(settings, request.request_id, "Bo Chen", approver_ref="person:bo")

    # then the version is champion, and the history and the version carry both names
    assert registry.alias_version(client, spec.name, registry.CHAMPION) == "1"
    assert (event.action, event.requested_by, event.approved_by) == (
        "promote",
        "Ann Lee",
        "Bo Chen",
    )
    [recorded] = history(client, spec.name)
    assert (recorded.requested_by, recorded.approved_by) == ("Ann Lee", "Bo Chen")
    assert recorded.waiver is not None and recorded.waiver.justification == JUSTIFICATION
    assert recorded.reason == f"waiver request {request.request_id}: pilot"
    version_tags = client.get_model_version(spec.name, "1").tags
    assert version_tags["waiver.requested_by"] == "Ann Lee"
    assert version_tags["waiver.approved_by"] == "Bo Chen"
    done = find_request(settings, request.request_id)
    assert (done.status, done.approved_by, done.approver_ref) == (
        "approved",
        "Bo Chen",
        "person:bo",
    )
    assert pending_requests(settings) == []
    assert [r.status for r in waiver_requests(settings, status=None)] == ["approved"]

    # and it cannot be approved a second time
    with pytest.raises(WaiverRequestRefused, match="is approved; only a pending request") as again:
        approve_waiver(settings, request.request_id, "Cy Diaz", approver_ref="person:cy")
    assert again.value.problem == "closed"


@pytest.mark.parametrize(
    ("approver", "approver_ref"),
    [
        ("Ann Lee", "person:ann"),  # the requester, as herself
        ("Someone Else", "person:ann"),  # the requester's identity under another name
        ("ann lee", "person:other"),  # the requester's name in another case
        ("  ANN   LEE ", "person:other"),  # ... with extra white space
    ],
)
def test_the_requester_cannot_approve_under_any_spelling(
    failed: tuple[Settings, DecisionSpec], approver: str, approver_ref: str
) -> None:
    settings, spec = failed
    client = registry.connect(settings)
    request = _ask(settings, spec)

    # when the requester approves their own request
    expected = MESSAGE_OWN_REQUEST.format(
        request_id=request.request_id, requester="Ann Lee", approver=approver
    )
    with pytest.raises(WaiverRequestRefused, match=re.escape(expected)) as refused:
        approve_waiver(settings, request.request_id, approver, approver_ref=approver_ref)

    # then nothing moved, the attempt is on record, and the request still waits
    assert refused.value.problem == "same_person"
    assert registry.alias_version(client, spec.name, registry.CHAMPION) is None
    [attempt] = history(client, spec.name)
    assert (attempt.action, attempt.requested_by, attempt.approved_by) == (
        "refused",
        "Ann Lee",
        approver,
    )
    assert find_request(settings, request.request_id).status == "pending"


def test_a_full_width_spelling_of_the_requester_is_the_same_person(
    failed: tuple[Settings, DecisionSpec],
) -> None:
    # given
    settings, spec = failed
    request = _ask(settings, spec)

    # then: "Ａｎｎ Ｌｅｅ" is Ann Lee, whatever account approves
    with pytest.raises(WaiverRequestRefused, match="the approver must be another person"):
        approve_waiver(settings, request.request_id, "Ａｎｎ Ｌｅｅ", approver_ref="person:x")


def test_an_audit_run_again_since_the_request_makes_it_stale(
    failed: tuple[Settings, DecisionSpec],
) -> None:
    # given a request, then the version audited again (a new audit id)
    settings, spec = failed
    request = _ask(settings, spec)
    assert run_audit(spec, settings, version="1").audit_id != request.audit_id

    # then approving it is refused, and the request is closed as stale
    with pytest.raises(WaiverRequestRefused, match="changed since waiver request") as refused:
        approve_waiver(settings, request.request_id, "Bo Chen", approver_ref="person:bo")
    assert refused.value.problem == "audit_changed"
    assert find_request(settings, request.request_id).status == "stale"
    assert registry.alias_version(registry.connect(settings), spec.name, "champion") is None
    # and a new request can be made
    assert _ask(settings, spec).request_id != request.request_id


def test_requests_that_cannot_be_made(failed: tuple[Settings, DecisionSpec]) -> None:
    settings, spec = failed

    # a justification under 20 characters
    with pytest.raises(WaiverRequestRefused, match="justification: String should have at least 20"):
        request_waiver(
            spec, settings, "1", requested_by="Ann", requester_ref="p:a", justification="ok"
        )
    # a second request for a version with one pending
    first = _ask(settings, spec)
    with pytest.raises(
        WaiverRequestRefused,
        match=f"waiver request {first.request_id} for version 1 of '{spec.name}' is already pending",
    ):
        _ask(settings, spec, who="Bo Chen", ref="person:bo")
    # a version audited under another spec
    changed = spec.model_copy(update={"description": spec.description + " (edited)"})
    with pytest.raises(WaiverRequestRefused, match="audited under another spec") as other:
        _ask(settings, changed)
    assert other.value.problem == "invalid"


def test_unknown_and_malformed_request_ids(failed: tuple[Settings, DecisionSpec]) -> None:
    settings, _ = failed
    with pytest.raises(WaiverRequestRefused, match="no waiver request has id 'abcdef012345'") as e:
        approve_waiver(settings, "abcdef012345", "Bo Chen", approver_ref="person:bo")
    assert e.value.problem == "unknown"
    with pytest.raises(
        WaiverRequestRefused,
        match=re.escape("must be 12 hexadecimal characters; got 'x.y' instead"),
    ):
        find_request(settings, "x.y")
