"""Seeded bootstrap resamples and percentile intervals.

Count metrics (selection rate, impact ratio, TPR, FPR and the summaries) depend on the
rows only through the ``group x y_true x y_pred`` cell counts of the finest partition.
Drawing ``n`` rows with replacement puts a Multinomial(n, counts / n) number of rows in
those cells, so :func:`resample_cells` draws the cells directly: each resample costs
O(cells), not O(rows), and coarser partitions are sums of the finest cells.

Score metrics (ROC AUC, calibration error) need the rows, so
:func:`resample_score_metrics` runs an ordinary row bootstrap, written as row
multiplicities (weights) so that the sort by score is done once.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from audits.groups import FloatArray, IntArray, Partition, calibration_errors


def percentile_interval(
    samples: NDArray[np.floating], confidence: float
) -> tuple[FloatArray, FloatArray]:
    """Percentile bootstrap interval along the first axis, NaN resamples skipped.

    A resample where a metric is undefined (e.g. a group drew no positives) is left
    out of that metric's interval; if every resample is undefined the bounds are NaN.

    Parameters
    ----------
    samples : ndarray of float, shape (n_boot, ...)
    confidence : float
        In (0, 1); the bounds are the ``(1 - confidence) / 2`` and
        ``(1 + confidence) / 2`` quantiles (numpy's default linear interpolation).

    Returns
    -------
    low, high : ndarray of float, shape ``samples.shape[1:]``

    Examples
    --------
    >>> low, high = percentile_interval(np.arange(5.0), 0.5)
    >>> float(low), float(high)
    (1.0, 3.0)
    """
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns give NaN
        low, high = np.nanquantile(samples, [tail, 1.0 - tail], axis=0)
    return np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)


def resample_cells(cells: NDArray[np.integer], n_boot: int, rng: np.random.Generator) -> IntArray:
    """Bootstrap the cell counts: ``n_boot`` draws of Multinomial(n, cells / n).

    Parameters
    ----------
    cells : ndarray of int, shape (n_groups, 4)
        Cell counts of the finest partition; ``n = cells.sum()``.
    n_boot : int
        Number of resamples.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int, shape (n_boot, n_groups, 4)
        Each resample has the same distribution as the cells of ``n`` rows drawn
        with replacement.

    Examples
    --------
    >>> draws = resample_cells(np.array([[5, 0, 0, 5]]), 3, np.random.default_rng(0))
    >>> draws.shape, draws.sum(axis=(1, 2)).tolist()
    ((3, 1, 4), [10, 10, 10])
    """
    flat = np.asarray(cells, dtype=np.int64).ravel()
    n = int(flat.sum())
    draws = rng.multinomial(n, flat / n, size=n_boot)
    return draws.reshape((n_boot, *np.shape(cells))).astype(np.int64, copy=False)


@dataclass(frozen=True)
class _RankedScores:
    """Rows sorted by (group, score) with their tie blocks, for weighted AUC."""

    order: NDArray[np.intp]
    y_sorted: FloatArray
    block: NDArray[np.intp]
    block_group: NDArray[np.intp]
    group_first_block: NDArray[np.intp]
    n_groups: int

    @classmethod
    def build(
        cls, y_true: NDArray[np.integer], scores: FloatArray, partition: Partition
    ) -> _RankedScores:
        order = np.lexsort((scores, partition.row_group))
        group = partition.row_group[order]
        score = scores[order]
        starts_block = np.ones(len(order), dtype=bool)
        starts_block[1:] = (group[1:] != group[:-1]) | (score[1:] != score[:-1])
        block = np.cumsum(starts_block) - 1
        block_group = group[starts_block]
        return cls(
            order=order,
            y_sorted=y_true[order].astype(np.float64),
            block=block,
            block_group=block_group,
            group_first_block=np.searchsorted(block_group, np.arange(partition.n_groups)),
            n_groups=partition.n_groups,
        )

    def auc(self, weights: NDArray[np.floating] | NDArray[np.integer]) -> FloatArray:
        """Weighted Mann-Whitney AUC per group (ties count one half), as roc_auc_score."""
        w = np.asarray(weights, dtype=np.float64)[self.order]
        n_blocks = len(self.block_group)
        pos = np.bincount(self.block, weights=w * self.y_sorted, minlength=n_blocks)
        neg = np.bincount(self.block, weights=w * (1.0 - self.y_sorted), minlength=n_blocks)
        neg_before = np.cumsum(neg) - neg
        neg_before = neg_before - neg_before[self.group_first_block][self.block_group]
        wins = np.bincount(
            self.block_group, weights=pos * (neg_before + 0.5 * neg), minlength=self.n_groups
        )
        n_pos = np.bincount(self.block_group, weights=pos, minlength=self.n_groups)
        n_neg = np.bincount(self.block_group, weights=neg, minlength=self.n_groups)
        pairs = n_pos * n_neg
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(pairs > 0, wins / pairs, np.nan)


def weighted_group_auc(
    y_true: NDArray[np.integer],
    scores: FloatArray,
    partition: Partition,
    weights: NDArray[np.floating] | NDArray[np.integer] | None = None,
) -> FloatArray:
    """ROC AUC per group with row weights; equals ``roc_auc_score`` for unit weights.

    Parameters
    ----------
    y_true : ndarray of int
    scores : ndarray of float
    partition : Partition
    weights : ndarray, optional
        Row multiplicities; ones when omitted.

    Returns
    -------
    ndarray of float, shape (n_groups,)
        NaN for a group with a single class.
    """
    w = np.ones(len(scores)) if weights is None else weights
    return _RankedScores.build(y_true, scores, partition).auc(w)


def resample_score_metrics(
    y_true: NDArray[np.integer],
    scores: FloatArray,
    partitions: Sequence[Partition],
    n_boot: int,
    rng: np.random.Generator,
) -> list[tuple[FloatArray, FloatArray]]:
    """Row bootstrap of AUC and calibration error for every partition.

    Each resample draws ``n`` row indices with replacement (shared by all
    partitions) and turns them into row multiplicities.

    Parameters
    ----------
    y_true : ndarray of int
    scores : ndarray of float in [0, 1]
    partitions : sequence of Partition
    n_boot : int
    rng : numpy.random.Generator

    Returns
    -------
    list of (auc, calibration_error)
        One pair per partition, each of shape (n_boot, n_groups).
    """
    n = len(y_true)
    ranked = [_RankedScores.build(y_true, scores, p) for p in partitions]
    out = [(np.empty((n_boot, p.n_groups)), np.empty((n_boot, p.n_groups))) for p in partitions]
    for b in range(n_boot):
        weights = np.bincount(rng.integers(0, n, size=n), minlength=n)
        for p, r, (auc, ece) in zip(partitions, ranked, out, strict=True):
            auc[b] = r.auc(weights)
            ece[b] = calibration_errors(y_true, scores, p.row_group, p.n_groups, weights)
    return out
