"""The out-of-distribution check stored with each model."""

from __future__ import annotations

import numpy as np

from models.ood import OODDetector


def _fitted() -> OODDetector:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.normal(50, 10, 5000), rng.normal(0, 1, 5000), rng.integers(0, 2, 5000)]
    )
    X[:, 1] += X[:, 0] / 10  # correlated numerics
    return OODDetector(kinds=["numeric", "numeric", "categorical"], names=["a", "b", "c"]).fit(X)


def test_typical_rows_are_in_distribution() -> None:
    det = _fitted()
    assert det.check(np.array([50.0, 5.0, 1.0])) == []


def test_value_outside_training_range() -> None:
    why = _fitted().check(np.array([500.0, 5.0, 0.0]))
    assert any(w.startswith("a: 500 outside the training range") for w in why)


def test_unseen_category_and_unseen_missing() -> None:
    why = _fitted().check(np.array([50.0, np.nan, 3.0]))
    assert "b: missing, never missing in training" in why
    assert "c: category never seen in training" in why


def test_unusual_combination_is_flagged() -> None:
    # each value is within range, but together they break the training correlation
    why = _fitted().check(np.array([75.0, -2.5, 0.0]))
    assert any(w.startswith("combination of values unusual") for w in why)
