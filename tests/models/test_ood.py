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


def _band(col: np.ndarray) -> tuple[float, float]:
    """The band as documented: 0.1%-99.9% quantiles, widened by 10%, within min/max."""
    lo, hi = np.quantile(col, [0.001, 0.999])
    return max(lo - 0.1 * (hi - lo), col.min()), min(hi + 0.1 * (hi - lo), col.max())


def test_value_outside_the_band_says_what_the_band_is() -> None:
    # given a detector fitted on seeded data
    rng = np.random.default_rng(0)
    a = rng.normal(50, 10, 5000)
    det = _fitted()
    # when a value far outside it is checked
    why = det.check(np.array([500.0, 5.0, 0.0]))
    # then the message gives the band, says what it is, and never calls it the training range
    lo, hi = _band(a)
    expected = (
        f"a: 500 is outside the range of typical training values [{lo:g}, {hi:g}]"
        " (the 0.1%–99.9% quantiles of the training data, widened by 10% and never"
        " beyond the observed min/max)"
    )
    assert expected in why
    assert not any("the training range" in w for w in why)


def test_a_value_inside_the_observed_range_but_outside_the_band_is_flagged() -> None:
    # given one extreme training value far beyond the rest
    rng = np.random.default_rng(1)
    col = np.append(rng.normal(0, 1, 9999), 40.0)
    det = OODDetector(kinds=["numeric"], names=["x"]).fit(col[:, None])
    _, hi = _band(col)
    assert hi < 40.0  # the band is narrower than what training saw
    # then a value between the band and the observed maximum is out of distribution
    assert any(
        w.startswith("x: 30 is outside the range of typical training values")
        for w in det.check(np.array([30.0]))
    )
    assert det.check(np.array([0.0])) == []


def test_unseen_category_and_unseen_missing() -> None:
    why = _fitted().check(np.array([50.0, np.nan, 3.0]))
    assert "b: missing, never missing in training" in why
    assert "c: category never seen in training" in why


def test_unusual_combination_is_flagged() -> None:
    # each value is within range, but together they break the training correlation
    why = _fitted().check(np.array([75.0, -2.5, 0.0]))
    assert any(
        w.startswith("combination of values unusual: further from the centre of the training")
        and "than 99.9% of training rows (Mahalanobis distance" in w
        for w in why
    )


def test_inside_agrees_with_check_row_by_row() -> None:
    # given rows mixing typical values, values outside the band, unseen categories,
    # unseen missing values and unusual combinations
    det = _fitted()
    rng = np.random.default_rng(2)
    n = 400
    X = np.column_stack(
        [rng.normal(50, 25, n), rng.normal(5, 2.5, n), rng.integers(0, 3, n).astype(float)]
    )
    X[rng.random(n) < 0.05, 1] = np.nan
    X[:3] = [[50.0, 5.0, 1.0], [75.0, -2.5, 0.0], [500.0, 5.0, 0.0]]
    # when both are asked
    inside = det.inside(X)
    # then they agree on every row, and both outcomes occur
    assert inside.tolist() == [det.check(X[i]) == [] for i in range(n)]
    assert inside.any() and (~inside).any()


def test_check_many_gives_what_check_gives_row_by_row() -> None:
    # given mixed rows as above, plus rows placed on the joint-distance limit itself
    # (where a many-row and a one-row matrix product may round differently)
    det = _fitted()
    rng = np.random.default_rng(3)
    n = 300
    X = np.column_stack(
        [rng.normal(50, 25, n), rng.normal(5, 2.5, n), rng.integers(0, 3, n).astype(float)]
    )
    X[rng.random(n) < 0.05, 1] = np.nan
    centre = det.center_ * np.ones(2)
    for k in range(10):  # along a random direction, scaled to distance == the limit
        direction = rng.normal(size=2)
        unit = det._distance((centre + direction)[None, :])[0]
        X[k, :2] = centre + direction * det.distance_limit_ / unit
        X[k, 2] = 1.0
    # when checked together, then row by row: the same messages, in the same order
    assert det.check_many(X) == [det.check(X[i]) for i in range(n)]
    assert any(det.check(X[i]) for i in range(n)) and any(not det.check(X[i]) for i in range(n))
