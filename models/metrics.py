"""Performance metrics of a scored test split, and the one calibration-error definition.

Calibration error (ECE) uses the bins of scikit-learn's
``calibration_curve(strategy="uniform")``: ``n_bins`` equal-width bins of [0, 1] with
edges ``linspace(0, 1, n_bins + 1)``, each closed on the right (``(0.1, 0.2]``; the
first is ``[0, 0.1]``). :func:`calibration_bins` gives that bin of every score, so code
that needs the bins itself (per-group and bootstrap ECE in :mod:`audits.groups`, the
calibration figure) agrees with :func:`expected_calibration_error` bin for bin.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

CALIBRATION_BINS = 10


def calibration_bins(p: ArrayLike, n_bins: int = CALIBRATION_BINS) -> NDArray[np.intp]:
    """The calibration bin of every score, as ``calibration_curve(strategy="uniform")`` bins.

    Parameters
    ----------
    p : array-like of float in [0, 1]
        Scores.
    n_bins : int, default 10
        Number of equal-width bins.

    Returns
    -------
    ndarray of int in ``[0, n_bins)``

    Examples
    --------
    >>> calibration_bins([0.0, 0.1, 0.15, 1.0]).tolist()
    [0, 0, 1, 9]
    """
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return np.searchsorted(edges[1:-1], np.asarray(p, dtype=np.float64)).astype(np.intp)


def expected_calibration_error(y: ArrayLike, p: ArrayLike, bins: int = CALIBRATION_BINS) -> float:
    """Expected calibration error over equal-width score bins.

    ``ECE = sum_b (n_b / n) * |mean(y in b) - mean(p in b)|`` over the non-empty bins,
    with the per-bin means of ``sklearn.calibration.calibration_curve`` (which returns
    only the non-empty bins, without their counts: those come from
    :func:`calibration_bins` on the same edges).

    Examples
    --------
    >>> round(expected_calibration_error([1, 0], [0.95, 0.05]), 12)
    0.05
    """
    p = np.asarray(p, dtype=np.float64)
    observed, predicted = calibration_curve(np.asarray(y), p, n_bins=bins, strategy="uniform")
    counts = np.bincount(calibration_bins(p, bins), minlength=bins)
    counts = counts[counts > 0]
    return float(np.sum(counts * np.abs(observed - predicted)) / len(p))


def performance(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "pr_auc": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1])),
        "calibration_error": expected_calibration_error(y, p),
    }
