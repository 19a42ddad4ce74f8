"""Group partitions, confusion counts and per-group metrics.

Everything here is pure numpy on small count arrays, so the same functions serve the
point estimates and the bootstrap resamples (which carry an extra leading axis).

Cells
-----
The counts of one partition are an integer array of shape ``(..., n_groups, 4)``; the
last axis is the cell ``2 * y_true + y_pred``: ``tn, fp, fn, tp`` (see ``CELL_*``).
``y_pred == 1`` is the favourable decision.

Undefined rates
---------------
A rate whose denominator is zero is NaN: the selection rate of an empty group, the TPR
of a group without positives, the FPR of a group without negatives. fairlearn 0.15
reports 0 for the last two (``confusion_matrix(normalize="true")``); Docket reports NaN
and skips it in the summaries, and the audit then marks the summary insufficient
(see :mod:`audits.fairness`), so an undefined rate can never make a gate pass.

Summaries
---------
Over the groups selected by ``included`` (NaN values skipped, as pandas does):
``*_difference = max - min`` and ``*_ratio = min / max`` (NaN when ``max == 0``), as
fairlearn's ``MetricFrame.difference()`` / ``.ratio()`` with ``method="between_groups"``.
Equalized odds takes the worst case of TPR and FPR (fairlearn's default
``agg="worst_case"``): the larger difference and the smaller ratio.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import roc_auc_score

from models.metrics import CALIBRATION_BINS, calibration_bins

CELL_TN, CELL_FP, CELL_FN, CELL_TP = 0, 1, 2, 3
N_CELLS = 4
INTERSECTION_SEPARATOR = " & "

SUMMARY_NAMES = (
    "demographic_parity_difference",
    "demographic_parity_ratio",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "equal_opportunity_difference",
    "equal_opportunity_ratio",
)

MESSAGE_SENSITIVE_EMPTY = (
    "The 'sensitive' parameter must map at least one attribute name to an array of labels."
)
MESSAGE_ATTRIBUTE_NAME = "Sensitive attribute names must be non-empty str without ' & ' or '='."
MESSAGE_ATTRIBUTE_MISSING = "Sensitive attribute values must not be missing (None or NaN)."
MESSAGE_NOT_1D = "must be a 1-D array."
MESSAGE_LENGTH_MISMATCH = "must have the same length as 'y_true'."

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class Partition:
    """A split of the rows into groups, by one attribute or by an intersection.

    Attributes
    ----------
    name : str
        ``"age_band"``, or ``"age_band & marital"`` for an intersection.
    attributes : tuple of str
        The attributes crossed to make the groups.
    labels : tuple of str
        One label per group: the value (``"25-34"``), or for an intersection
        ``"age_band=25-34 & marital=married"``. Only observed groups appear.
    row_group : ndarray of int
        Group index of every row.
    from_finest : ndarray of int
        Group index of every group of the finest partition (the full intersection),
        to aggregate its cells with :func:`aggregate_cells`.
    """

    name: str
    attributes: tuple[str, ...]
    labels: tuple[str, ...]
    row_group: NDArray[np.intp]
    from_finest: NDArray[np.intp]

    @property
    def n_groups(self) -> int:
        """Number of groups."""
        return len(self.labels)


def partition_rows(sensitive: Mapping[str, ArrayLike], n_rows: int) -> list[Partition]:
    """Split rows by each attribute and, with two or more, by their full intersection.

    Parameters
    ----------
    sensitive : mapping of str to array-like
        Attribute name to one label per row.
    n_rows : int
        Expected length of every array.

    Returns
    -------
    list of Partition
        One per attribute in the given order, then the intersection. The last
        partition is always the finest one.

    Examples
    --------
    >>> parts = partition_rows({"sex": ["f", "m", "f"], "age": ["a", "a", "b"]}, 3)
    >>> [p.name for p in parts]
    ['sex', 'age', 'sex & age']
    >>> parts[2].labels
    ('sex=f & age=a', 'sex=f & age=b', 'sex=m & age=a')
    """
    if not isinstance(sensitive, Mapping) or len(sensitive) == 0:
        raise ValueError(f"{MESSAGE_SENSITIVE_EMPTY} Got {sensitive!r} instead.")
    names: list[str] = []
    values: list[tuple[str, ...]] = []
    codes: list[NDArray[np.intp]] = []
    for name, column in sensitive.items():
        if not isinstance(name, str) or not name or INTERSECTION_SEPARATOR in name or "=" in name:
            raise ValueError(f"{MESSAGE_ATTRIBUTE_NAME} Got {name!r} instead.")
        uniques, inverse = _factorize(name, column, n_rows)
        names.append(name)
        values.append(uniques)
        codes.append(inverse)

    if len(names) == 1:
        identity = np.arange(len(values[0]), dtype=np.intp)
        return [Partition(names[0], (names[0],), values[0], codes[0], identity)]

    # Mixed-radix code of the full intersection; only observed combinations are kept.
    radices = [len(v) for v in values]
    combined = np.zeros(n_rows, dtype=np.int64)
    for code, radix in zip(codes, radices, strict=True):
        combined = combined * radix + code
    observed, finest_row_group = np.unique(combined, return_inverse=True)
    digits = np.unravel_index(observed, radices)

    partitions = [
        Partition(name, (name,), vals, code, np.asarray(digit, dtype=np.intp))
        for name, vals, code, digit in zip(names, values, codes, digits, strict=True)
    ]
    labels = tuple(
        INTERSECTION_SEPARATOR.join(
            f"{name}={vals[d[i]]}" for name, vals, d in zip(names, values, digits, strict=True)
        )
        for i in range(len(observed))
    )
    partitions.append(
        Partition(
            INTERSECTION_SEPARATOR.join(names),
            tuple(names),
            labels,
            finest_row_group.astype(np.intp, copy=False),
            np.arange(len(observed), dtype=np.intp),
        )
    )
    return partitions


def _factorize(
    name: str, column: ArrayLike, n_rows: int
) -> tuple[tuple[str, ...], NDArray[np.intp]]:
    array = np.asarray(column)
    if array.ndim != 1:
        raise ValueError(
            f"The sensitive attribute '{name}' {MESSAGE_NOT_1D} Got shape {array.shape} instead."
        )
    if len(array) != n_rows:
        raise ValueError(
            f"The sensitive attribute '{name}' {MESSAGE_LENGTH_MISMATCH} "
            f"Got {len(array)} and {n_rows} instead."
        )
    if array.dtype.kind in "fcO" and bool(pd.isna(array).any()):
        raise ValueError(f"{MESSAGE_ATTRIBUTE_MISSING} Got a missing value in '{name}'.")
    if array.dtype.kind == "O":  # sorting fixed-width str is much faster, and always orderable
        array = array.astype(str)
    uniques, inverse = np.unique(array, return_inverse=True)
    return tuple(str(u) for u in uniques.tolist()), inverse.astype(np.intp, copy=False)


def cell_counts(
    y_true: NDArray[np.integer],
    y_pred: NDArray[np.integer],
    row_group: NDArray[np.intp],
    n_groups: int,
) -> IntArray:
    """Count ``tn, fp, fn, tp`` per group in one pass.

    Parameters
    ----------
    y_true, y_pred : ndarray of int
        0/1 labels and decisions (1 = favourable).
    row_group : ndarray of int
        Group index of every row.
    n_groups : int
        Number of groups.

    Returns
    -------
    ndarray of int, shape (n_groups, 4)

    Examples
    --------
    >>> cell_counts(np.array([1, 0, 1]), np.array([1, 1, 0]), np.array([0, 0, 1]), 2)
    array([[0, 1, 0, 1],
           [0, 0, 1, 0]])
    """
    cell = row_group.astype(np.int64) * N_CELLS + 2 * y_true.astype(np.int64) + y_pred
    counts = np.bincount(cell, minlength=n_groups * N_CELLS)
    return counts.reshape(n_groups, N_CELLS).astype(np.int64, copy=False)


def aggregate_cells(
    finest: NDArray[np.integer], from_finest: NDArray[np.intp], n_groups: int
) -> IntArray:
    """Sum cells of the finest partition into a coarser one.

    Parameters
    ----------
    finest : ndarray of int, shape (..., n_finest, 4)
    from_finest : ndarray of int, shape (n_finest,)
        Coarse group of each finest group.
    n_groups : int
        Number of coarse groups.

    Returns
    -------
    ndarray of int, shape (..., n_groups, 4)
    """
    membership = np.zeros((len(from_finest), n_groups), dtype=np.int64)
    membership[np.arange(len(from_finest)), from_finest] = 1
    return np.einsum("...fc,fg->...gc", finest, membership)


def _rate(numerator: NDArray[np.integer], denominator: NDArray[np.integer]) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = numerator / denominator
    return np.where(denominator > 0, rate, np.nan)


def group_sizes(cells: NDArray[np.integer]) -> IntArray:
    """Rows per group, shape ``cells.shape[:-1]``."""
    return cells.sum(axis=-1)


def selection_rates(cells: NDArray[np.integer]) -> FloatArray:
    """Favourable decisions / rows in the group (LL144 selection rate)."""
    return _rate(cells[..., CELL_FP] + cells[..., CELL_TP], cells.sum(axis=-1))


def true_positive_rates(cells: NDArray[np.integer]) -> FloatArray:
    """``tp / (tp + fn)``; NaN for a group without positives."""
    return _rate(cells[..., CELL_TP], cells[..., CELL_TP] + cells[..., CELL_FN])


def false_positive_rates(cells: NDArray[np.integer]) -> FloatArray:
    """``fp / (fp + tn)``; NaN for a group without negatives."""
    return _rate(cells[..., CELL_FP], cells[..., CELL_FP] + cells[..., CELL_TN])


def _group_max(values: FloatArray, included: NDArray[np.bool_]) -> FloatArray:
    if not included.any():
        return np.full(values.shape[:-1], np.nan)
    return np.fmax.reduce(values[..., included], axis=-1)  # NaN only if all are NaN


def _group_min(values: FloatArray, included: NDArray[np.bool_]) -> FloatArray:
    if not included.any():
        return np.full(values.shape[:-1], np.nan)
    return np.fmin.reduce(values[..., included], axis=-1)


def impact_ratios(rates: FloatArray, included: NDArray[np.bool_]) -> FloatArray:
    """Selection rate over the highest selection rate among the included groups.

    Parameters
    ----------
    rates : ndarray of float, shape (..., n_groups)
    included : ndarray of bool, shape (n_groups,)
        Groups that take part in the ratios; the others get NaN.

    Returns
    -------
    ndarray of float, shape (..., n_groups)

    Examples
    --------
    >>> impact_ratios(np.array([0.5, 0.25, 0.9]), np.array([True, True, False]))
    array([1. , 0.5, nan])
    """
    highest = _group_max(rates, included)[..., np.newaxis]
    ratios = _rate_float(rates, highest)
    return np.where(included, ratios, np.nan)


def _rate_float(numerator: FloatArray, denominator: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = numerator / denominator
    return np.where(denominator > 0, ratio, np.nan)


def disparity_difference(values: FloatArray, included: NDArray[np.bool_]) -> FloatArray:
    """``max - min`` of ``values`` over the included groups, NaN values skipped."""
    return _group_max(values, included) - _group_min(values, included)


def disparity_ratio(values: FloatArray, included: NDArray[np.bool_]) -> FloatArray:
    """``min / max`` of ``values`` over the included groups; NaN when ``max == 0``."""
    return _rate_float(_group_min(values, included), _group_max(values, included))


def summaries(cells: NDArray[np.integer], included: NDArray[np.bool_]) -> dict[str, FloatArray]:
    """The fairlearn disparity summaries of one partition.

    Parameters
    ----------
    cells : ndarray of int, shape (..., n_groups, 4)
    included : ndarray of bool, shape (n_groups,)
        Groups that take part in the summaries.

    Returns
    -------
    dict of str to ndarray of float, shape ``cells.shape[:-2]``
        Keyed by :data:`SUMMARY_NAMES`.
    """
    sr = selection_rates(cells)
    tpr = true_positive_rates(cells)
    fpr = false_positive_rates(cells)
    tpr_difference = disparity_difference(tpr, included)
    tpr_ratio = disparity_ratio(tpr, included)
    return {
        "demographic_parity_difference": disparity_difference(sr, included),
        "demographic_parity_ratio": disparity_ratio(sr, included),
        "equalized_odds_difference": np.maximum(
            tpr_difference, disparity_difference(fpr, included)
        ),
        "equalized_odds_ratio": np.minimum(tpr_ratio, disparity_ratio(fpr, included)),
        "equal_opportunity_difference": tpr_difference,
        "equal_opportunity_ratio": tpr_ratio,
    }


def summary_rates_defined(cells: NDArray[np.integer]) -> dict[str, NDArray[np.bool_]]:
    """Per summary, whether each group's rates entering it are defined (not NaN)."""
    sr_ok = ~np.isnan(selection_rates(cells))
    tpr_ok = ~np.isnan(true_positive_rates(cells))
    eo_ok = tpr_ok & ~np.isnan(false_positive_rates(cells))
    return {
        "demographic_parity_difference": sr_ok,
        "demographic_parity_ratio": sr_ok,
        "equalized_odds_difference": eo_ok,
        "equalized_odds_ratio": eo_ok,
        "equal_opportunity_difference": tpr_ok,
        "equal_opportunity_ratio": tpr_ok,
    }


def group_auc(y_true: NDArray[np.integer], scores: FloatArray, partition: Partition) -> FloatArray:
    """ROC AUC per group (``sklearn.metrics.roc_auc_score``); NaN with a single class.

    Parameters
    ----------
    y_true : ndarray of int
    scores : ndarray of float
    partition : Partition

    Returns
    -------
    ndarray of float, shape (n_groups,)
    """
    order = np.argsort(partition.row_group, kind="stable")
    bounds = np.cumsum(np.bincount(partition.row_group, minlength=partition.n_groups))
    auc = np.full(partition.n_groups, np.nan)
    for g, (start, stop) in enumerate(zip(np.r_[0, bounds[:-1]], bounds, strict=True)):
        rows = order[start:stop]
        positives = int(y_true[rows].sum())
        if 0 < positives < len(rows):
            auc[g] = roc_auc_score(y_true[rows], scores[rows])
    return auc


def calibration_errors(
    y_true: NDArray[np.integer],
    scores: FloatArray,
    row_group: NDArray[np.intp],
    n_groups: int,
    weights: NDArray[np.floating] | NDArray[np.integer] | None = None,
) -> FloatArray:
    """Expected calibration error per group, 10 equal-width bins.

    ``ECE = sum_b (n_b / n) * |mean(y in b) - mean(score in b)|``, which is
    ``sum_b |sum(y in b) - sum(score in b)| / n``, over the bins of
    :func:`models.metrics.calibration_bins` (``[0, 0.1], (0.1, 0.2], ..., (0.9, 1]``,
    as scikit-learn's ``calibration_curve``): one group is
    :func:`models.metrics.expected_calibration_error`. Row weights (bootstrap
    multiplicities) multiply every sum. NaN for an empty group.

    Parameters
    ----------
    y_true : ndarray of int
    scores : ndarray of float in [0, 1]
    row_group : ndarray of int
    n_groups : int
    weights : ndarray, optional
        Row weights; ones when omitted.

    Returns
    -------
    ndarray of float, shape (n_groups,)

    Examples
    --------
    >>> calibration_errors(np.array([1, 0]), np.array([0.95, 0.05]), np.array([0, 0]), 1)
    array([0.05])
    """
    w = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=np.float64)
    bins = calibration_bins(scores, CALIBRATION_BINS)
    cell = row_group.astype(np.int64) * CALIBRATION_BINS + bins
    size = n_groups * CALIBRATION_BINS
    observed = np.bincount(cell, weights=w * y_true, minlength=size)
    predicted = np.bincount(cell, weights=w * scores, minlength=size)
    gap = np.abs(observed - predicted).reshape(n_groups, CALIBRATION_BINS).sum(axis=1)
    sizes = np.bincount(row_group, weights=w, minlength=n_groups).astype(np.float64)
    return _rate_float(gap, sizes)
