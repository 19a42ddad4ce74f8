"""Fairness mitigation: every method of the spec is fitted through the ordinary fit."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from models.spec import MITIGATIONS, DecisionSpec, load_spec
from training.data import Dataset, load_dataset
from training.fit import fit_decision_model
from training.mitigation import MESSAGE_METHOD, fit_mitigated, reweighing_weights
from training.split import SplitIndices, split_rows
from training.synthetic import write_synthetic


@pytest.fixture(scope="module")
def biased(tmp_path_factory: pytest.TempPathFactory) -> tuple[DecisionSpec, Dataset, SplitIndices]:
    path = write_synthetic(tmp_path_factory.mktemp("mitigation"), rows=1500, disparity=1.5, seed=4)
    spec = load_spec(path)
    model = spec.model.model_copy(update={"mitigation_grid_size": 21})
    spec = spec.model_copy(update={"model": model})
    dataset = load_dataset(spec)
    return spec, dataset, split_rows(dataset.y, spec.model.split, 0)


def _selection_gap(dataset: Dataset, split: SplitIndices, scores: np.ndarray) -> float:
    group = dataset.sensitive["group"].to_numpy()[split.test]
    selected = scores >= 0.5
    return float(selected[group == "A"].mean() - selected[group == "B"].mean())


def test_reweighing_weights_by_hand() -> None:
    # given: P(a) = P(b) = 1/2, P(y=1) = 3/4, P(a, 1) = P(a, 0) = 1/4, P(b, 1) = 1/2
    y = np.array([1, 0, 1, 1])
    groups = pd.Series(["a", "a", "b", "b"])
    # when
    weights = reweighing_weights(y, groups)
    # then: P(g) P(y) / P(g, y)
    np.testing.assert_allclose(weights, [0.5 * 0.75 / 0.25, 0.5 * 0.25 / 0.25, 0.75, 0.75])


@pytest.mark.parametrize("method", MITIGATIONS)
def test_every_method_gives_an_ordinary_calibrated_model(
    biased: tuple[DecisionSpec, Dataset, SplitIndices], method: str
) -> None:
    # given
    spec, dataset, split = biased
    plain = fit_decision_model(spec, dataset, split)
    # when
    mitigated = fit_mitigated(spec, dataset, split, method)
    # then: the family's own estimator (exact contributions), calibrated scores in (0, 1)
    assert type(mitigated.estimator) is type(plain.estimator)
    scores = mitigated.score(mitigated.encode(dataset.frame.iloc[split.test]))
    assert ((scores > 0) & (scores < 1)).all()
    assert mitigated.feature_names == plain.feature_names


@pytest.mark.parametrize("method", ["reweighing", "grid-demographic-parity"])
def test_selection_rate_methods_narrow_the_gap_of_the_plain_fit(
    biased: tuple[DecisionSpec, Dataset, SplitIndices], method: str
) -> None:
    # given: group B is disadvantaged in the data
    spec, dataset, split = biased
    test_rows = dataset.frame.iloc[split.test]
    plain = fit_decision_model(spec, dataset, split)
    plain_gap = _selection_gap(dataset, split, plain.score(plain.encode(test_rows)))
    # when
    mitigated = fit_mitigated(spec, dataset, split, method)
    # then
    assert (
        0 < _selection_gap(dataset, split, mitigated.score(mitigated.encode(test_rows))) < plain_gap
    )


def test_an_unknown_method_is_named(biased: tuple[DecisionSpec, Dataset, SplitIndices]) -> None:
    spec, dataset, split = biased
    with pytest.raises(ValueError, match=re.escape("Got 'parity' instead.")) as error:
        fit_mitigated(spec, dataset, split, "parity")
    assert str(error.value).startswith(MESSAGE_METHOD.format(methods=list(MITIGATIONS)))
