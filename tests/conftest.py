"""Shared fixtures: isolated Docket state, shipped specs and models trained once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from docket.usecases import resolve_spec
from models.decision_model import DecisionModel
from models.settings import Settings
from models.spec import DecisionSpec
from training.data import Dataset, load_dataset
from training.split import SplitIndices
from training.synthetic import write_synthetic
from training.train import fit_and_evaluate

SHIPPED = ("credit-eligibility", "retention-propensity")


@pytest.fixture
def docket_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "docket-home"
    monkeypatch.setenv("DOCKET_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
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
