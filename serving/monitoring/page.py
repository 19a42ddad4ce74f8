"""The monitoring page: drift over time, rates by group over time with intervals, the
human-plus-model table, and the alerts; one self-contained HTML file (inline PNGs drawn
the way audit reports draw theirs, :mod:`audits.plots`)."""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Sequence

from audits.monitoring import Alert, MonitoringReport
from audits.plots import _figure, _png

__all__ = ["render_page"]


def _drift_png(report: MonitoringReport) -> str | None:
    if not report.drift:
        return None
    fig, (ax,) = _figure(1, [3.6])
    series: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for row in report.drift:
        series[row.column].append((row.window.start.isoformat(), row.psi))
    for column, points in sorted(series.items()):
        xs, ys = zip(*sorted(points), strict=True)
        ax.plot(xs, ys, marker="o", label=column)
    ax.set_title("population stability index by window")
    ax.set_ylabel("PSI")
    ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    ax.legend(fontsize=7)
    return _png(fig)


def _rates_png(report: MonitoringReport) -> str | None:
    attributes = sorted({row.attribute for row in report.fairness})
    if not attributes:
        return None
    fig, axes = _figure(len(attributes), [3.6])
    for ax, attribute in zip(axes, attributes, strict=False):
        groups: dict[str, list[tuple[str, float, float, float]]] = defaultdict(list)
        for row in report.fairness:
            fig_ = row.approval_rate
            if row.attribute != attribute or fig_.value is None:
                continue
            low = fig_.ci_low if fig_.ci_low is not None else fig_.value
            high = fig_.ci_high if fig_.ci_high is not None else fig_.value
            groups[row.group].append((row.window.start.isoformat(), fig_.value, low, high))
        for group, points in sorted(groups.items()):
            points.sort()
            xs = [p[0] for p in points]
            ys = [p[1] for p in points]
            errors = [[p[1] - p[2] for p in points], [p[3] - p[1] for p in points]]
            ax.errorbar(xs, ys, yerr=errors, marker="o", capsize=3, label=group)
        ax.set_title(f"automated approval rate by {attribute}")
        ax.set_ylim(0, 1)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
        ax.legend(fontsize=7)
    return _png(fig)


def _system_table(report: MonitoringReport) -> str:
    rows = [r for r in report.system if r.reviewer is None]
    if not rows:
        return "<p>No human-plus-model figures (no groups, or no review columns).</p>"
    names = sorted({name for r in rows for name in r.figures})
    head = "".join(
        f"<th>{html.escape(n)}</th>" for n in ["window", "attribute", "group", "n", *names]
    )
    body = []
    for r in rows:
        cells = [r.window.label, r.attribute, r.group, str(r.n)]
        for name in names:
            f = r.figures.get(name)
            if f is None:
                cells.append("")
            elif f.suppressed:
                cells.append("suppressed")
            else:
                cells.append("" if f.value is None else f"{f.value:.3f}")
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_page(use_case: str, report: MonitoringReport, alerts: Sequence[Alert]) -> str:
    """The whole page as one HTML string."""
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>Monitoring: {html.escape(use_case)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;"
        "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}</style></head><body>",
        f"<h1>Monitoring: {html.escape(use_case)} ({report.window_kind} windows)</h1>",
        f"<p>{len(report.windows)} windows, {sum(w.n for w in report.windows)} decisions;"
        f" groups smaller than {report.min_group_size} are suppressed.</p>",
        "<h2>Alerts</h2>",
    ]
    if alerts:
        items = "".join(f"<li>{html.escape(a.message)}</li>" for a in alerts)
        parts.append(f"<ul>{items}</ul>")
    else:
        parts.append("<p>None.</p>")
    for title, png in (
        ("Drift over time", _drift_png(report)),
        ("Rates by group over time (with intervals)", _rates_png(report)),
    ):
        parts.append(f"<h2>{title}</h2>")
        parts.append(
            f"<img alt='{html.escape(title)}' src='data:image/png;base64,{png}'>"
            if png
            else "<p>Nothing to plot (no reference or no groups).</p>"
        )
    parts.append("<h2>The human-plus-model system</h2>")
    parts.append(_system_table(report))
    parts.append("</body></html>")
    return "".join(parts)
