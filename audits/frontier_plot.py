"""The frontier of a search for less discriminatory alternatives, as one PNG figure.

Two panels: ROC AUC against the worst gated impact ratio, and ROC AUC against the worst
gated equalized-odds difference, each point a candidate labelled with its number, with
the bootstrap intervals as error bars. Frontier candidates are filled, the others hollow,
the recommended one ringed; the gate's thresholds are drawn as lines. Drawn on its own
Agg figure (no pyplot state), like :mod:`audits.plots`.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from audits.search import AlternativesSearch, CandidateResult
from models.spec import Gate

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_DPI = 90
_FRONT, _OTHER, _LINE, _PICK = "#2b6cb0", "#999999", "#c53030", "#2f855a"


def _err(value: float, low: float | None, high: float | None) -> list[list[float]]:
    return [[value - low if low is not None else 0.0], [high - value if high is not None else 0.0]]


def _panel(
    ax: Axes,
    record: AlternativesSearch,
    x_of: str,
    label: str,
    threshold: float | None,
    threshold_label: str,
) -> None:
    for c in record.candidates:
        x: float | None = getattr(c, x_of)
        if x is None or c.roc_auc is None:
            continue
        colour = _FRONT if c.on_frontier else _OTHER
        ax.errorbar(
            x,
            c.roc_auc,
            xerr=_err(x, getattr(c, f"{x_of}_ci_low"), getattr(c, f"{x_of}_ci_high")),
            yerr=_err(c.roc_auc, c.roc_auc_ci_low, c.roc_auc_ci_high),
            fmt="o",
            color=colour,
            mfc=colour if c.on_frontier else "white",
            ecolor=colour,
            elinewidth=0.8,
            capsize=2,
            alpha=0.5 if c.same_predictions_as is not None else 1.0,
        )
        if c.number == record.recommended:
            ax.plot(x, c.roc_auc, "o", ms=14, mfc="none", mec=_PICK, mew=2)
        ax.annotate(
            str(c.number), (x, c.roc_auc), textcoords="offset points", xytext=(5, 4), fontsize=8
        )
    if threshold is not None:
        ax.axvline(threshold, color=_LINE, ls="--", lw=1, label=threshold_label)
    if record.best_roc_auc is not None:
        ax.axhline(
            record.best_roc_auc - record.auc_tolerance,
            color=_PICK,
            ls=":",
            lw=1,
            label=f"best ROC AUC - {record.auc_tolerance:g}",
        )
    ax.set_xlabel(label)
    ax.set_ylabel("ROC AUC (held-out rows)")
    ax.legend(loc="lower right", fontsize=7)
    ax.grid(alpha=0.3)


def frontier_png(record: AlternativesSearch, gate: Gate) -> bytes:
    """The two-panel frontier figure of a search, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.4), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _panel(
        left,
        record,
        "worst_impact_ratio",
        "worst gated impact ratio (higher is fairer)",
        gate.min_impact_ratio,
        f"gate min {gate.min_impact_ratio:g}",
    )
    _panel(
        right,
        record,
        "equalized_odds_difference",
        "worst gated equalized-odds difference (lower is fairer)",
        gate.max_equalized_odds_difference,
        f"gate max {gate.max_equalized_odds_difference:g}"
        if gate.max_equalized_odds_difference is not None
        else "",
    )
    fig.suptitle(
        f"{record.use_case}: {len(record.candidates)} candidates; filled = on the frontier,"
        " ringed = recommended",
        fontsize=10,
    )
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def frontier_numbers(candidates: list[CandidateResult]) -> list[int]:
    """The numbers of the frontier candidates, in order (for captions)."""
    return [c.number for c in candidates if c.on_frontier]
