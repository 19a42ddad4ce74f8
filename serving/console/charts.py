"""Geometry of the contribution waterfall: pure numbers, drawn by a template as inline SVG.

A rationale is additive in calibrated log-odds: ``base_value + sum(contributions)
== log_odds`` and ``score = sigmoid(log_odds)``. The waterfall draws one row per
step, in order: the base (a marker), one bar per feature contribution starting
where the previous bar ended, and the final log-odds (a marker). The axis is
linear in log-odds, so every bar's length is its exact contribution, and it is
labelled in probabilities (ticks placed at their logit), which is how a person
reads a score.

What is guaranteed (and tested): the bars chain (each starts where the previous
ended); the last bar ends at ``base + sum(contributions)``; every row states in
words whether it raises or lowers the score, so colour is never the only signal;
ticks lie inside the drawn range.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "TICK_PERCENTS",
    "Guide",
    "Row",
    "Step",
    "Tick",
    "Waterfall",
    "logit",
    "sigmoid",
    "value_text",
    "waterfall",
]

#: the probabilities the axis may be labelled at (those inside the drawn range are)
TICK_PERCENTS: tuple[float, ...] = (1, 5, 10, 25, 50, 75, 90, 95, 99)

# pixel layout: a text column on the left, the plot on the right, the axis below
WIDTH = 760.0
PLOT_LEFT = 330.0
PLOT_RIGHT = 740.0
ROW_HEIGHT = 26.0
BAR_HEIGHT = 16.0
TOP = 8.0
AXIS_SPACE = 34.0
MARKER_WIDTH = 3.0
#: a drawn range narrower than this (log-odds) is widened, so tiny effects are not magnified
MIN_SPAN = 1.0
#: padding on each side of the drawn range, as a share of its span
PAD_SHARE = 0.1
#: contributions smaller than this (in absolute value) change nothing (as in models.rationale)
NEUTRAL = 1e-12

Direction = Literal["raises", "lowers", "neutral", "total"]

_WORDS: dict[Direction, str] = {
    "raises": "raises the score",
    "lowers": "lowers the score",
    "neutral": "does not change the score",
    "total": "",
}
_CSS: dict[Direction, str] = {
    "raises": "bar-favourable",
    "lowers": "bar-adverse",
    "neutral": "bar-total",
    "total": "bar-total",
}


def sigmoid(x: float) -> float:
    """The probability of log-odds ``x`` (numerically stable on both sides)."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def logit(p: float) -> float:
    """The log-odds of a probability strictly between 0 and 1."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"logit needs a probability strictly between 0 and 1; got {p!r}")
    return math.log(p / (1.0 - p))


def value_text(value: object) -> str:
    """A feature value as a person reads it: whole numbers without decimals, missing in words."""
    if value is None:
        return "missing"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "missing"
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


@dataclass(frozen=True)
class Step:
    """One feature's contribution, as the waterfall takes it."""

    feature: str
    label: str
    contribution: float
    value: str
    """The applicant's value as text (``value_text``), or words such as ``erased``."""


@dataclass(frozen=True)
class Row:
    """One drawn row: the base, a contribution, or the final log-odds."""

    label: str
    value_text: str
    direction: Direction
    words: str
    """The row's effect in words (empty for the base and final rows)."""
    start: float
    end: float
    """Log-odds where the bar starts and ends (equal for the base and final markers)."""
    contribution: float
    x: float
    width: float
    y: float
    css: str

    @property
    def text_y(self) -> float:
        """The baseline of the row's text, centred on its bar."""
        return self.y + BAR_HEIGHT - 4.0


@dataclass(frozen=True)
class Tick:
    """An axis label at a probability, placed at its logit."""

    percent: float
    label: str
    logit: float
    x: float


@dataclass(frozen=True)
class Guide:
    """A policy threshold drawn as a dashed line, named in words."""

    label: str
    share: float
    logit: float
    x: float


@dataclass(frozen=True)
class Waterfall:
    """Everything a template needs to draw the chart, and its summary in words."""

    rows: tuple[Row, ...]
    ticks: tuple[Tick, ...]
    guides: tuple[Guide, ...]
    low: float
    high: float
    base: float
    log_odds: float
    score: float
    width: float
    height: float
    plot_left: float
    plot_right: float
    axis_y: float
    summary: str

    @property
    def contributions(self) -> tuple[Row, ...]:
        """The feature rows, without the base and final markers."""
        return tuple(r for r in self.rows if r.direction != "total")


def _direction(contribution: float) -> Direction:
    if contribution > NEUTRAL:
        return "raises"
    if contribution < -NEUTRAL:
        return "lowers"
    return "neutral"


def _domain(points: Sequence[float]) -> tuple[float, float]:
    low, high = min(points), max(points)
    span = high - low
    if span < MIN_SPAN:
        middle = (low + high) / 2
        low, high, span = middle - MIN_SPAN / 2, middle + MIN_SPAN / 2, MIN_SPAN
    pad = span * PAD_SHARE
    return low - pad, high + pad


def _percent_text(share: float) -> str:
    text = f"{share * 100:.1f}".rstrip("0").rstrip(".")
    return f"{text}%"


def waterfall(
    base: float,
    steps: Sequence[Step],
    *,
    base_label: str = "Reference",
    thresholds: Mapping[str, float] | None = None,
) -> Waterfall:
    """The waterfall from ``base`` through ``steps`` (in order) to ``base + sum``.

    ``thresholds`` maps a name (``approve at``) to a probability; each inside
    the drawn range becomes a dashed guide line.
    """
    ends = [base]
    for step in steps:
        ends.append(ends[-1] + step.contribution)
    final = ends[-1]
    low, high = _domain(ends)
    scale = (PLOT_RIGHT - PLOT_LEFT) / (high - low)

    def px(v: float) -> float:
        return PLOT_LEFT + (v - low) * scale

    def marker(label: str, at: float, index: int) -> Row:
        return Row(
            label=label,
            value_text=_percent_text(sigmoid(at)),
            direction="total",
            words="",
            start=at,
            end=at,
            contribution=0.0,
            x=px(at) - MARKER_WIDTH / 2,
            width=MARKER_WIDTH,
            y=TOP + index * ROW_HEIGHT,
            css="bar-total",
        )

    rows = [marker(base_label, base, 0)]
    for i, step in enumerate(steps):
        start, end = ends[i], ends[i + 1]
        direction = _direction(step.contribution)
        rows.append(
            Row(
                label=step.label,
                value_text=step.value,
                direction=direction,
                words=_WORDS[direction],
                start=start,
                end=end,
                contribution=step.contribution,
                x=px(min(start, end)),
                width=abs(px(end) - px(start)),
                y=TOP + (i + 1) * ROW_HEIGHT,
                css=_CSS[direction],
            )
        )
    rows.append(marker("Score", final, len(steps) + 1))
    axis_y = TOP + len(rows) * ROW_HEIGHT
    ticks = tuple(
        Tick(percent=p, label=f"{p:g}%", logit=logit(p / 100), x=px(logit(p / 100)))
        for p in TICK_PERCENTS
        if low <= logit(p / 100) <= high
    )
    guides = tuple(
        Guide(label=name, share=share, logit=logit(share), x=px(logit(share)))
        for name, share in (thresholds or {}).items()
        if low <= logit(share) <= high
    )
    raising = sum(1 for r in rows if r.direction == "raises")
    lowering = sum(1 for r in rows if r.direction == "lowers")
    summary = (
        f"How the score was reached: from the reference {_percent_text(sigmoid(base))},"
        f" {raising} factor{'' if raising == 1 else 's'} raise the score and {lowering}"
        f" lower it, ending at {_percent_text(sigmoid(final))}."
    )
    return Waterfall(
        rows=tuple(rows),
        ticks=ticks,
        guides=guides,
        low=low,
        high=high,
        base=base,
        log_odds=final,
        score=sigmoid(final),
        width=WIDTH,
        height=axis_y + AXIS_SPACE,
        plot_left=PLOT_LEFT,
        plot_right=PLOT_RIGHT,
        axis_y=axis_y,
        summary=summary,
    )
