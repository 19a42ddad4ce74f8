"""Plain language for pages: percentages, time left, labels, local times.

>>> percent(0.7512)
'75.1%'
>>> time_left(-5400.0)
'overdue by 1 h 30 min'
>>> time_left(90.0)
'1 min left'
"""

from __future__ import annotations

from datetime import datetime

from markupsafe import Markup, escape

from serving.ledger.times import parse

__all__ = ["local_time", "percent", "plain_label", "time_left"]


def percent(share: float | None, digits: int = 1) -> str:
    """``share`` (0–1) as a percentage; an em dash for None."""
    if share is None:
        return "—"
    return f"{share * 100:.{digits}f}%"


def _span(seconds: float) -> str:
    minutes = int(abs(seconds) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {mins} min"
    return f"{mins} min" if mins else f"{int(abs(seconds))} s"


def time_left(seconds: float) -> str:
    """Seconds until a deadline in words; negative seconds are overdue."""
    if seconds < 0:
        return f"overdue by {_span(seconds)}"
    return f"{_span(seconds)} left"


def seconds_until(deadline: str, now: datetime) -> float:
    """Seconds from ``now`` to a stored or ISO deadline (negative once past)."""
    return (parse(deadline) - now).total_seconds()


def local_time(value: str | None) -> Markup:
    """A ``<time>`` element: UTC text that ``console.js`` shows in the viewer's time zone."""
    if not value:
        return Markup("—")
    moment = parse(value)
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{iso}" data-local>{text}</time>').format(
        iso=escape(moment.isoformat()), text=text
    )


def plain_label(name: str) -> str:
    """A code-like name (``pending_review``) as words (``pending review``)."""
    return name.replace("_", " ").replace("-", " ")
