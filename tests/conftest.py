"""Shared fixtures: isolated Docket state, shipped models, and one served registry per test run.

Tests run in parallel (pytest-xdist) and must not depend on order or worker:
the served registry is built once per run and only read; a test that trains,
promotes, moves an alias or writes artifacts takes ``served_copy``, its own copy.
Collection marks the tests that train on the real shipped data sets ``slow``; the
workers get one test at a time, end-to-end modules whole (tests/scheduling.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from xdist.remote import Producer
from xdist.scheduler import Scheduling

from audits.audit import run_audit
from audits.promotion import Waiver, promote
from docket.usecases import resolve_spec
from models.decision_model import DecisionModel
from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from serving.access.promotions import ledger_recorder
from serving.ledger import DecisionLog
from tests.built_once import built_once, fingerprint
from tests.registry_copy import copy_registry, forget_artifact_locations
from tests.scheduling import ServerModulesTogether
from training.data import Dataset, load_dataset
from training.split import SplitIndices
from training.synthetic import write_synthetic
from training.train import fit_and_evaluate, train_use_case

SHIPPED = ("credit-eligibility", "retention-propensity")


@pytest.fixture(autouse=True)
def _fresh_artifact_locations() -> None:
    # a registry copy has its original's run ids, and MLflow caches artifact folders by id
    forget_artifact_locations()


@pytest.fixture
def docket_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "docket-home"
    monkeypatch.setenv("DOCKET_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.delenv("DOCKET_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def settings(docket_home: Path) -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def synthetic_spec_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("synth"), rows=2000, disparity=1.5, seed=3)


class Trained:
    def __init__(self, spec: DecisionSpec) -> None:
        self.spec = spec
        self.dataset: Dataset = load_dataset(spec)
        model, split, metrics = fit_and_evaluate(spec, self.dataset, spec.model.seed)
        self.model: DecisionModel = model
        self.split: SplitIndices = split
        self.metrics = metrics


@pytest.fixture(scope="session")
def shipped() -> dict[str, Trained]:
    # about a second per worker (measured): cheaper than sharing it between workers
    return {name: Trained(resolve_spec(name)) for name in SHIPPED}


# --------------------------------------------------------------------------------------
# A registry with served champions, shared by the engine and end-to-end tests
# --------------------------------------------------------------------------------------

WAIVER = {
    "justification": (
        "Test fixture only: serve a model whose audit failed so that every serving path"
        " can be exercised; never done outside tests."
    ),
    "requested_by": "test-model-owner",
    "approved_by": "test-risk-officer",
}


def _build_served(home: Path) -> None:
    settings = Settings.local(home)
    # promotions are ledger entries too: tests that need a ledger start from a copy of
    # this one (SERVED_LEDGER), so the registry's history and the ledger agree
    ledger = DecisionLog(settings.database_url)
    ledger.migrate()
    for name in SHIPPED:
        spec = resolve_spec(name)
        trained = train_use_case(spec, settings)
        report = run_audit(spec, settings, version=trained.version)
        waiver = None if report.outcome == "PASS" else Waiver(**WAIVER)
        promote(
            spec,
            settings,
            trained.version,
            requested_by="test-model-owner",
            waiver=waiver,
            record=ledger_recorder(ledger, spec),
        )
    synth = load_spec(write_synthetic(home / "synth", rows=3000, disparity=1.5, seed=3))
    trained = train_use_case(synth, settings, mitigation="reweighing")
    assert run_audit(synth, settings, version=trained.version).outcome == "PASS"
    promote(
        synth,
        settings,
        trained.version,
        requested_by="test-model-owner",
        record=ledger_recorder(ledger, synth),
    )
    ledger.close()


#: the served registry's ledger file, holding its promotions
SERVED_LEDGER = "decisions.db"


@pytest.fixture(scope="session")
def served_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Shipped use cases promoted with a (test-only) waiver; a synthetic one promoted on PASS.

    Built once per test run and shared by every worker: read it, never write to it
    (take ``served_copy`` for that). A write is reported as an error at the end.
    """
    home = built_once(tmp_path_factory, "served-home", _build_served)
    before = fingerprint(home)
    yield Settings.local(home)
    assert fingerprint(home) == before, (
        f"the shared registry {home} changed during the run: a test wrote to it;"
        " give that test the served_copy fixture instead of served_settings"
    )


def _build_small(home: Path) -> None:
    spec = load_spec(write_synthetic(home / "synth", rows=600, seed=5))
    train_use_case(spec, Settings.local(home))


@pytest.fixture(scope="session")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One trained version of a small synthetic use case; built once per run, only read."""
    return Settings.local(built_once(tmp_path_factory, "small-registry", _build_small))


@pytest.fixture
def served_copy(served_settings: Settings, tmp_path: Path) -> Settings:
    """A private copy of the served registry, for a test that writes to it."""
    return copy_registry(served_settings, tmp_path / "served-home")


# --------------------------------------------------------------------------------------
# Collection and distribution: slow marks, and how xdist hands tests to workers
# --------------------------------------------------------------------------------------

# fixtures that train on the real shipped data sets (directly or through a registry)
TRAIN_ON_REAL_DATA = frozenset({"shipped", "served_settings"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if TRAIN_ON_REAL_DATA & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> Scheduling | None:
    if config.getvalue("dist") != "load":
        return None  # an explicit --dist is honoured
    return ServerModulesTogether(config, log)
