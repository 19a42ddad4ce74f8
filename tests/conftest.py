"""Shared fixtures: isolated Docket state, shipped specs and models trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from audits.audit import run_audit
from audits.promotion import Waiver, promote
from docket.usecases import resolve_spec
from models.decision_model import DecisionModel
from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from training.data import Dataset, load_dataset
from training.split import SplitIndices
from training.synthetic import write_synthetic
from training.train import fit_and_evaluate, train_use_case

SHIPPED = ("credit-eligibility", "retention-propensity")


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


@pytest.fixture(scope="session")
def served_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Shipped use cases promoted with a (test-only) waiver; a synthetic one promoted on PASS."""
    home = tmp_path_factory.mktemp("served-home")
    settings = Settings.local(home)
    for name in ("credit-eligibility", "retention-propensity"):
        spec = resolve_spec(name)
        trained = train_use_case(spec, settings)
        report = run_audit(spec, settings, version=trained.version)
        waiver = None if report.outcome == "PASS" else Waiver(**WAIVER)
        promote(spec, settings, trained.version, requested_by="test-model-owner", waiver=waiver)
    synth = load_spec(write_synthetic(home / "synth", rows=3000, disparity=1.5, seed=3))
    trained = train_use_case(synth, settings, mitigation="reweighing")
    assert run_audit(synth, settings, version=trained.version).outcome == "PASS"
    promote(synth, settings, trained.version, requested_by="test-model-owner")
    return settings
