"""Only a version whose promotion is on record is served (the gate cannot be walked around).

Any MLflow user can move the ``champion`` alias directly (its UI or its client).
These tests do exactly that and check the service refuses the version, says why
in its status and in the ledger, and keeps serving the last recorded champion.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audits.audit import run_audit
from audits.promotion import promote
from models import registry
from models.settings import Settings
from models.spec import load_spec
from serving.decisions import DecisionEngine
from tests.built_once import built_once
from tests.registry_copy import copy_registry
from training.synthetic import write_synthetic
from training.train import train_use_case

USE_CASE = "synthetic-eligibility"


def _walk_around(home: Path) -> None:
    """A registry where v1 (mitigated, PASS) was promoted and v2 (plain, FAIL) was not."""
    settings = Settings.local(home)
    spec = load_spec(write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3))
    good = train_use_case(spec, settings, mitigation="reweighing")
    assert run_audit(spec, settings, version=good.version).outcome == "PASS"
    promote(spec, settings, good.version, requested_by="model-owner")
    bad = train_use_case(spec, settings)
    assert run_audit(spec, settings, version=bad.version).outcome == "FAIL"


@pytest.fixture(scope="session")
def walked_around_once(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, str, str]:
    """That registry, built once per test run and only read; its champion and the failed v2."""
    settings = Settings.local(built_once(tmp_path_factory, "walk-around", _walk_around))
    client = registry.connect(settings)
    good = registry.alias_version(client, USE_CASE, registry.CHAMPION)
    bad = registry.alias_version(client, USE_CASE, registry.CANDIDATE)  # the newest trained
    assert good is not None and bad is not None
    return settings, good, bad


@pytest.fixture
def walked_around(
    walked_around_once: tuple[Settings, str, str], tmp_path: Path
) -> tuple[Settings, str, str]:
    """A copy of that registry for each test: the tests move its champion alias."""
    settings, good, bad = walked_around_once
    return copy_registry(settings, tmp_path / "registry"), good, bad


def _engine(settings: Settings, tmp_path: Path) -> DecisionEngine:
    db = f"sqlite:///{tmp_path / 'decisions.db'}"
    return DecisionEngine(settings.model_copy(update={"database_url": db}))


def _move_alias(settings: Settings, version: str) -> None:
    # what anyone with MLflow access can do, outside `docket promote`
    client = registry.connect(settings)
    client.set_registered_model_alias(USE_CASE, registry.CHAMPION, version)


def test_a_champion_set_outside_promotion_is_refused_and_the_last_recorded_one_serves(
    walked_around: tuple[Settings, str, str], tmp_path: Path
) -> None:
    # given: the service serves the promoted v1
    settings, good, bad = walked_around
    engine = _engine(settings, tmp_path)
    _move_alias(settings, good)
    assert engine.start()["served"][USE_CASE] == good

    # when: someone points the alias at the failed v2 in MLflow, and the service reloads
    _move_alias(settings, bad)
    try:
        result = engine.reload()
    finally:
        _move_alias(settings, good)

    # then: v2 is refused with the reason; v1 keeps serving; the refusal is in the ledger
    assert engine.served_versions()[USE_CASE] == good
    assert result["changed"] == {}
    why = engine.status()["refused"][USE_CASE]
    assert f"version {bad} is the champion" in why and f"version {good}" in why
    refusals = [
        e.digest
        for e in engine.log.entries_for(f"serving:{USE_CASE}")
        if e.digest["action"] == "refuse_to_serve"
    ]
    assert len(refusals) == 1 and refusals[0]["serving_instead"] == good
    # a second reload does not record the same refusal again
    _move_alias(settings, bad)
    try:
        engine.reload()
    finally:
        _move_alias(settings, good)
    again = [
        e
        for e in engine.log.entries_for(f"serving:{USE_CASE}")
        if e.digest["action"] == "refuse_to_serve"
    ]
    assert len(again) == 1
    assert engine.log.verify().ok


def test_a_service_started_on_an_unrecorded_champion_serves_the_recorded_one(
    walked_around: tuple[Settings, str, str], tmp_path: Path
) -> None:
    # given: the alias already points at the failed version when the service starts
    settings, good, bad = walked_around
    _move_alias(settings, bad)
    try:
        # when
        started = _engine(settings, tmp_path).start()
    finally:
        _move_alias(settings, good)

    # then
    assert started["served"][USE_CASE] == good
    assert USE_CASE in started["refused"]


def test_no_promotion_on_record_means_nothing_is_served(tmp_path: Path) -> None:
    # given: a version that passed its audit but whose alias was set by hand
    settings = Settings.local(tmp_path / "home")
    spec = load_spec(write_synthetic(tmp_path / "synth", rows=2000, disparity=1.5, seed=3))
    trained = train_use_case(spec, settings, mitigation="reweighing")
    assert run_audit(spec, settings, version=trained.version).outcome == "PASS"
    _move_alias(settings, trained.version)

    # when
    engine = _engine(settings, tmp_path)
    started = engine.start()

    # then: not served, and the status says why
    assert USE_CASE not in started["served"]
    assert "no promotion of any version is on record" in engine.status()["unserved"][USE_CASE]
