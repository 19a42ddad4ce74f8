"""A mitigation that changes no prediction is refused; one that does records what it chose."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from models import registry, tags
from models.settings import Settings
from models.spec import load_spec
from training.data import load_dataset
from training.split import split_rows
from training.synthetic import write_synthetic
from training.train import SamePredictionsError, train_use_case
from training.variants import TrainingSettings


def test_reweighing_with_one_group_is_not_registered(tmp_path: Path) -> None:
    # given: one sensitive attribute with a single group, so every weight is P(y)/P(y) = 1
    path = write_synthetic(tmp_path / "s", rows=600, seed=5)
    text = path.read_text().replace('attributes = ["group", "age_band"]', 'attributes = ["group"]')
    path.write_text(text)
    data = path.parent / "data.csv"
    frame = pd.read_csv(data)
    frame["group"] = "A"
    frame.to_csv(data, index=False)
    spec = load_spec(path)
    n_test = len(split_rows(load_dataset(spec).y, spec.model.split, spec.model.seed).test)
    settings = Settings.local(tmp_path / "home")
    # when / then
    message = (
        f"mitigation reweighing produced exactly the same predictions as the plain model on"
        f" the {n_test} held-out rows; nothing was registered"
    )
    with pytest.raises(SamePredictionsError, match=re.escape(message)):
        train_use_case(spec, settings, mitigation="reweighing")
    client = registry.connect(settings)
    assert client.search_registered_models() == []


def _weights_range(spec_path: Path) -> tuple[float, float, int]:
    # Kamiran-Calders by hand over the crossed groups of the training rows
    spec = load_spec(spec_path)
    dataset = load_dataset(spec)
    split = split_rows(dataset.y, spec.model.split, spec.model.seed)
    cells = pd.DataFrame(
        {
            "g": dataset.sensitive.iloc[split.train].astype(str).agg(" & ".join, axis=1).to_numpy(),
            "y": dataset.y[split.train],
        }
    )
    n = len(cells)
    counts = cells.value_counts()
    w = [
        (cells["g"].eq(g).sum() / n) * (cells["y"].eq(y).sum() / n) / (c / n)
        for (g, y), c in counts.items()
    ]
    return min(w), max(w), cells["g"].nunique()


def test_mitigated_version_records_attribute_and_setting(tmp_path: Path) -> None:
    path = write_synthetic(tmp_path / "s", rows=900, disparity=1.5, seed=3)
    spec = load_spec(path)
    settings = Settings.local(tmp_path / "home")
    result = train_use_case(spec, settings, mitigation="reweighing")
    mv = registry.connect(settings).get_model_version(spec.name, result.version)
    low, high, n_groups = _weights_range(path)
    assert mv.tags[tags.MITIGATION] == "reweighing"
    assert mv.tags[tags.MITIGATION_ATTRIBUTE] == "group & age_band"
    assert mv.tags[tags.MITIGATION_SETTING] == (
        f"weights {low:.3g} to {high:.3g} over {n_groups} groups x 2 outcomes"
    )


def test_grid_reduction_records_its_grid_point(tmp_path: Path) -> None:
    spec = load_spec(write_synthetic(tmp_path / "s", rows=900, disparity=1.5, seed=3))
    settings = Settings.local(tmp_path / "home")
    training = TrainingSettings(
        mitigation="grid-demographic-parity",
        mitigation_attribute="group",
        mitigation_grid_size=11,
    )
    result = train_use_case(spec, settings, training=training)
    mv = registry.connect(settings).get_model_version(spec.name, result.version)
    assert mv.tags[tags.MITIGATION] == "grid-demographic-parity"
    assert mv.tags[tags.MITIGATION_ATTRIBUTE] == "group"
    setting = mv.tags[tags.MITIGATION_SETTING]
    assert re.match(r"DemographicParity, grid size 11, grid point \d+ of \d+: ", setting)
    run = registry.connect(settings).get_run(result.run_id)
    assert run.data.params["settings.mitigation_attribute"] == "group"


def test_plain_training_adds_no_mitigation_tags(tmp_path: Path) -> None:
    spec = load_spec(write_synthetic(tmp_path / "s", rows=600, seed=5))
    settings = Settings.local(tmp_path / "home")
    result = train_use_case(spec, settings)
    mv = registry.connect(settings).get_model_version(spec.name, result.version)
    assert mv.tags[tags.MITIGATION] == "none"
    assert tags.MITIGATION_ATTRIBUTE not in mv.tags
    assert tags.MITIGATION_SETTING not in mv.tags
