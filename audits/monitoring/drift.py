"""Drift of each feature and of the score against the training data, per window.

Population stability index
--------------------------
``PSI = sum_b (a_b - e_b) * ln(a_b / e_b)`` over the bins ``b``, with ``e_b`` the
reference's share of rows in the bin and ``a_b`` the window's. Shares are floored at
:data:`PSI_FLOOR` first, so an empty bin adds a large but finite term; each term is
then >= 0 (``a - e`` and ``ln(a / e)`` have the same sign), and a sample against
itself gives exactly 0.

Bins come from the reference only:

- numeric: cut at the reference's quantiles ``1/bins, ..., (bins-1)/bins`` (repeated
  cut points merged), the outer bins open; a bin is ``[cut_i, cut_{i+1})``;
- categorical: one bin per category the reference holds, one for categories it never
  held (``(unseen)``, their rows also counted), and one for missing values;
- missing values always have their own bin.

Two-sample test
---------------
Kolmogorov-Smirnov (``scipy.stats.ks_2samp``) on the non-missing values of a numeric
column or the score; chi-square on the 2 x bins table of a categorical column
(``scipy.stats.chi2_contingency``, bins empty in both samples dropped). No test
(``None``) when a sample is empty or the table has fewer than two bins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2_contingency, ks_2samp

from audits.monitoring.frames import (
    DECIDED_AT,
    SCORE,
    FeatureKind,
    MonitoringInputError,
    Window,
    require_columns,
    window_codes,
)
from models.spec import WindowKind

PSI_FLOOR = 1e-4
MISSING_BIN = "(missing)"
UNSEEN_BIN = "(unseen)"

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def population_stability_index(expected: ArrayLike, actual: ArrayLike) -> float:
    """PSI of two count (or share) vectors over the same bins.

    Examples
    --------
    >>> round(population_stability_index([50, 50], [25, 75]), 6)
    0.274653
    """
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    if e.shape != a.shape or e.ndim != 1 or len(e) == 0:
        raise MonitoringInputError(
            f"PSI needs two 1-D count vectors over the same bins (got shapes {e.shape}, {a.shape})"
        )
    if (e < 0).any() or (a < 0).any() or e.sum() <= 0 or a.sum() <= 0:
        raise MonitoringInputError(
            "PSI needs non-negative counts with a positive total on each side"
            f" (got totals {e.sum()} and {a.sum()})"
        )
    e_share = np.maximum(e / e.sum(), PSI_FLOOR)
    a_share = np.maximum(a / a.sum(), PSI_FLOOR)
    return float(np.sum((a_share - e_share) * np.log(a_share / e_share)))


@dataclass(frozen=True)
class ReferenceBins:
    """How one column is binned, fixed from the reference sample."""

    kind: FeatureKind
    cuts: FloatArray
    categories: tuple[str, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        """One label per bin, the missing bin last."""
        if self.kind == "categorical":
            return (*self.categories, UNSEEN_BIN, MISSING_BIN)
        edges = ["-inf", *(f"{c:g}" for c in self.cuts), "inf"]
        return (*(f"[{a}, {b})" for a, b in pairwise(edges)), MISSING_BIN)

    @property
    def n_bins(self) -> int:
        return len(self.labels)

    def assign(self, values: pd.Series) -> IntArray:
        """The bin of every value; missing values get the last bin."""
        missing = values.isna().to_numpy()
        if self.kind == "numeric":
            numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
            unreadable = np.isnan(numbers) & ~missing
            if unreadable.any():
                raise MonitoringInputError(
                    f"column {values.name!r} is numeric in the spec but holds"
                    f" {values[unreadable].head(3).tolist()!r} ({int(unreadable.sum())} rows)"
                )
            bins = np.searchsorted(self.cuts, numbers, side="right").astype(np.int64)
        else:
            codes = pd.Categorical(values.astype(str), categories=list(self.categories)).codes
            bins = np.where(codes < 0, len(self.categories), codes).astype(np.int64)
        bins[missing] = self.n_bins - 1
        return bins


def reference_bins(values: pd.Series, kind: FeatureKind, bins: int = 10) -> ReferenceBins:
    """Bins of a column from the reference sample (see the module notes)."""
    present = values.dropna()
    if kind == "numeric":
        numbers = pd.to_numeric(present, errors="coerce")
        if bool(numbers.isna().any()) or len(numbers) == 0:
            raise MonitoringInputError(
                f"reference column {values.name!r} is numeric and needs at least one number"
                f" (got {len(present)} non-missing values, dtype {values.dtype})"
            )
        quantiles = np.linspace(0.0, 1.0, bins + 1)[1:-1]
        cuts = np.unique(np.quantile(numbers.to_numpy(dtype=np.float64), quantiles))
        return ReferenceBins("numeric", cuts.astype(np.float64), ())
    if kind != "categorical":
        raise MonitoringInputError(
            f"feature kind of {values.name!r} must be 'numeric' or 'categorical' (got {kind!r})"
        )
    categories = tuple(sorted(present.astype(str).unique().tolist()))
    return ReferenceBins("categorical", np.empty(0), categories)


def psi_of_samples(
    reference: pd.Series, current: pd.Series, kind: FeatureKind = "numeric", bins: int = 10
) -> float:
    """PSI of one column's current values against a reference sample."""
    binning = reference_bins(reference, kind, bins)
    n = binning.n_bins
    expected = np.bincount(binning.assign(reference), minlength=n)
    actual = np.bincount(binning.assign(current), minlength=n)
    return population_stability_index(expected, actual)


@dataclass(frozen=True)
class DriftRow:
    """One column in one window against the reference.

    ``column`` is a feature name, or ``score`` with ``is_score`` set. ``test`` is
    ``ks`` (numeric, score) or ``chi2`` (categorical); ``statistic`` and ``p_value``
    are None when no test was possible. ``unseen`` counts rows whose category the
    reference never held.
    """

    window: Window
    column: str
    is_score: bool
    kind: FeatureKind
    n: int
    psi: float
    test: Literal["ks", "chi2"]
    statistic: float | None
    p_value: float | None
    missing_share: float
    unseen: int


def _test(
    kind: FeatureKind, ref_values: FloatArray, cur_values: FloatArray, table: IntArray
) -> tuple[float | None, float | None]:
    if kind == "numeric":
        if len(ref_values) == 0 or len(cur_values) == 0:
            return None, None
        result = ks_2samp(ref_values, cur_values)
        return float(result.statistic), float(result.pvalue)
    kept = table[:, table.sum(axis=0) > 0]
    if kept.shape[1] < 2:
        return None, None
    chi2, p, _, _ = chi2_contingency(kept, correction=False)
    return float(chi2), float(p)


def drift_by_window(
    reference: pd.DataFrame,
    decisions: pd.DataFrame,
    features: Mapping[str, FeatureKind],
    window: WindowKind,
    *,
    bins: int = 10,
    score: bool = True,
) -> list[DriftRow]:
    """PSI and a two-sample test of every feature (and the score) in every window.

    Parameters
    ----------
    reference : DataFrame
        The training sample: the feature columns, and ``score`` (the model's scores
        on it) when ``score`` is set.
    decisions : DataFrame
        The logged decisions (``decided_at``, the feature columns, ``score``).
    features : mapping of str to {"numeric", "categorical"}
        The columns to watch (:func:`feature_kinds` of the spec).
    window : {"day", "week"}
    bins : int, default 10
        Quantile bins of a numeric column.
    score : bool, default True
        Watch the ``score`` column too, as a numeric one.

    Returns
    -------
    list of DriftRow
        Ordered by window, then the features in the given order, then the score.
    """
    columns: dict[str, FeatureKind] = dict(features)
    if score:
        columns[SCORE] = "numeric"
    require_columns(reference, list(columns), "the drift reference")
    require_columns(decisions, [DECIDED_AT, *columns], "drift")
    if len(reference) == 0:
        raise MonitoringInputError("the drift reference must hold at least one row (got 0)")
    codes, windows = window_codes(decisions[DECIDED_AT], window)
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(windows) + 1))
    rows: list[DriftRow] = []
    per_window: list[list[DriftRow]] = [[] for _ in windows]
    for name, kind in columns.items():
        binning = reference_bins(reference[name], kind, bins)
        n_bins = binning.n_bins
        ref_counts = np.bincount(binning.assign(reference[name]), minlength=n_bins)
        cur_bins = binning.assign(decisions[name])
        counts = np.bincount(
            codes.astype(np.int64) * n_bins + cur_bins, minlength=len(windows) * n_bins
        ).reshape(len(windows), n_bins)
        ref_values = cur_values = np.empty(0)
        if kind == "numeric":
            ref_values = pd.to_numeric(reference[name], errors="coerce").dropna().to_numpy(float)
            all_values = pd.to_numeric(decisions[name], errors="coerce").to_numpy(float)[order]
        for w, win in enumerate(windows):
            if kind == "numeric":
                chunk = all_values[bounds[w] : bounds[w + 1]]
                cur_values = chunk[~np.isnan(chunk)]
            statistic, p_value = _test(
                kind, ref_values, cur_values, np.vstack([ref_counts, counts[w]])
            )
            n = int(counts[w].sum())
            per_window[w].append(
                DriftRow(
                    window=win,
                    column=name,
                    is_score=score and name == SCORE,
                    kind=kind,
                    n=n,
                    psi=population_stability_index(ref_counts, counts[w]),
                    test="ks" if kind == "numeric" else "chi2",
                    statistic=statistic,
                    p_value=p_value,
                    missing_share=float(counts[w, -1] / n),
                    unseen=int(counts[w, -2]) if kind == "categorical" else 0,
                )
            )
    for found in per_window:
        rows.extend(found)
    return rows
