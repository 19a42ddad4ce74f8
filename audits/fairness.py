"""Group fairness metrics with bootstrap intervals and corrected significance tests.

:func:`evaluate_fairness` reports, for each sensitive attribute and for the
intersection of all of them, every group with its confusion counts, LL144 selection
rate and impact ratio, TPR, FPR and (with scores) ROC AUC and calibration error, and
the fairlearn disparity summaries. It covers R12-R14.

Decisions
---------
- Groups below ``min_share`` of the rows are reported (counts, rates, intervals) but
  left out of the impact ratios, the summaries and the significance tests, as LL144
  allows. The summaries therefore equal fairlearn's on the included groups; with
  ``min_share=0`` they equal fairlearn's on all groups.
- Groups with fewer than ``min_group_size`` rows are flagged ``insufficient``; a
  summary is ``insufficient`` when one of its groups is, or when a rate it needs is
  undefined for one of its groups (a group without positives has no TPR; fairlearn
  would count it as 0, Docket reports NaN, see :mod:`audits.groups`).
- Intervals are seeded percentile bootstraps (:mod:`audits.bootstrap`). Count
  metrics and score metrics use independent streams spawned from ``seed``, so
  switching ``score_metrics`` leaves the count intervals unchanged. Score metrics
  use a weighted row bootstrap over rows sorted once (no per-resample sort or
  gather); each partition's metrics are an exact row bootstrap, and each interval
  is a per-metric percentile interval. Percentile
  intervals of max/min statistics (the differences) are biased upward when groups
  are close: the point estimate may then fall below the interval.
- Each included group's selection rate is tested against the reference (highest
  rate) group with a pooled two-sided two-proportion z-test; the p-values of all
  partitions are corrected together (Holm by default, or Bonferroni).

The result types (:class:`FairnessResult`, :class:`AttributeResult`, :class:`GroupRow`,
:class:`Summary`) are part of the report's data and live in :mod:`audits.report`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from audits.bootstrap import percentile_interval, resample_cells, resample_score_metrics
from audits.groups import (
    CELL_FN,
    CELL_FP,
    CELL_TN,
    CELL_TP,
    MESSAGE_LENGTH_MISMATCH,
    MESSAGE_NOT_1D,
    SUMMARY_NAMES,
    FloatArray,
    IntArray,
    Partition,
    aggregate_cells,
    calibration_errors,
    cell_counts,
    false_positive_rates,
    group_auc,
    group_sizes,
    impact_ratios,
    partition_rows,
    selection_rates,
    summaries,
    summary_rates_defined,
    true_positive_rates,
)
from audits.report import (
    CORRECTIONS,
    AttributeResult,
    Correction,
    FairnessResult,
    GroupRow,
    Summary,
)

MESSAGE_EMPTY = "The 'y_true' parameter must hold at least one row."
MESSAGE_NOT_BINARY = "must hold only the labels 0 and 1."
MESSAGE_SCORES_RANGE = "The 'scores' parameter must hold finite floats in [0, 1]."
MESSAGE_CORRECTION = "The 'correction' parameter must be a str among {'holm', 'bonferroni'}."
MESSAGE_CONFIDENCE = "The 'confidence' parameter must be a float in the open interval (0, 1)."
MESSAGE_N_BOOT = "The 'n_boot' parameter must be an int >= 0."
MESSAGE_MIN_SHARE = "The 'min_share' parameter must be a float in [0, 1)."
MESSAGE_MIN_GROUP_SIZE = "The 'min_group_size' parameter must be an int >= 1."
MESSAGE_P_VALUES = "The 'p_values' parameter must hold floats in [0, 1]."


def evaluate_fairness(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sensitive: Mapping[str, ArrayLike],
    scores: ArrayLike | None = None,
    *,
    min_group_size: int = 30,
    min_share: float = 0.02,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    correction: Correction = "holm",
    score_metrics: bool = True,
) -> FairnessResult:
    """Group metrics, summaries, intervals and significance for each attribute.

    Parameters
    ----------
    y_true : array-like of {0, 1}
        Observed outcomes.
    y_pred : array-like of {0, 1}
        Decisions; 1 is the favourable decision.
    sensitive : mapping of str to array-like
        Attribute name to one group label per row. With two or more attributes the
        full intersection is reported too.
    scores : array-like of float in [0, 1], optional
        Model scores, for ROC AUC and calibration error by group.
    min_group_size : int, default 30
        Groups with fewer rows are flagged ``insufficient``.
    min_share : float, default 0.02
        Groups with a smaller share of the rows are left out of impact ratios,
        summaries and significance tests (still reported).
    n_boot : int, default 200
        Bootstrap resamples; 0 leaves the intervals empty.
    confidence : float, default 0.95
        Coverage of the percentile intervals.
    seed : int, default 0
        Seed of the bootstrap; the same seed gives the same intervals.
    correction : {"holm", "bonferroni"}, default "holm"
        Multiple-comparison correction over all groups tested.
    score_metrics : bool, default True
        Compute AUC and calibration error (and their weighted row bootstrap) when
        ``scores`` is given.

    Returns
    -------
    FairnessResult

    Examples
    --------
    >>> result = evaluate_fairness(
    ...     [1, 0, 1, 0, 1, 0], [1, 1, 0, 0, 1, 0], {"sex": ["f", "f", "f", "m", "m", "m"]},
    ...     min_group_size=1, n_boot=0,
    ... )
    >>> result.attribute("sex").group("f").selection_rate
    0.6666666666666666
    >>> result.attribute("sex").summary("demographic_parity_ratio").value
    0.5
    """
    _check_parameters(min_group_size, min_share, n_boot, confidence, correction)
    truth = _binary("y_true", y_true, None)
    n_rows = len(truth)
    decisions = _binary("y_pred", y_pred, n_rows)
    score_array = None if scores is None else _scores(scores, n_rows)
    partitions = partition_rows(sensitive, n_rows)

    finest = partitions[-1]
    finest_cells = cell_counts(truth, decisions, finest.row_group, finest.n_groups)
    rng_cells, rng_rows = np.random.default_rng(seed).spawn(2)
    finest_draws = resample_cells(finest_cells, n_boot, rng_cells)

    with_scores = score_array is not None and score_metrics
    score_draws: list[tuple[FloatArray, FloatArray]] | None = None
    if score_array is not None and with_scores and n_boot > 0:
        score_draws = resample_score_metrics(truth, score_array, partitions, n_boot, rng_rows)

    drafts = []
    for index, partition in enumerate(partitions):
        score_values: dict[str, FloatArray] = {}
        score_samples: dict[str, FloatArray] = {}
        if score_array is not None and with_scores:
            score_values = {
                "auc": group_auc(truth, score_array, partition),
                "calibration_error": calibration_errors(
                    truth, score_array, partition.row_group, partition.n_groups
                ),
            }
        if score_draws is not None:
            score_samples = dict(zip(("auc", "calibration_error"), score_draws[index], strict=True))
        drafts.append(
            _PartitionDraft(
                partition,
                aggregate_cells(finest_cells, partition.from_finest, partition.n_groups),
                aggregate_cells(finest_draws, partition.from_finest, partition.n_groups),
                score_values,
                score_samples,
                min_group_size=min_group_size,
                min_share=min_share,
                confidence=confidence,
            )
        )

    raw = np.concatenate([d.p_values for d in drafts])
    tested = ~np.isnan(raw)
    adjusted = np.full_like(raw, np.nan)
    adjusted[tested] = adjust_p_values(raw[tested], correction)
    offsets = np.cumsum([0] + [len(d.p_values) for d in drafts])

    return FairnessResult(
        n=n_rows,
        min_group_size=min_group_size,
        min_share=min_share,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        correction=correction,
        score_metrics=with_scores,
        attributes=[
            d.result(adjusted[start:stop])
            for d, start, stop in zip(drafts, offsets[:-1], offsets[1:], strict=True)
        ],
    )


class _PartitionDraft:
    """Point estimates and intervals of one partition, before p-value correction."""

    def __init__(
        self,
        partition: Partition,
        cells: IntArray,
        draws: IntArray,
        score_values: dict[str, FloatArray],
        score_samples: dict[str, FloatArray],
        *,
        min_group_size: int,
        min_share: float,
        confidence: float,
    ) -> None:
        self.partition = partition
        self.cells = cells
        n = group_sizes(cells)
        self.share = n / n.sum()
        self.included = self.share >= min_share
        self.insufficient = n < min_group_size
        self.min_share = min_share

        rates = selection_rates(cells)
        self.metrics: dict[str, FloatArray] = {
            "selection_rate": rates,
            "impact_ratio": impact_ratios(rates, self.included),
            "tpr": true_positive_rates(cells),
            "fpr": false_positive_rates(cells),
        }
        samples: dict[str, FloatArray] = {}
        if len(draws):
            draw_rates = selection_rates(draws)
            samples = {
                "selection_rate": draw_rates,
                "impact_ratio": impact_ratios(draw_rates, self.included),
                "tpr": true_positive_rates(draws),
                "fpr": false_positive_rates(draws),
            }
        self.metrics.update(score_values)
        samples.update(score_samples)
        self.intervals = {
            name: percentile_interval(values, confidence) for name, values in samples.items()
        }

        self.summary_values = summaries(cells, self.included)
        self.summary_intervals = (
            {
                name: percentile_interval(values, confidence)
                for name, values in summaries(draws, self.included).items()
            }
            if len(draws)
            else {}
        )
        self.summary_defined = summary_rates_defined(cells)

        self.reference: int | None = None
        self.p_values = np.full(partition.n_groups, np.nan)
        if self.included.any():
            self.reference = int(np.flatnonzero(self.included)[np.argmax(rates[self.included])])
            selected = cells[:, CELL_FP] + cells[:, CELL_TP]
            others = self.included.copy()
            others[self.reference] = False
            self.p_values[others] = two_proportion_p_values(
                selected[others], n[others], selected[self.reference], n[self.reference]
            )

    def result(self, adjusted: FloatArray) -> AttributeResult:
        rows = [self._row(g, adjusted[g]) for g in range(self.partition.n_groups)]
        return AttributeResult(
            attribute=self.partition.name,
            attributes=list(self.partition.attributes),
            reference_group=None
            if self.reference is None
            else self.partition.labels[self.reference],
            groups=rows,
            summaries=[self._summary(name) for name in SUMMARY_NAMES],
        )

    def _row(self, g: int, p_adjusted: float) -> GroupRow:
        fields: dict[str, Any] = {name: values[g] for name, values in self.metrics.items()}
        for name, (low, high) in self.intervals.items():
            fields[f"{name}_ci_low"] = low[g]
            fields[f"{name}_ci_high"] = high[g]
        included = bool(self.included[g])
        cells = self.cells[g]
        return GroupRow(
            group=self.partition.labels[g],
            n=int(cells.sum()),
            share=float(self.share[g]),
            tp=int(cells[CELL_TP]),
            fp=int(cells[CELL_FP]),
            tn=int(cells[CELL_TN]),
            fn=int(cells[CELL_FN]),
            included_in_ratios=included,
            excluded_reason=None
            if included
            else (
                f"share {self.share[g]:.2%} is below min_share {self.min_share:.2%}: "
                "reported, but left out of impact ratios, summaries and significance tests"
            ),
            insufficient=bool(self.insufficient[g]),
            p_value=self.p_values[g],
            p_value_adjusted=p_adjusted,
            **fields,
        )

    def _summary(self, name: str) -> Summary:
        value = float(self.summary_values[name])
        low = high = None
        if name in self.summary_intervals:
            low, high = (float(bound) for bound in self.summary_intervals[name])
        involved = self.included
        insufficient = (
            bool(self.insufficient[involved].any())
            or not bool(self.summary_defined[name][involved].all())
            or math.isnan(value)
        )
        return Summary(
            name=name,
            value=value,
            ci_low=low,
            ci_high=high,
            groups_compared=int(involved.sum()),
            insufficient=insufficient,
        )


def two_proportion_p_values(
    successes: NDArray[np.integer],
    trials: NDArray[np.integer],
    reference_successes: int | np.integer,
    reference_trials: int | np.integer,
) -> FloatArray:
    """Two-sided pooled two-proportion z-test of each group against a reference.

    ``z = (p1 - p0) / sqrt(p (1 - p) (1 / n1 + 1 / n0))`` with the pooled rate ``p``;
    the p-value is ``2 * (1 - Phi(|z|))``, and 1 when both rates are 0 or both 1.

    Parameters
    ----------
    successes, trials : ndarray of int
        Favourable decisions and rows of each tested group.
    reference_successes, reference_trials : int
        The same for the reference group.

    Returns
    -------
    ndarray of float

    Examples
    --------
    >>> two_proportion_p_values(np.array([50]), np.array([100]), 50, 100)
    array([1.])
    """
    x1 = np.asarray(successes, dtype=np.float64)
    n1 = np.asarray(trials, dtype=np.float64)
    pooled = (x1 + reference_successes) / (n1 + reference_trials)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / reference_trials))
    diff = x1 / n1 - reference_successes / reference_trials
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, np.abs(diff) / se, 0.0)
    return np.asarray(2.0 * norm.sf(z), dtype=np.float64)


def adjust_p_values(p_values: ArrayLike, correction: Correction = "holm") -> FloatArray:
    """Family-wise error correction of p-values.

    Holm: sort ascending, multiply the ``i``-th smallest (from 0) by ``m - i``, take
    the running maximum and cap at 1. Bonferroni: multiply by ``m`` and cap at 1.

    Parameters
    ----------
    p_values : array-like of float in [0, 1]
    correction : {"holm", "bonferroni"}, default "holm"

    Returns
    -------
    ndarray of float
        Adjusted p-values in the input order; each is >= its raw value.

    Examples
    --------
    >>> adjust_p_values([0.01, 0.04, 0.03]).tolist()
    [0.03, 0.06, 0.06]
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"{MESSAGE_CORRECTION} Got {correction!r} instead.")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or ((p < 0) | (p > 1) | np.isnan(p)).any():
        raise ValueError(f"{MESSAGE_P_VALUES} Got {p.tolist()!r} instead.")
    m = len(p)
    if correction == "bonferroni":
        return np.minimum(1.0, p * m)
    order = np.argsort(p, kind="stable")
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(1.0, stepped)
    return adjusted


def _check_parameters(
    min_group_size: int, min_share: float, n_boot: int, confidence: float, correction: str
) -> None:
    if (
        isinstance(min_group_size, bool)
        or not isinstance(min_group_size, int)
        or min_group_size < 1
    ):
        raise ValueError(f"{MESSAGE_MIN_GROUP_SIZE} Got {min_group_size!r} instead.")
    if not isinstance(min_share, int | float) or not 0 <= min_share < 1:
        raise ValueError(f"{MESSAGE_MIN_SHARE} Got {min_share!r} instead.")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 0:
        raise ValueError(f"{MESSAGE_N_BOOT} Got {n_boot!r} instead.")
    if not isinstance(confidence, int | float) or not 0 < confidence < 1:
        raise ValueError(f"{MESSAGE_CONFIDENCE} Got {confidence!r} instead.")
    if correction not in CORRECTIONS:
        raise ValueError(f"{MESSAGE_CORRECTION} Got {correction!r} instead.")


def _binary(name: str, values: ArrayLike, n_rows: int | None) -> NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"The '{name}' parameter {MESSAGE_NOT_1D} Got shape {array.shape} instead."
        )
    if n_rows is None and len(array) == 0:
        raise ValueError(f"{MESSAGE_EMPTY} Got 0 rows instead.")
    if n_rows is not None and len(array) != n_rows:
        raise ValueError(
            f"The '{name}' parameter {MESSAGE_LENGTH_MISMATCH} "
            f"Got {len(array)} and {n_rows} instead."
        )
    if array.dtype == np.bool_:
        return array.astype(np.int64)
    if array.dtype.kind in "iuf":
        valid = (array == 0) | (array == 1)
    else:
        valid = np.array([v in (0, 1) and not isinstance(v, str) for v in array.tolist()])
    if not valid.all():
        bad = sorted({repr(v) for v in array[~valid][:1000].tolist()})[:5]
        raise ValueError(
            f"The '{name}' parameter {MESSAGE_NOT_BINARY} Got {', '.join(bad)} instead."
        )
    return array.astype(np.int64)


def _scores(values: ArrayLike, n_rows: int) -> FloatArray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"The 'scores' parameter {MESSAGE_NOT_1D} Got shape {array.shape} instead."
        )
    if len(array) != n_rows:
        raise ValueError(
            f"The 'scores' parameter {MESSAGE_LENGTH_MISMATCH} "
            f"Got {len(array)} and {n_rows} instead."
        )
    if array.dtype.kind not in "iuf":
        raise ValueError(f"{MESSAGE_SCORES_RANGE} Got dtype {array.dtype} instead.")
    floats = array.astype(np.float64)
    bad = ~(np.isfinite(floats) & (floats >= 0) & (floats <= 1))
    if bad.any():
        raise ValueError(f"{MESSAGE_SCORES_RANGE} Got {floats[bad][:5].tolist()!r} instead.")
    return floats
