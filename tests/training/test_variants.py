"""Training settings of a variant are honoured: exclusions exactly, params, monotone directions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.spec import DecisionSpec, load_spec
from training.data import Dataset, load_dataset
from training.fit import fit_decision_model
from training.split import SplitIndices, split_rows
from training.synthetic import write_synthetic
from training.variants import SettingsError, TrainingSettings

Case = tuple[DecisionSpec, Dataset, SplitIndices]


def _case(root: Path, family: str) -> Case:
    spec = load_spec(write_synthetic(root, rows=1500, disparity=1.5, seed=3, family=family))
    dataset = load_dataset(spec)
    return spec, dataset, split_rows(dataset.y, spec.model.split, spec.model.seed)


@pytest.fixture(scope="module", params=["logistic", "gbm"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Case:
    return _case(tmp_path_factory.mktemp(request.param), request.param)


@pytest.mark.parametrize(
    "excluded", [["postcode_score"], ["employment"], ["postcode_score", "employment"]]
)
def test_an_excluded_feature_cannot_move_a_score(case: Case, excluded: list[str]) -> None:
    # given: a model fitted without the features (numeric and categorical)
    spec, dataset, split = case
    model = fit_decision_model(
        spec, dataset, split, training=TrainingSettings(exclude_features=excluded)
    )
    rows = dataset.frame.iloc[split.test].copy()
    # when: the excluded features take other real values (rows shuffled) or go missing
    changed = rows.copy()
    rng = np.random.default_rng(0)
    for name in excluded:
        changed[name] = rng.permutation(rows[name].to_numpy())
    # then: the scores are bit-identical and the exact contributions are exactly zero
    assert model.feature_names == spec.feature_names
    before, after = model.score(model.encode(rows)), model.score(model.encode(changed))
    np.testing.assert_array_equal(before, after)
    for frame in (rows, changed):
        phi, _ = model.contributions(model.encode(frame))
        for name in excluded:
            assert (phi[:, spec.feature_names.index(name)] == 0.0).all()
    # and the feature did matter to the plain model (the test can fail)
    plain = fit_decision_model(spec, dataset, split)
    assert not np.array_equal(plain.score(plain.encode(rows)), plain.score(plain.encode(changed)))


def test_default_settings_are_the_plain_fit(case: Case) -> None:
    spec, dataset, split = case
    rows = dataset.frame.iloc[split.test]
    a = fit_decision_model(spec, dataset, split)
    b = fit_decision_model(spec, dataset, split, training=TrainingSettings())
    np.testing.assert_array_equal(a.score(a.encode(rows)), b.score(b.encode(rows)))


def test_params_override_reaches_the_estimator(tmp_path: Path) -> None:
    # given a gbm spec; when the number of trees is overridden
    spec, dataset, split = _case(tmp_path, "gbm")
    model = fit_decision_model(
        spec, dataset, split, training=TrainingSettings(params={"n_estimators": 7, "num_leaves": 3})
    )
    # then: the booster has exactly 7 trees of at most 3 leaves; the spec is unchanged
    booster = model.estimator.booster_  # type: ignore[union-attr]
    assert booster.num_trees() == 7
    dump = booster.dump_model()["tree_info"]
    assert max(t["num_leaves"] for t in dump) <= 3
    assert model.spec == spec


def test_logistic_C_override(tmp_path: Path) -> None:
    spec, dataset, split = _case(tmp_path, "logistic")
    strong = fit_decision_model(spec, dataset, split, training=TrainingSettings(params={"C": 1e-4}))
    plain = fit_decision_model(spec, dataset, split)
    # heavy L2 shrinks every coefficient towards zero
    assert np.abs(strong.estimator.coef_).sum() < 0.1 * np.abs(plain.estimator.coef_).sum()  # type: ignore[union-attr]


@pytest.mark.parametrize("direction", ["increasing", "decreasing"])
def test_extra_monotone_direction_holds(case: Case, direction: str) -> None:
    # given: years_employed has no direction in the spec
    spec, dataset, split = case
    assert spec.features["years_employed"].monotone is None
    model = fit_decision_model(
        spec,
        dataset,
        split,
        training=TrainingSettings(monotone={"years_employed": direction}),  # type: ignore[dict-item]
    )
    # when: the feature sweeps its range with everything else held at real rows' values
    rows = dataset.frame.iloc[split.test[:50]]
    grid = np.linspace(0, 50, 26)
    curves = []
    for value in grid:
        swept = rows.assign(years_employed=value)
        curves.append(model.score(model.encode(swept)))
    steps = np.diff(np.array(curves), axis=0)
    # then: every row's score moves only in the given direction
    if direction == "increasing":
        assert (steps >= -1e-12).all()
    else:
        assert (steps <= 1e-12).all()


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        (TrainingSettings(exclude_features=["zip"]), "exclude_features"),
        (TrainingSettings(params={"gamma": 1}), "params"),
        (TrainingSettings(monotone={"income": "decreasing"}), "monotone"),
        (TrainingSettings(monotone={"employment": "increasing"}), "monotone"),
        (TrainingSettings(mitigation_attribute="colour"), "mitigation_attribute"),
    ],
)
def test_bad_settings_name_the_field(case: Case, settings: TrainingSettings, field: str) -> None:
    spec, dataset, split = case
    with pytest.raises(SettingsError, match=field) as info:
        fit_decision_model(spec, dataset, split, training=settings)
    assert "got" in str(info.value)
