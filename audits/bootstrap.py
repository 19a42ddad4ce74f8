"""Seeded bootstrap resamples and percentile intervals.

Count metrics (selection rate, impact ratio, TPR, FPR and the summaries) depend on the
rows only through the ``group x y_true x y_pred`` cell counts of the finest partition.
Drawing ``n`` rows with replacement puts a Multinomial(n, counts / n) number of rows in
those cells, so :func:`resample_cells` draws the cells directly: each resample costs
O(cells), not O(rows), and coarser partitions are sums of the finest cells.

Score metrics (ROC AUC and calibration error by group, :func:`resample_score_metrics`;
the overall performance metrics, :func:`resample_performance`) need the rows. They run
a weighted bootstrap in which nothing is sorted or gathered per resample:

- **Layout, once.** For each partition the rows are laid out once: the negatives
  sorted by (group, score), then the positives sorted by (group, score). Every
  partition's layout has the same ``n_neg`` negatives first.
- **Weights, drawn in layout order.** A resample is a vector of row multiplicities,
  Multinomial(n, 1/n) over the ``n`` layout positions (:class:`Multiplicities`, the
  distribution of ``np.bincount(rng.integers(0, n, n))``). That is exactly the row
  bootstrap (``n`` rows drawn with replacement, total weight ``n``); Poisson(1)
  weights would only approximate it (random total) and numpy draws them about five
  times slower. The
  multiplicities are exchangeable, so the vector drawn position by position has the
  distribution of the multiplicities of the rows in any fixed order: no gather. The
  one vector serves every partition's layout, so the cumulative sums of negative and
  positive weights are computed once per resample and shared.
- **AUC** (Mann-Whitney, ties count one half, as ``roc_auc_score``): each positive's
  weight times the negative weight of its group below its score, read from the
  cumulative negative weights at an index fixed when the layout is built; positives
  that tie a negative add half the tied negative weight.
- **Calibration error**: the weighted residual ``w (y - score)`` summed over the runs of
  the finest layout that share (class, group, bin), then per (group, bin); coarser
  partitions add up the bin sums of their finest groups.
- **Overall performance**: average precision from the cumulative positive and negative
  weights above each positive's score, Brier score and log loss as dot products with
  per-row losses computed once.

Each partition's metrics are therefore jointly an exact row bootstrap, and so are the
overall performance metrics. Different partitions read the one vector through
different layouts (and a coarse partition's calibration error comes from the finest
layout), so their joint distribution across partitions is not that of a single row
resample; no reported figure uses it, since every interval is a per-metric percentile
interval. The count metrics and the performance metrics use their own streams.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from audits.groups import FloatArray, IntArray, Partition
from audits.report import Interval
from models.metrics import CALIBRATION_BINS, calibration_bins, performance

PERFORMANCE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "calibration_error")
PERFORMANCE_STREAM = 7  # the performance bootstrap's generator is seeded with [seed, 7]
LOG_LOSS_CLIP = 1e-15  # as models.metrics.performance clips before log_loss

MESSAGE_PERF_LABELS = "The 'y' parameter must be a 1-D array of the labels 0 and 1."
MESSAGE_PERF_SCORES = (
    "The 'scores' parameter must be a 1-D array of finite floats in [0, 1], as long as 'y'."
)
MESSAGE_PERF_N_BOOT = "The 'n_boot' parameter must be an int >= 0."
MESSAGE_PERF_CONFIDENCE = "The 'confidence' parameter must be a float in the open interval (0, 1)."
MESSAGE_WEIGHTS = "The 'weights' parameter must be a 1-D array of finite floats >= 0, one per row."

Weights = NDArray[np.floating] | NDArray[np.integer]


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


class Multiplicities:
    """Bootstrap resamples of ``n`` rows as multiplicities: Multinomial(n, 1/n).

    Drawn in two stages, which give exactly the same distribution as
    ``np.bincount(rng.integers(0, n, n), minlength=n)``: the number of draws landing
    in each block of ``BLOCK`` consecutive positions (a multinomial over the blocks,
    proportional to their sizes), then the positions within each block. Counting
    within a block that fits the CPU cache, from 16-bit positions, is about twice as
    fast as scattering ``n`` counts over the whole vector, and much faster when other
    processes share the cache.

    ``draw`` fills and returns the same buffer each time: use it before the next draw.

    Examples
    --------
    >>> w = Multiplicities(5).draw(np.random.default_rng(0))
    >>> len(w), int(w.sum())
    (5, 5)
    """

    BLOCK = 65_536  # at most 2**16: positions within a block are drawn as uint16

    def __init__(self, n: int) -> None:
        self.n = n
        edges = np.r_[np.arange(0, n, self.BLOCK), n]
        self._starts = edges[:-1].tolist()
        self._sizes = np.diff(edges).tolist()
        self._shares = np.diff(edges) / n if n else np.ones(0)
        self._buffer = np.zeros(n, dtype=np.int64)

    def draw(self, rng: np.random.Generator) -> IntArray:
        landed = rng.multinomial(self.n, self._shares).tolist()
        for start, size, count in zip(self._starts, self._sizes, landed, strict=True):
            self._buffer[start : start + size] = np.bincount(
                rng.integers(0, size, size=count, dtype=np.uint16), minlength=size
            )
        return self._buffer


# ---- layouts: built once per partition --------------------------------------------
@dataclass(frozen=True)
class _Layout:
    """One partition's rows: negatives by (group, score), then positives by (group, score).

    Positions ``[0, n_neg)`` hold the negatives, ``[n_neg, n)`` the positives; group
    ``g``'s negatives are ``neg_bounds[g]:neg_bounds[g + 1]`` of the negative part, its
    positives ``pos_bounds[g]:pos_bounds[g + 1]`` of the positive part.
    """

    rows: NDArray[np.intp]  # layout position -> row
    scores: FloatArray  # scores in layout order
    n_groups: int
    n_neg: int
    neg_bounds: NDArray[np.intp]
    pos_bounds: NDArray[np.intp]
    # per positive: negatives before the first negative of its group with a score >= its
    # own, counted from the start of the negative part (an index into its cumulative sum)
    below: NDArray[np.intp]
    # positives that tie negatives of their group, and the index past those negatives
    tied: NDArray[np.intp]
    tied_below: NDArray[np.intp]
    tied_upto: NDArray[np.intp]
    tied_group: NDArray[np.intp]

    @classmethod
    def build(
        cls,
        positive: NDArray[np.bool_],
        scores: FloatArray,
        by_score: NDArray[np.intp],
        row_group: NDArray[np.intp],
        n_groups: int,
    ) -> _Layout:
        # a stable sort of small keys (a radix sort) keeps the score order within a key
        small = 2 * n_groups <= np.iinfo(np.int16).max
        key = positive.astype(np.int64) * n_groups + row_group
        key_by_score = key[by_score].astype(np.int16 if small else np.int64)
        rows = by_score[np.argsort(key_by_score, kind="stable")]
        counts = np.bincount(key, minlength=2 * n_groups)
        neg_bounds = np.concatenate([[0], np.cumsum(counts[:n_groups])]).astype(np.intp)
        pos_bounds = np.concatenate([[0], np.cumsum(counts[n_groups:])]).astype(np.intp)
        n_neg = int(neg_bounds[-1])
        laid = scores[rows]
        neg_scores, pos_scores = laid[:n_neg], laid[n_neg:]
        below = np.empty(len(pos_scores), dtype=np.intp)
        upto = np.empty(len(pos_scores), dtype=np.intp)
        for g in range(n_groups):
            negs = neg_scores[neg_bounds[g] : neg_bounds[g + 1]]
            poss = pos_scores[pos_bounds[g] : pos_bounds[g + 1]]
            below[pos_bounds[g] : pos_bounds[g + 1]] = neg_bounds[g] + np.searchsorted(
                negs, poss, side="left"
            )
            upto[pos_bounds[g] : pos_bounds[g + 1]] = neg_bounds[g] + np.searchsorted(
                negs, poss, side="right"
            )
        tied = np.flatnonzero(upto > below)
        pos_group = np.repeat(np.arange(n_groups, dtype=np.intp), np.diff(pos_bounds))
        return cls(
            rows=rows,
            scores=laid,
            n_groups=n_groups,
            n_neg=n_neg,
            neg_bounds=neg_bounds,
            pos_bounds=pos_bounds,
            below=below,
            tied=tied,
            tied_below=below[tied],
            tied_upto=upto[tied],
            tied_group=pos_group[tied],
        )

    def group_of_position(self) -> NDArray[np.intp]:
        """Group of every layout position."""
        groups = np.arange(self.n_groups, dtype=np.intp)
        return np.concatenate(
            [
                np.repeat(groups, np.diff(self.neg_bounds)),
                np.repeat(groups, np.diff(self.pos_bounds)),
            ]
        )


@dataclass(frozen=True)
class _Cells:
    """Runs of the finest layout sharing (class, group, calibration bin), which tile it."""

    starts: NDArray[np.intp]
    cell: NDArray[np.intp]  # group * CALIBRATION_BINS + bin of each run
    residual: FloatArray  # y - score in layout order
    n_groups: int

    @classmethod
    def build(cls, y_true: NDArray[np.integer], scores: FloatArray, layout: _Layout) -> _Cells:
        bins = calibration_bins(layout.scores, CALIBRATION_BINS)
        positive = (np.arange(len(layout.rows)) >= layout.n_neg).astype(np.intp)
        cell = layout.group_of_position() * CALIBRATION_BINS + bins
        # (class, group, bin) never decreases along the layout, so runs are contiguous
        run_key = positive * (layout.n_groups * CALIBRATION_BINS) + cell
        starts = np.flatnonzero(np.r_[True, run_key[1:] != run_key[:-1]])
        return cls(
            starts=starts,
            cell=cell[starts],
            residual=(y_true[layout.rows] - layout.scores).astype(np.float64),
            n_groups=layout.n_groups,
        )


@dataclass(frozen=True)
class _Sums:
    """Weights in layout order with their cumulative sums over each class.

    ``neg[k]`` is the weight of the first ``k`` negatives of the layout, ``pos[k]`` of
    the first ``k`` positives. Integer weights (bootstrap multiplicities) stay int64:
    numpy's integer cumsum is several times faster than its float one, and the AUC's
    sums of products are then exact. ``as_float`` serves the sums with float terms.
    """

    weights: NDArray[Any]  # int64 for integer weights, else float64
    as_float: FloatArray
    neg: NDArray[Any]  # the dtype of ``weights``
    pos: NDArray[Any]

    @classmethod
    def of(cls, weights: Weights, n_neg: int) -> _Sums:
        exact = np.issubdtype(weights.dtype, np.integer)
        values = weights.astype(np.int64 if exact else np.float64, copy=False)
        return cls(
            weights=values,
            as_float=values.astype(np.float64, copy=False),
            neg=_cumulative(values[:n_neg]),
            pos=_cumulative(values[n_neg:]),
        )


def _dot(a: NDArray[Any], b: NDArray[Any]) -> float:
    """Inner product of two arrays of one dtype, without BLAS.

    OpenBLAS splits a long ``np.dot`` over threads, which on a busy 2-core machine
    waits milliseconds for the second thread; einsum's loop does not.
    """
    return float(np.einsum("i,i->", a, b))


def _cumulative(values: NDArray[Any]) -> NDArray[Any]:
    out = np.zeros(len(values) + 1, dtype=values.dtype)
    np.cumsum(values, out=out[1:])
    return out


# ---- weighted metrics of one layout -------------------------------------------------
def _class_weights(layout: _Layout, sums: _Sums) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Positive weight, negative weight and negative weight before each group."""
    nb, pb = layout.neg_bounds, layout.pos_bounds
    neg_start = sums.neg[nb[:-1]].astype(np.float64)
    n_neg = sums.neg[nb[1:]].astype(np.float64) - neg_start
    n_pos = (sums.pos[pb[1:]] - sums.pos[pb[:-1]]).astype(np.float64)
    return n_pos, n_neg, neg_start


def _auc(layout: _Layout, sums: _Sums, below: NDArray[Any]) -> FloatArray:
    """Weighted Mann-Whitney AUC per group; ``below`` is ``sums.neg[layout.below]``."""
    pos_weights = sums.weights[layout.n_neg :]
    pb = layout.pos_bounds
    wins = np.array([_dot(pos_weights[a:b], below[a:b]) for a, b in pairwise(pb)])
    n_pos, n_neg, neg_start = _class_weights(layout, sums)
    wins -= neg_start * n_pos  # ``below`` counted the negatives of the earlier groups
    if len(layout.tied):
        tied_neg = sums.neg[layout.tied_upto] - sums.neg[layout.tied_below]
        wins += 0.5 * np.bincount(
            layout.tied_group,
            weights=pos_weights[layout.tied] * tied_neg,
            minlength=layout.n_groups,
        )
    pairs = n_pos * n_neg
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, wins / pairs, np.nan)


def _bin_residuals(cells: _Cells, sums: _Sums) -> FloatArray:
    """``sum w (y - score)`` per (finest group, bin), shape (groups, bins)."""
    runs = np.add.reduceat(sums.as_float * cells.residual, cells.starts)
    size = cells.n_groups * CALIBRATION_BINS
    residual = np.bincount(cells.cell, weights=runs, minlength=size).astype(np.float64)
    return residual.reshape(cells.n_groups, CALIBRATION_BINS)


def _calibration(
    residual: FloatArray, weight: FloatArray, from_finest: NDArray[np.intp], n_groups: int
) -> FloatArray:
    """ECE per coarse group from the finest groups' bin residuals and weights."""
    gap = np.zeros((n_groups, CALIBRATION_BINS))
    np.add.at(gap, from_finest, residual)
    size = np.bincount(from_finest, weights=weight, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(size > 0, np.abs(gap).sum(axis=1) / size, np.nan)


# ---- group score metrics (AUC and calibration error by group) ------------------------
class _GroupScoreTable:
    """The layouts of every partition (the finest last) and the finest one's bin runs."""

    def __init__(
        self, y_true: NDArray[np.integer], scores: FloatArray, partitions: Sequence[Partition]
    ) -> None:
        positive = np.asarray(y_true) == 1
        by_score = np.argsort(scores, kind="stable")
        self.partitions = list(partitions)
        self.layouts = [
            _Layout.build(positive, scores, by_score, p.row_group, p.n_groups)
            for p in self.partitions
        ]
        self.cells = _Cells.build(np.asarray(y_true), scores, self.layouts[-1])
        self.n_rows = len(scores)
        self.n_neg = self.layouts[-1].n_neg

    def metrics(self, sums: Sequence[_Sums]) -> list[tuple[FloatArray, FloatArray]]:
        """(AUC, calibration error) per partition; ``sums[i]`` is in layout ``i``'s order."""
        finest = self.layouts[-1]
        residual = _bin_residuals(self.cells, sums[-1])
        n_pos, n_neg, _ = _class_weights(finest, sums[-1])
        out = []
        for partition, layout, layout_sums in zip(self.partitions, self.layouts, sums, strict=True):
            below = layout_sums.neg[layout.below]
            auc = _auc(layout, layout_sums, below)
            ece = _calibration(residual, n_pos + n_neg, partition.from_finest, partition.n_groups)
            out.append((auc, ece))
        return out


def weighted_score_metrics(
    y_true: NDArray[np.integer],
    scores: FloatArray,
    partitions: Sequence[Partition],
    weights: Weights | None = None,
) -> list[tuple[FloatArray, FloatArray]]:
    """ROC AUC and calibration error per group with row weights, for every partition.

    With integer weights each metric equals the unweighted one (``roc_auc_score``,
    :func:`audits.groups.calibration_errors`) on the rows repeated that many times.
    This is the computation the bootstrap runs, with the weights gathered into each
    layout's order.

    Parameters
    ----------
    y_true : ndarray of int
    scores : ndarray of float in [0, 1]
    partitions : sequence of Partition
        The finest last, as :func:`audits.groups.partition_rows` returns them.
    weights : ndarray, optional
        Row weights (non-negative); ones when omitted.

    Returns
    -------
    list of (auc, calibration_error)
        One pair per partition, each of shape (n_groups,); NaN where undefined.
    """
    table = _GroupScoreTable(y_true, scores, partitions)
    w = _row_weights(weights, len(scores))
    return table.metrics([_Sums.of(w[layout.rows], layout.n_neg) for layout in table.layouts])


def weighted_group_auc(
    y_true: NDArray[np.integer],
    scores: FloatArray,
    partition: Partition,
    weights: Weights | None = None,
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
    positive = np.asarray(y_true) == 1
    layout = _Layout.build(
        positive, scores, np.argsort(scores, kind="stable"), partition.row_group, partition.n_groups
    )
    sums = _Sums.of(_row_weights(weights, len(scores))[layout.rows], layout.n_neg)
    return _auc(layout, sums, sums.neg[layout.below])


def resample_score_metrics(
    y_true: NDArray[np.integer],
    scores: FloatArray,
    partitions: Sequence[Partition],
    n_boot: int,
    rng: np.random.Generator,
) -> list[tuple[FloatArray, FloatArray]]:
    """Weighted bootstrap of AUC and calibration error for every partition.

    Each resample draws one Multinomial(n, 1/n) multiplicity vector in layout order
    (see the module notes) and reads every partition's metrics from it.

    Parameters
    ----------
    y_true : ndarray of int
    scores : ndarray of float in [0, 1]
    partitions : sequence of Partition
        The finest last.
    n_boot : int
    rng : numpy.random.Generator

    Returns
    -------
    list of (auc, calibration_error)
        One pair per partition, each of shape (n_boot, n_groups).
    """
    table = _GroupScoreTable(y_true, scores, partitions)
    draws = Multiplicities(table.n_rows)
    out = [(np.empty((n_boot, p.n_groups)), np.empty((n_boot, p.n_groups))) for p in partitions]
    for b in range(n_boot):
        sums = _Sums.of(draws.draw(rng), table.n_neg)
        for (auc, ece), (auc_b, ece_b) in zip(
            out, table.metrics([sums] * len(table.layouts)), strict=True
        ):
            auc[b], ece[b] = auc_b, ece_b
    return out


# ---- overall performance -------------------------------------------------------------
class _PerformanceTable:
    """All rows as one group, with the per-row losses and tie indices of the metrics."""

    def __init__(self, y: NDArray[np.integer], scores: FloatArray) -> None:
        positive = y == 1
        self.layout = _Layout.build(
            positive,
            scores,
            np.argsort(scores, kind="stable"),
            np.zeros(len(y), dtype=np.intp),
            1,
        )
        self.cells = _Cells.build(y, scores, self.layout)
        laid_y = y[self.layout.rows].astype(np.float64)
        laid = self.layout.scores
        clipped = np.clip(laid, LOG_LOSS_CLIP, 1.0 - LOG_LOSS_CLIP)
        self.squared_error = (laid - laid_y) ** 2
        self.log_loss = -np.where(laid_y == 1.0, np.log(clipped), np.log(1.0 - clipped))
        pos_scores = laid[self.layout.n_neg :]
        # positives after the first of their tie block, and that first positive
        first = np.searchsorted(pos_scores, pos_scores, side="left")
        self.tied_later = np.flatnonzero(first != np.arange(len(first)))
        self.tied_first = first[self.tied_later]
        self.n_rows = len(y)

    def metrics(self, sums: _Sums) -> FloatArray:
        """The metrics of :data:`PERFORMANCE_METRICS` under the weights of ``sums``."""
        layout = self.layout
        n_pos, n_neg = float(sums.pos[-1]), float(sums.neg[-1])
        if n_pos == 0 or n_neg == 0:
            return np.full(len(PERFORMANCE_METRICS), np.nan)
        total = n_pos + n_neg
        below = sums.neg[layout.below]
        auc = float(_auc(layout, sums, below)[0])
        # average precision: sum over positives of w * precision at the positive's score,
        # where precision counts every row scored at least as high
        # positive weight at or above each positive's score; a tie block counts from its first
        true_pos = sums.pos[-1] - sums.pos[:-1]
        true_pos[self.tied_later] = sums.pos[-1] - sums.pos[self.tied_first]
        flagged = true_pos + (sums.neg[-1] - below)
        precision = np.divide(
            true_pos, flagged, out=np.zeros(len(true_pos)), where=flagged > 0, dtype=np.float64
        )
        pr_auc = _dot(sums.as_float[layout.n_neg :], precision) / n_pos
        brier = _dot(sums.as_float, self.squared_error) / total
        log_loss = _dot(sums.as_float, self.log_loss) / total
        residual = _bin_residuals(self.cells, sums)
        ece = float(np.abs(residual).sum()) / total
        return np.array([auc, pr_auc, brier, log_loss, ece])


def weighted_performance(
    y: ArrayLike, scores: ArrayLike, weights: Weights | None = None
) -> dict[str, float]:
    """The metrics of :func:`models.metrics.performance` with row weights.

    With integer weights each metric equals scikit-learn's (``roc_auc_score``,
    ``average_precision_score``, ``brier_score_loss``, ``log_loss`` on scores clipped
    to ``[1e-15, 1 - 1e-15]``) and :func:`models.metrics.expected_calibration_error`
    on the rows repeated that many times. NaN when the weighted rows hold one class.

    Examples
    --------
    >>> metrics = weighted_performance([0, 1, 1], [0.2, 0.6, 0.4], [2, 1, 0])
    >>> metrics["roc_auc"], round(metrics["brier"], 4)
    (1.0, 0.08)
    """
    y_array, score_array = _performance_input(y, scores)
    table = _PerformanceTable(y_array, score_array)
    w = _row_weights(weights, len(score_array))[table.layout.rows]
    values = table.metrics(_Sums.of(w, table.layout.n_neg))
    return dict(zip(PERFORMANCE_METRICS, values.tolist(), strict=True))


def resample_performance(
    y: ArrayLike, scores: ArrayLike, n_boot: int, rng: np.random.Generator
) -> FloatArray:
    """Weighted bootstrap of the performance metrics.

    Returns
    -------
    ndarray of float, shape (n_boot, 5)
        Columns in the order of :data:`PERFORMANCE_METRICS`; a resample that drew a
        single class is all NaN.
    """
    y_array, score_array = _performance_input(y, scores)
    table = _PerformanceTable(y_array, score_array)
    draws = Multiplicities(table.n_rows)
    out = np.empty((n_boot, len(PERFORMANCE_METRICS)))
    for b in range(n_boot):
        out[b] = table.metrics(_Sums.of(draws.draw(rng), table.layout.n_neg))
    return out


def performance_with_intervals(
    y: ArrayLike, scores: ArrayLike, n_boot: int, confidence: float, seed: int
) -> dict[str, Interval]:
    """Performance metrics with seeded weighted-bootstrap percentile intervals.

    The point estimates are :func:`models.metrics.performance`'s. The intervals are
    percentile intervals of :func:`resample_performance` with the generator
    ``np.random.default_rng([seed, 7])``; resamples that drew a single class are left
    out, and a metric without any resample keeps no interval.

    Parameters
    ----------
    y : array-like of {0, 1}
    scores : array-like of float in [0, 1]
    n_boot : int
        Resamples; 0 gives no intervals.
    confidence : float
        In (0, 1).
    seed : int

    Returns
    -------
    dict of str to Interval
        Keyed as :func:`models.metrics.performance` (``roc_auc``, ``pr_auc``,
        ``brier``, ``log_loss``, ``calibration_error``).
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 0:
        raise ValueError(f"{MESSAGE_PERF_N_BOOT} Got {n_boot!r} instead.")
    if (
        isinstance(confidence, bool)
        or not isinstance(confidence, numbers.Real)
        or not 0 < confidence < 1
    ):
        raise ValueError(f"{MESSAGE_PERF_CONFIDENCE} Got {confidence!r} instead.")
    y_array, score_array = _performance_input(y, scores)
    point = performance(y_array, score_array)
    samples = resample_performance(
        y_array, score_array, int(n_boot), np.random.default_rng([seed, PERFORMANCE_STREAM])
    )
    low = high = np.full(len(PERFORMANCE_METRICS), np.nan)
    if n_boot > 0:
        low, high = percentile_interval(samples, confidence)
    out: dict[str, Interval] = {}
    for index, name in enumerate(PERFORMANCE_METRICS):
        if np.isnan(low[index]):
            out[name] = Interval(value=point[name])
        else:
            out[name] = Interval(
                value=point[name], ci_low=float(low[index]), ci_high=float(high[index])
            )
    return out


def _performance_input(y: ArrayLike, scores: ArrayLike) -> tuple[IntArray, FloatArray]:
    labels = np.asarray(y)
    if (
        labels.ndim != 1
        or labels.dtype.kind not in "biuf"
        or not ((labels == 0) | (labels == 1)).all()
    ):
        raise ValueError(f"{MESSAGE_PERF_LABELS} Got {_preview(labels)} instead.")
    values = np.asarray(scores)
    if values.ndim != 1 or len(values) != len(labels) or values.dtype.kind not in "iuf":
        raise ValueError(
            f"{MESSAGE_PERF_SCORES} Got shape {values.shape} and dtype {values.dtype} "
            f"for {len(labels)} labels instead."
        )
    floats = values.astype(np.float64)
    bad = ~(np.isfinite(floats) & (floats >= 0) & (floats <= 1))
    if bad.any():
        raise ValueError(f"{MESSAGE_PERF_SCORES} Got {floats[bad][:5].tolist()!r} instead.")
    return labels.astype(np.int64), floats


def _row_weights(weights: Weights | None, n_rows: int) -> Weights:
    if weights is None:
        return np.ones(n_rows, dtype=np.int64)
    w: NDArray[Any] = np.asarray(weights)
    if w.shape != (n_rows,) or w.dtype.kind not in "iuf" or not (np.isfinite(w) & (w >= 0)).all():
        raise ValueError(f"{MESSAGE_WEIGHTS} Got {_preview(w)} for {n_rows} rows instead.")
    return w


def _preview(values: NDArray[np.generic]) -> str:
    if values.ndim != 1:
        return f"shape {values.shape}"
    return f"{values[:5].tolist()!r} (dtype {values.dtype}, {len(values)} values)"
