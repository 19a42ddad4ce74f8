"""Figures of an audit: selection rates, ROC curves, calibration and the outcome mix by group.

Every figure is drawn on its own :class:`matplotlib.figure.Figure` with the Agg
canvas (no pyplot state, no global backend change) and returned as base64 PNG,
ready for ``<img src="data:image/png;base64,...">``.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from audits.report import AttributeResult, AuditReport, OutcomeAttribute
from models.metrics import CALIBRATION_BINS, calibration_bins

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MESSAGE_LENGTHS = "The 'y', 'scores' and 'groups' parameters must have the same number of rows."
MESSAGE_GROUP_COLUMN = "The 'groups' parameter must have a column for every unitary attribute."

_DPI = 80
_PANEL_WIDTH = 4.2
_MAX_PANEL_COLUMNS = 3
_GATED, _INSUFFICIENT, _EXCLUDED, _LINE = "#2b6cb0", "#d9822b", "#999999", "#c53030"
# approved, referred (not adverse), referred for adverse review, declined
_MIX = (
    ("#2f855a", "approved"),
    ("#90cdf4", "referred"),
    ("#d9822b", "referred, adverse recommendation"),
    ("#c53030", "declined"),
)
_BAR_LEGEND = (
    (_GATED, "in impact ratios"),
    (_INSUFFICIENT, "below min group size"),
    (_EXCLUDED, "below min share: not in ratios"),
)


def audit_figures(
    report: AuditReport, y: np.ndarray, scores: np.ndarray, groups: pd.DataFrame
) -> dict[str, str]:
    """Draw the audit's figures.

    Parameters
    ----------
    report : AuditReport
        The audit whose group rates and intervals are drawn.
    y : ndarray of {0, 1}
        Observed outcomes of the audited rows.
    scores : ndarray of float
        Model scores of the same rows.
    groups : DataFrame
        Group label of every row, one column per unitary attribute.

    Returns
    -------
    dict of str to str
        ``selection_rate``, ``roc`` and ``calibration``, and ``outcome_mix`` when the
        report has the served policy's outcomes: base64-encoded PNG.
    """
    y = np.asarray(y).astype(np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    if not len(y) == len(scores) == len(groups):
        raise ValueError(
            f"{MESSAGE_LENGTHS} Got {len(y)}, {len(scores)} and {len(groups)} instead."
        )
    unitary = [a for a in report.fairness.attributes if not a.is_intersection]
    missing = [a.attribute for a in unitary if a.attribute not in groups.columns]
    if missing:
        raise ValueError(
            f"{MESSAGE_GROUP_COLUMN} Got columns {list(groups.columns)}, missing {missing}."
        )
    min_ratio = float(report.gate.get("min_impact_ratio", 0.8))
    labels = {a.attribute: groups[a.attribute].astype(str).to_numpy() for a in unitary}
    figures = {
        "selection_rate": _selection_rates(report.fairness.attributes, min_ratio),
        "roc": _by_group(unitary, labels, y, scores, _roc_panel, "ROC by group"),
        "calibration": _by_group(
            unitary, labels, y, scores, _calibration_panel, "Calibration by group"
        ),
    }
    if report.outcomes is not None:
        figures["outcome_mix"] = _outcome_mix(report.outcomes.attributes)
    return figures


def _outcome_mix(attributes: list[OutcomeAttribute]) -> str:
    from matplotlib.patches import Patch

    heights = [1.2 + 0.28 * len(a.groups) for a in attributes]
    fig, axes = _figure(len(attributes), heights)
    for ax, attr in zip(axes, attributes, strict=False):
        names = [
            _short_label(len(attr.attributes) > 1, g.group)
            + (" (not in ratios)" if not g.included_in_ratios else "")
            for g in attr.groups
        ]
        n = np.array([max(g.n, 1) for g in attr.groups], dtype=np.float64)
        counts = np.array(
            [
                [
                    g.approved,
                    g.referred - (g.adverse - g.declined),
                    g.adverse - g.declined,
                    g.declined,
                ]
                for g in attr.groups
            ],
            dtype=np.float64,
        ).reshape(len(attr.groups), len(_MIX))
        shares = counts / n[:, np.newaxis]
        pos = np.arange(len(names))
        left = np.zeros(len(names))
        for k, (colour, _) in enumerate(_MIX):
            ax.barh(pos, shares[:, k], left=left, color=colour, height=0.6)
            left += shares[:, k]
        ax.set_yticks(pos, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of the group's rows", fontsize=8)
        ax.set_title(attr.attribute, fontsize=9)
    if not attributes:
        axes[0].set_axis_off()
    handles = [Patch(color=colour, label=label) for colour, label in _MIX]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7)
    return _png(fig)


def _figure(n_panels: int, heights: list[float] | None = None) -> tuple[Figure, list[Axes]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    columns = min(max(n_panels, 1), _MAX_PANEL_COLUMNS)
    rows = -(-max(n_panels, 1) // columns)
    height = max(heights) if heights else 3.6
    fig = Figure(figsize=(_PANEL_WIDTH * columns, height * rows), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, columns, i + 1) for i in range(max(n_panels, 1))]
    return fig, axes


def _png(fig: Figure) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    fig.clear()
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _selection_rates(attributes: list[AttributeResult], min_ratio: float) -> str:
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    heights = [1.2 + 0.28 * len(a.groups) for a in attributes]
    fig, axes = _figure(len(attributes), heights)
    for ax, attr in zip(axes, attributes, strict=False):
        names = [_short(attr, g.group) for g in attr.groups]
        rates = np.array([_nan(g.selection_rate) for g in attr.groups])
        low = np.array([_nan(g.selection_rate_ci_low) for g in attr.groups])
        high = np.array([_nan(g.selection_rate_ci_high) for g in attr.groups])
        err = np.vstack([np.nan_to_num(rates - low), np.nan_to_num(high - rates)]).clip(0)
        pos = np.arange(len(names))
        colours = [
            _EXCLUDED if not g.included_in_ratios else _INSUFFICIENT if g.insufficient else _GATED
            for g in attr.groups
        ]
        ax.barh(pos, np.nan_to_num(rates), xerr=err, color=colours, capsize=3, height=0.6)
        ax.set_yticks(pos, names, fontsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_xlabel("selection rate", fontsize=8)
        ax.set_title(attr.attribute, fontsize=9)
        if attr.reference_group is not None:
            reference = attr.group(attr.reference_group).selection_rate
            if reference is not None:
                ax.axvline(reference * min_ratio, linestyle="--", color=_LINE, linewidth=1)
    handles = [
        Line2D([], [], linestyle="--", color=_LINE, label=f"{min_ratio:g} × reference rate"),
        *(Patch(color=colour, label=label) for colour, label in _BAR_LEGEND),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=7)
    return _png(fig)


def _by_group(
    unitary: list[AttributeResult],
    labels: dict[str, np.ndarray],
    y: np.ndarray,
    scores: np.ndarray,
    panel: Any,
    title: str,
) -> str:
    fig, axes = _figure(len(unitary))
    for ax, attr in zip(axes, unitary, strict=False):
        panel(ax, attr, labels[attr.attribute], y, scores)
        ax.set_title(attr.attribute, fontsize=9)
        ax.tick_params(labelsize=7)
    if not unitary:
        axes[0].set_axis_off()
    fig.suptitle(title, fontsize=10)
    return _png(fig)


def _roc_panel(
    ax: Axes, attr: AttributeResult, labels: np.ndarray, y: np.ndarray, scores: np.ndarray
) -> None:
    from sklearn.metrics import roc_curve

    ax.plot([0, 1], [0, 1], linestyle=":", color="#888888", linewidth=1)
    for row in attr.groups:
        mask = labels == row.group
        truth = y[mask]
        if truth.size == 0 or truth.min() == truth.max():
            continue
        fpr, tpr, _ = roc_curve(truth, scores[mask])
        auc = "" if row.auc is None else f" (AUC {row.auc:.2f})"
        ax.plot(fpr, tpr, linewidth=1.2, label=f"{row.group}{auc}")
    ax.set_xlabel("false positive rate", fontsize=8)
    ax.set_ylabel("true positive rate", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="lower right")


def _calibration_panel(
    ax: Axes, attr: AttributeResult, labels: np.ndarray, y: np.ndarray, scores: np.ndarray
) -> None:
    ax.plot([0, 1], [0, 1], linestyle=":", color="#888888", linewidth=1)
    bins = calibration_bins(scores, CALIBRATION_BINS)
    for row in attr.groups:
        mask = labels == row.group
        if not mask.any():
            continue
        counts = np.bincount(bins[mask], minlength=CALIBRATION_BINS)
        sum_y = np.bincount(bins[mask], weights=y[mask], minlength=CALIBRATION_BINS)
        sum_p = np.bincount(bins[mask], weights=scores[mask], minlength=CALIBRATION_BINS)
        used = counts > 0
        ax.plot(
            sum_p[used] / counts[used],
            sum_y[used] / counts[used],
            marker="o",
            markersize=3,
            linewidth=1,
            label=f"{row.group} (n={row.n})",
        )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("mean score in bin", fontsize=8)
    ax.set_ylabel("observed rate", fontsize=8)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="upper left")


def _short(attr: AttributeResult, label: str) -> str:
    return _short_label(attr.is_intersection, label)


def _short_label(intersection: bool, label: str) -> str:
    if not intersection:
        return label
    return " & ".join(part.split("=", 1)[-1] for part in label.split(" & "))


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value
