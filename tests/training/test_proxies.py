"""Proxy strength: a planted proxy ranks first, noise scores near 0.5, test rows unused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from models.spec import parse_spec
from training.data import DataReport, Dataset
from training.proxies import proxy_scores, ranked_features, strength
from training.split import SplitIndices

_FEATURE = {"type": "numeric", "label": "x", "min": -100, "max": 100}


def _spec() -> object:
    raw = {
        "name": "proxy-test",
        "description": "d",
        "intended_use": "u",
        "out_of_scope_use": ["x"],
        "data": {
            "source": "x.csv",
            "target": "y",
            "favourable": 1,
            "datasheet": {
                k: "x"
                for k in ("source", "original_purpose", "preparation", "known_gaps", "known_biases")
            },
        },
        "features": {
            "planted": _FEATURE,
            "noise": _FEATURE,
            "area": {"type": "categorical", "label": "a", "categories": ["n", "s"]},
        },
        "sensitive": {"attributes": ["group"]},
        "model": {"family": "logistic"},
        "gate": {"decision_threshold": 0.5},
    }
    return parse_spec(raw)


@pytest.fixture(scope="module")
def data() -> tuple[object, Dataset, SplitIndices]:
    rng = np.random.default_rng(11)
    n = 3000
    group = rng.choice(["A", "B"], size=n)
    planted = np.where(group == "B", 2.0, 0.0) + rng.normal(size=n)  # shifted by group
    noise = rng.normal(size=n)
    area = np.where(rng.random(n) < np.where(group == "B", 0.65, 0.35), "s", "n")
    frame = pd.DataFrame({"planted": planted, "noise": noise, "area": area})
    dataset = Dataset(
        frame=frame,
        y=rng.integers(0, 2, n),
        sensitive=pd.DataFrame({"group": group}),
        report=DataReport(source="x", rows_read=n),
    )
    rows = np.arange(n)
    split = SplitIndices(train=rows[:1500], calibration=rows[1500:2400], test=rows[2400:])
    return _spec(), dataset, split


def test_planted_proxy_ranks_first_and_noise_is_uninformative(data: tuple) -> None:
    spec, dataset, split = data
    ranked = ranked_features(proxy_scores(spec, dataset, split))
    by_name = {p.feature: p.strength for p in ranked}
    # then: the shift of 2 sd gives AUC Phi(2 / sqrt(2)) = 0.92 for an ideal score;
    # ten bins lose a little
    assert [p.feature for p in ranked] == ["planted", "area", "noise"]
    assert by_name["planted"] > 0.88
    assert abs(by_name["noise"] - 0.5) < 0.05
    # area: P(s | B) = 0.65 vs 0.35; a binary score's AUC = (1 + 0.65 - 0.35) / 2 = 0.65
    assert by_name["area"] == pytest.approx(0.65, abs=0.04)


def test_strength_of_a_categorical_matches_a_direct_auc() -> None:
    # given: by hand, P(B | bin) from train rows with add-one smoothing
    bins_train = np.array(["x", "x", "x", "y", "y"])
    groups_train = np.array(["A", "A", "B", "B", "B"])
    # x: (1 + 1) / (3 + 2) = 0.4 for B; y: (2 + 1) / (2 + 2) = 0.75 for B
    bins_eval = np.array(["x", "y", "y", "x", "z"])
    groups_eval = np.array(["A", "B", "A", "B", "B"])
    p_b = np.array([0.4, 0.75, 0.75, 0.4, 0.5])  # z unseen: prior 1/2
    expected = (
        roc_auc_score(groups_eval == "B", p_b) + roc_auc_score(groups_eval == "A", 1 - p_b)
    ) / 2
    assert strength(bins_train, groups_train, bins_eval, groups_eval) == pytest.approx(expected)


def test_test_rows_do_not_change_the_strength(data: tuple) -> None:
    spec, dataset, split = data
    before = proxy_scores(spec, dataset, split)
    scrambled = dataset.frame.copy()
    scrambled.loc[split.test, "planted"] = 0.0
    after = proxy_scores(
        spec, Dataset(scrambled, dataset.y, dataset.sensitive, dataset.report), split
    )
    assert before == after
