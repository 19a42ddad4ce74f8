"""One calibration error: the metric of a test split and the per-group audit value agree.

Expected values come from a hand computation and from a brute-force loop over rows and
explicit bin intervals; the bins are checked against scikit-learn's ``calibration_curve``.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import calibration_curve

from audits.groups import calibration_errors
from models.metrics import calibration_bins, expected_calibration_error


def brute_force_ece(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float:
    """ECE with bins ``[0, 1/n], (1/n, 2/n], ..., ((n-1)/n, 1]``, one row at a time."""
    total = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        rows = [i for i in range(len(p)) if (p[i] > low or b == 0) and p[i] <= high]
        if rows:
            observed = sum(y[i] for i in rows) / len(rows)
            predicted = sum(p[i] for i in rows) / len(rows)
            total += len(rows) * abs(observed - predicted)
    return total / len(p)


def test_ece_of_a_tiny_table_by_hand() -> None:
    # given: 0.05 and 0.1 share [0, 0.1]; 0.15 and 0.2 share (0.1, 0.2]; 0.55 is alone;
    # 0.95 and 1.0 share (0.9, 1]
    y = np.array([0, 1, 0, 1, 1, 1, 0])
    p = np.array([0.05, 0.1, 0.15, 0.2, 0.55, 0.95, 1.0])
    # when
    ece = expected_calibration_error(y, p)
    per_group = calibration_errors(y, p, np.zeros(7, dtype=np.intp), 1)
    # then: (2 |0.5 - 0.075| + 2 |0.5 - 0.175| + |1 - 0.55| + 2 |0.5 - 0.975|) / 7
    assert ece == pytest.approx(2.9 / 7, abs=1e-12)
    assert per_group[0] == pytest.approx(2.9 / 7, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_both_entry_points_equal_a_brute_force_count(seed: int) -> None:
    # given: scores on a 0.05 grid (many exactly on bin edges) and free scores
    rng = np.random.default_rng(seed)
    n = 200
    p = np.where(rng.random(n) < 0.5, np.round(rng.random(n) * 20) / 20, rng.random(n))
    y = (rng.random(n) < p).astype(np.int64)
    group = rng.integers(0, 3, n).astype(np.intp)
    # when
    ece = expected_calibration_error(y, p)
    per_group = calibration_errors(y, p, group, 3)
    # then
    assert ece == pytest.approx(brute_force_ece(y, p), abs=1e-12)
    for g in range(3):
        rows = group == g
        assert per_group[g] == pytest.approx(brute_force_ece(y[rows], p[rows]), abs=1e-12)
        assert per_group[g] == pytest.approx(
            expected_calibration_error(y[rows], p[rows]), abs=1e-12
        )


def test_bins_are_those_of_sklearn_calibration_curve() -> None:
    # given: scores on every bin edge and in between
    p = np.linspace(0, 1, 41)
    y = (np.arange(41) % 3 == 0).astype(np.int64)
    # when
    bins = calibration_bins(p)
    observed, predicted = calibration_curve(y, p, n_bins=10, strategy="uniform")
    # then: the same non-empty bins with the same means
    used = np.unique(bins)
    assert np.allclose([y[bins == b].mean() for b in used], observed)
    assert np.allclose([p[bins == b].mean() for b in used], predicted)
    assert bins[4] == 0 and bins[5] == 1  # 0.1 closes the first bin, 0.125 opens the second
