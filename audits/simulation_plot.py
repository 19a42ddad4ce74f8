"""The figure of a threshold simulation: rates, reviewer workload and the worst impact ratio.

Drawn on its own :class:`matplotlib.figure.Figure` with the Agg canvas (no pyplot state,
no global backend change), as :mod:`audits.plots` does, and returned as PNG bytes.
With a sweep, the x axis is the swept threshold and the spec's current setting is a
star; without one, each setting is a position on the x axis. Logged decisions, when
given, are drawn dashed next to the held-out rows.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np

from audits.simulation import SettingResult, SimulationResult

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_DPI = 90
_RATES = (
    ("approval_rate", "approved", "#2f855a"),
    ("referral_rate", "referred", "#d9822b"),
    ("decline_rate", "declined", "#c53030"),
)
_WORKLOAD, _RATIO, _LIMIT = "#2b6cb0", "#553c9a", "#c53030"


def _values(settings: list[SettingResult], field: str) -> np.ndarray:
    return np.array(
        [np.nan if (v := getattr(s, field)) is None else float(v) for s in settings],
        dtype=np.float64,
    )


def _positions(result: SimulationResult) -> tuple[np.ndarray, list[str] | None]:
    if result.swept is not None:
        return _values(result.settings, result.swept), None
    return np.arange(len(result.settings), dtype=np.float64), [s.label for s in result.settings]


def _draw(
    ax: Axes,
    result: SimulationResult,
    field: str,
    colour: str,
    label: str,
    dashed: bool,
) -> None:
    x, _ = _positions(result)
    y = _values(result.settings, field)
    style = "--" if dashed else "-"
    # the current setting is drawn on its own (a star), the others as the line
    ax.plot(x[1:], y[1:], style, marker="o", markersize=3, color=colour, label=label)
    ax.plot(x[:1], y[:1], marker="*", markersize=11, color=colour, linestyle="none")


def simulation_png(
    held_out: SimulationResult,
    logged: SimulationResult | None = None,
    *,
    min_impact_ratio: float = 0.8,
    title: str = "",
) -> bytes:
    """Draw the simulation.

    Parameters
    ----------
    held_out : SimulationResult
        The settings applied to the held-out rows.
    logged : SimulationResult, optional
        The same settings applied to logged decisions (rates and workload only).
    min_impact_ratio : float
        The gate's threshold, drawn on the impact-ratio panel.
    title : str

    Returns
    -------
    bytes
        A PNG image.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(13.5, 4.2), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    rates_ax, work_ax, ratio_ax = (fig.add_subplot(1, 3, i + 1) for i in range(3))
    sources = [(held_out, False, "held-out")]
    if logged is not None and logged.n > 0:
        sources.append((logged, True, "logged"))

    for result, dashed, name in sources:
        for field, label, colour in _RATES:
            _draw(rates_ax, result, field, colour, f"{label} ({name})", dashed)
        _draw(work_ax, result, "cases_per_1000", _WORKLOAD, f"cases ({name})", dashed)
    rates_ax.set_ylim(0, 1)
    rates_ax.set_ylabel("share of applications")
    rates_ax.set_title("automated outcomes", fontsize=10)
    rates_ax.legend(fontsize=7)

    workload = held_out.workload
    per_case = workload.daily_volume * workload.minutes_per_case / 60 / 1000
    work_ax.set_ylabel("referred cases per 1,000 applications")
    work_ax.set_ylim(bottom=0)

    def to_hours(cases: Any) -> Any:
        return np.asarray(cases, dtype=np.float64) * per_case

    def to_cases(hours: Any) -> Any:
        return np.asarray(hours, dtype=np.float64) / per_case

    hours = work_ax.secondary_yaxis("right", functions=(to_hours, to_cases))
    hours.set_ylabel(
        f"reviewer hours per day ({workload.daily_volume:g}/day, "
        f"{workload.minutes_per_case:g} min per case)",
        fontsize=8,
    )
    work_ax.set_title("reviewer workload", fontsize=10)
    if len(sources) > 1:
        work_ax.legend(fontsize=7)

    if held_out.by_group:
        _draw(ratio_ax, held_out, "worst_impact_ratio", _RATIO, "worst impact ratio", False)
        ratio_ax.axhline(min_impact_ratio, linestyle="--", color=_LIMIT, linewidth=1)
        ratio_ax.set_ylim(0, 1.05)
        ratio_ax.legend(
            handles=[
                Line2D([], [], color=_RATIO, marker="o", label="lowest approval impact ratio"),
                Line2D([], [], color=_LIMIT, linestyle="--", label=f"gate {min_impact_ratio:g}"),
            ],
            fontsize=7,
            loc="lower left",
        )
    else:
        ratio_ax.text(0.5, 0.5, "no group labels", ha="center", va="center")
    ratio_ax.set_title("approval impact ratio (held-out rows)", fontsize=10)

    x, labels = _positions(held_out)
    for ax in (rates_ax, work_ax, ratio_ax):
        ax.tick_params(labelsize=8)
        if labels is not None:
            ax.set_xticks(x, labels, fontsize=8)
        else:
            ax.set_xlabel(f"{held_out.swept} (star: current setting)")
    if title:
        fig.suptitle(title, fontsize=11)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    fig.clear()
    return buffer.getvalue()
