"""Live fairness over a window: automated outcomes by group, with the audit's own code.

Rates and impact ratios are :func:`audits.groups.selection_rates` and
:func:`audits.groups.impact_ratios` on :func:`audits.groups.cell_counts` of each
window, and the intervals are :func:`audits.bootstrap.percentile_interval` of
:func:`audits.bootstrap.resample_cells` draws, as in the audit. An outcome's "selection"
is that outcome: automated approval, referral, decline. Groups with fewer than
``min_group_size`` rows in the window are suppressed and left out of the impact
ratios and gaps. With outcome labels (``label``, 0/1, missing until known) the true
and false positive rates of automated approval and the equalized-odds difference
(:func:`audits.groups.summaries`) are reported over the labelled rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from audits.bootstrap import percentile_interval, resample_cells
from audits.groups import (
    CELL_FN,
    CELL_FP,
    CELL_TN,
    CELL_TP,
    FloatArray,
    IntArray,
    disparity_difference,
    impact_ratios,
    selection_rates,
    summaries,
)
from audits.groups import (
    cell_counts as audit_cell_counts,
)
from audits.monitoring.frames import (
    DECIDED_AT,
    LABEL,
    OUTCOME,
    MonitoringInputError,
    Window,
    window_codes,
)
from audits.monitoring.grouping import (
    Figure,
    Prepared,
    check_min_group_size,
    figure,
    known_groups,
    prepare,
)
from models.spec import WindowKind

LIVE_OUTCOMES = ("approved", "referred", "declined")


@dataclass(frozen=True)
class LiveGroupRow:
    """One group of one attribute (or intersection) in one window.

    ``approval_impact_ratio`` is the group's automated approval rate over the
    highest one among the groups not suppressed. ``tpr``/``fpr`` are of automated
    approval against the labels, over ``labelled`` rows (None without labels).
    """

    window: Window
    attribute: str
    group: str
    n: int
    suppressed: bool
    approval_rate: Figure
    approval_impact_ratio: Figure
    referral_rate: Figure
    decline_rate: Figure
    labelled: int
    tpr: Figure | None
    fpr: Figure | None


@dataclass(frozen=True)
class LiveSummary:
    """The gaps of one attribute (or intersection) in one window, over the groups not suppressed.

    A gap is ``max - min`` of a rate; None with fewer than two groups to compare.
    """

    window: Window
    attribute: str
    groups_compared: int
    min_approval_impact_ratio: float | None
    lowest_group: str | None
    referral_rate_gap: float | None
    decline_rate_gap: float | None
    equalized_odds_difference: float | None
    labelled_groups_compared: int


def _outcome_cells(
    y_pred: NDArray[np.int64], code: NDArray[np.intp], n_windows: int, n_groups: int
) -> IntArray:
    zeros = np.zeros(len(y_pred), dtype=np.int64)
    cells = audit_cell_counts(zeros, y_pred, code, n_windows * n_groups)
    return cells.reshape(n_windows, n_groups, -1)


def _gap(values: FloatArray, included: NDArray[np.bool_]) -> float | None:
    if int((included & ~np.isnan(values)).sum()) < 2:
        return None
    return float(disparity_difference(values, included))


def live_fairness(
    decisions: pd.DataFrame,
    attributes: Sequence[str],
    window: WindowKind,
    *,
    min_group_size: int = 30,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    prepared: Prepared | None = None,
) -> tuple[list[LiveGroupRow], list[LiveSummary]]:
    """Automated approval, referral and decline rates by group per window, with intervals.

    Parameters
    ----------
    decisions : DataFrame
        ``decision_id``, ``decided_at``, ``outcome``, the attribute columns, and
        optionally ``label`` (see :mod:`audits.monitoring.frames`).
    attributes : sequence of str
        The attribute columns; rows with any of them missing are left out (counted
        by :func:`unknown_by_window`).
    window : {"day", "week"}
    min_group_size : int
    n_boot : int
        Bootstrap resamples for the intervals; 0 leaves them empty.
    confidence : float
    seed : int
        The window starting on day ``d`` (its proleptic Gregorian ordinal), attribute
        ``a`` and outcome ``o`` draw from ``np.random.default_rng([seed, d, a, o])``,
        so a day's intervals do not depend on which other days are in the frame.
    prepared : Prepared, optional
        :func:`audits.monitoring.grouping.prepare` of the same arguments, when the
        caller has it already (the report does).

    Returns
    -------
    (list of LiveGroupRow, list of LiveSummary)
    """
    check_min_group_size(min_group_size)
    ready = prepared or prepare(decisions, attributes, window)
    codes, windows, groups = ready.window_of, ready.windows, ready.groups
    if groups is None or not groups.partitions:
        return [], []
    known = groups.rows
    outcome = decisions[OUTCOME].to_numpy()[known]
    window_of = codes[known]
    n_windows = len(windows)
    labels = _labels(decisions, known)

    rows: list[LiveGroupRow] = []
    found: list[LiveSummary] = []
    for a, partition in enumerate(groups.partitions):
        g_count = partition.n_groups
        code = window_of * g_count + partition.row_group
        cells = {
            o: _outcome_cells((outcome == o).astype(np.int64), code, n_windows, g_count)
            for o in LIVE_OUTCOMES
        }
        sizes = cells["approved"].sum(axis=-1)
        label_cells = None
        if labels is not None:
            has = ~np.isnan(labels)
            label_cells = audit_cell_counts(
                labels[has].astype(np.int64),
                (outcome[has] == "approved").astype(np.int64),
                code[has],
                n_windows * g_count,
            ).reshape(n_windows, g_count, -1)
        for w, win in enumerate(windows):
            included = sizes[w] >= min_group_size
            rates = {o: selection_rates(cells[o][w]) for o in LIVE_OUTCOMES}
            ratios = impact_ratios(rates["approved"], included)
            ci = _intervals(
                cells, w, included, n_boot, confidence, [seed, win.start.toordinal(), a]
            )
            labelled = (
                np.zeros(g_count, dtype=np.int64)
                if label_cells is None
                else label_cells[w].sum(axis=-1)
            )
            for g in range(g_count):
                if sizes[w, g] == 0:
                    continue
                n = int(sizes[w, g])

                tpr = fpr = None
                if label_cells is not None:
                    c = label_cells[w, g]
                    tpr = figure(float(c[CELL_TP]), int(c[CELL_TP] + c[CELL_FN]), min_group_size)
                    fpr = figure(float(c[CELL_FP]), int(c[CELL_FP] + c[CELL_TN]), min_group_size)
                rows.append(
                    LiveGroupRow(
                        window=win,
                        attribute=partition.name,
                        group=partition.labels[g],
                        n=n,
                        suppressed=n < min_group_size,
                        approval_rate=_figure(
                            "approved", rates["approved"], g, n, ci, min_group_size
                        ),
                        approval_impact_ratio=_figure(
                            "impact_ratio", ratios, g, n, ci, min_group_size
                        ),
                        referral_rate=_figure(
                            "referred", rates["referred"], g, n, ci, min_group_size
                        ),
                        decline_rate=_figure(
                            "declined", rates["declined"], g, n, ci, min_group_size
                        ),
                        labelled=int(labelled[g]),
                        tpr=tpr,
                        fpr=fpr,
                    )
                )
            eo = None
            labelled_included = labelled >= min_group_size
            if label_cells is not None and int(labelled_included.sum()) >= 2:
                value = float(
                    summaries(label_cells[w], labelled_included)["equalized_odds_difference"]
                )
                eo = None if np.isnan(value) else value
            lowest = None
            min_ratio = None
            if included.any() and not np.isnan(ratios[included]).all():
                at = int(np.flatnonzero(included)[np.nanargmin(ratios[included])])
                lowest, min_ratio = partition.labels[at], float(ratios[at])
            found.append(
                LiveSummary(
                    window=win,
                    attribute=partition.name,
                    groups_compared=int(included.sum()),
                    min_approval_impact_ratio=min_ratio if included.sum() >= 2 else None,
                    lowest_group=lowest if included.sum() >= 2 else None,
                    referral_rate_gap=_gap(rates["referred"], included),
                    decline_rate_gap=_gap(rates["declined"], included),
                    equalized_odds_difference=eo,
                    labelled_groups_compared=int(labelled_included.sum()),
                )
            )
    return rows, found


def _figure(
    name: str,
    values: FloatArray,
    g: int,
    n: int,
    ci: dict[str, tuple[FloatArray, FloatArray]],
    min_group_size: int,
) -> Figure:
    bounds = ci.get(name)
    interval = None if bounds is None else (float(bounds[0][g]), float(bounds[1][g]))
    return figure(0.0, n, min_group_size, interval, value=float(values[g]))


def _labels(decisions: pd.DataFrame, known: NDArray[np.bool_]) -> FloatArray | None:
    if LABEL not in decisions.columns:
        return None
    values = pd.to_numeric(decisions[LABEL], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isnan(values) & (values != 0) & (values != 1)
    unreadable = np.isnan(values) & decisions[LABEL].notna().to_numpy()
    if (bad | unreadable).any():
        shown = decisions[LABEL][bad | unreadable].head(3).tolist()
        raise MonitoringInputError(
            f"column {LABEL!r} must hold 0, 1 or missing (got {shown!r} in"
            f" {int((bad | unreadable).sum())} rows)"
        )
    if np.isnan(values[known]).all():
        return None
    return values[known]


def _intervals(
    cells: dict[str, IntArray],
    w: int,
    included: NDArray[np.bool_],
    n_boot: int,
    confidence: float,
    stream: list[int],
) -> dict[str, tuple[FloatArray, FloatArray]]:
    if n_boot <= 0:
        return {}
    out: dict[str, tuple[FloatArray, FloatArray]] = {}
    for o_index, o in enumerate(LIVE_OUTCOMES):
        window_cells = cells[o][w]
        if int(window_cells.sum()) == 0:
            continue
        draws = resample_cells(window_cells, n_boot, np.random.default_rng([*stream, o_index]))
        draw_rates = selection_rates(draws)
        out[o] = percentile_interval(draw_rates, confidence)
        if o == "approved":
            out["impact_ratio"] = percentile_interval(
                impact_ratios(draw_rates, included), confidence
            )
    return out


def unknown_by_window(
    decisions: pd.DataFrame, attributes: Sequence[str], window: WindowKind
) -> dict[Window, int]:
    """Rows per window with at least one attribute missing (left out of group figures)."""
    codes, windows = window_codes(decisions[DECIDED_AT], window)
    groups = known_groups(decisions, attributes)
    if groups is None:
        return {}
    counts = np.bincount(codes[~groups.rows], minlength=len(windows))
    return {win: int(c) for win, c in zip(windows, counts, strict=True)}


__all__ = [
    "LIVE_OUTCOMES",
    "LiveGroupRow",
    "LiveSummary",
    "live_fairness",
    "unknown_by_window",
]
