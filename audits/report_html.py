"""The audit report as one self-contained HTML page (inline CSS, figures inlined).

Rendered with Jinja2 and autoescaping: every value from the report or the spec
is escaped, and figures must be base64 PNG.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, StrictUndefined, Template
from markupsafe import Markup

from audits.fairness import AttributeResult

if TYPE_CHECKING:
    from audits.audit import AuditReport

MESSAGE_FIGURE = "Figures must be base64-encoded PNG strings."

_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")
_MISSING = "—"

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:72rem;
color:#1a202c;line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;border-bottom:1px solid #cbd5e0;
margin-top:2rem}h3{font-size:1.05rem;margin-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #cbd5e0;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#edf2f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:.15rem .6rem;border-radius:.3rem;font-weight:600;
color:#fff;font-size:.9rem}
.PASS{background:#2f855a}.FAIL{background:#c53030}.INSUFFICIENT_DATA{background:#b7791f}
.INFO{background:#718096}
td.verdict-FAIL{color:#c53030;font-weight:600}td.verdict-INSUFFICIENT_DATA{color:#b7791f;
font-weight:600}td.verdict-PASS{color:#2f855a}
dl.meta{display:grid;grid-template-columns:max-content auto;gap:.1rem 1rem;font-size:.9rem}
dl.meta dt{font-weight:600}dl.meta dd{margin:0;font-family:ui-monospace,monospace}
.note{color:#4a5568;font-size:.85rem}.warning{color:#c53030;font-weight:600}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #e2e8f0}
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Audit {{ r.use_case }} v{{ r.model_version }}: {{ r.outcome }}</title>
<style>{{ style }}</style>
</head>
<body>
<header id="header">
<h1>Fairness and performance audit: {{ r.use_case }}, version {{ r.model_version }}
 <span class="badge {{ r.outcome }}" id="outcome">{{ r.outcome }}</span></h1>
<dl class="meta">
<dt>Use case</dt><dd>{{ r.use_case }}</dd>
<dt>Model version</dt><dd>{{ r.model_version }}</dd>
<dt>Audit id</dt><dd>{{ r.audit_id }}</dd>
<dt>Created at</dt><dd>{{ r.created_at }}</dd>
<dt>Spec hash</dt><dd>{{ r.spec_hash }}</dd>
<dt>Spec version</dt><dd>{{ r.spec_version }}</dd>
<dt>Training run</dt><dd>{{ r.run_id }}</dd>
<dt>Report schema</dt><dd>{{ r.schema_version }}</dd>
<dt>Champion at audit time</dt><dd>{{ r.champion_version or "none" }}</dd>
<dt>Test rows</dt><dd>{{ r.n_test }}</dd>
<dt>Decision threshold</dt><dd>{{ r.decision_threshold | num }}</dd>
<dt>Overall selection rate</dt><dd>{{ r.selection_rate | num }}</dd>
</dl>
{% if r.trained_spec_hash and r.trained_spec_hash != r.spec_hash %}
<p class="warning">The version was trained under spec hash {{ r.trained_spec_hash }},
 not the audited spec hash.</p>
{% endif %}
</header>

<section id="gate">
<h2>Gate</h2>
<p><strong>Rule: {{ r.rule }}.</strong> {{ r.rule_text }}</p>
<table class="thresholds">
<thead><tr><th>Setting</th><th>Value</th></tr></thead>
<tbody>
{% for key, value in thresholds %}<tr><td>{{ key }}</td><td>{{ value }}</td></tr>
{% endfor %}</tbody>
</table>
</section>

<section id="checks">
<h2>Checks</h2>
<table class="checks">
<thead><tr><th>Check</th><th>Value</th><th>Interval</th><th>Threshold</th><th>Verdict</th>
<th>Detail</th></tr></thead>
<tbody>
{% for c in r.checks %}<tr>
<td>{{ c.id }}</td><td class="num">{{ c.value | num }}</td>
<td class="num">{{ ci(c.ci_low, c.ci_high) }}</td>
<td class="num">{{ comparator(c.comparator) }} {{ c.threshold | num }}</td>
<td class="verdict-{{ c.verdict }}">{{ c.verdict }}</td><td>{{ c.detail }}</td>
</tr>
{% endfor %}</tbody>
</table>
</section>

<section id="performance">
<h2>Performance on the test split</h2>
<table class="performance">
<thead><tr><th>Metric</th><th>Value</th><th>{{ confidence }} interval</th></tr></thead>
<tbody>
{% for name, m in r.performance.items() %}<tr><td>{{ name }}</td>
<td class="num">{{ m.value | num }}</td><td class="num">{{ ci(m.ci_low, m.ci_high) }}</td></tr>
{% endfor %}</tbody>
</table>
</section>

<section id="fairness">
<h2>Fairness by group</h2>
<p class="note">Selection rate = favourable decisions / rows in the group; impact ratio = group
 rate / highest included group rate. Groups under {{ f.min_share | pct }} of the rows are reported
 but left out of ratios; groups under {{ f.min_group_size }} rows are insufficient. Intervals:
 seeded percentile bootstrap ({{ f.n_boot }} resamples, seed {{ f.seed }}, {{ confidence }});
 p-values: two-proportion z-test against the reference group, {{ f.correction }} correction.</p>
{% for a in attributes %}
<h3 id="attr-{{ loop.index }}">{{ "Intersection" if a.attributes | length > 1 else "Attribute" }}:
 {{ a.attribute }}</h3>
<p class="note">Reference group: {{ a.reference_group or "none" }}</p>
<table class="groups" data-attribute="{{ a.attribute }}">
<thead><tr><th>Group</th><th>n</th><th>Share</th><th>Selection rate [CI]</th>
<th>Impact ratio [CI]</th><th>TPR [CI]</th><th>FPR [CI]</th><th>AUC [CI]</th>
<th>Calibration error [CI]</th><th>In ratios</th><th>Insufficient</th><th>p-value</th>
<th>p-value adjusted</th><th>Verdict</th></tr></thead>
<tbody>
{% for g in a.groups %}<tr data-group="{{ g.group }}">
<td>{{ g.group }}</td><td class="num">{{ g.n }}</td><td class="num">{{ g.share | pct }}</td>
<td class="num">{{ g.selection_rate | num }} {{ ci(g.selection_rate_ci_low, g.selection_rate_ci_high) }}</td>
<td class="num">{{ g.impact_ratio | num }} {{ ci(g.impact_ratio_ci_low, g.impact_ratio_ci_high) }}</td>
<td class="num">{{ g.tpr | num }} {{ ci(g.tpr_ci_low, g.tpr_ci_high) }}</td>
<td class="num">{{ g.fpr | num }} {{ ci(g.fpr_ci_low, g.fpr_ci_high) }}</td>
<td class="num">{{ g.auc | num }} {{ ci(g.auc_ci_low, g.auc_ci_high) }}</td>
<td class="num">{{ g.calibration_error | num }} {{ ci(g.calibration_error_ci_low, g.calibration_error_ci_high) }}</td>
<td>{{ "yes" if g.included_in_ratios else "no: " ~ g.excluded_reason }}</td>
<td>{{ "INSUFFICIENT_DATA" if g.insufficient else "no" }}</td>
<td class="num">{{ g.p_value | num(4) }}</td><td class="num">{{ g.p_value_adjusted | num(4) }}</td>
{% set v = verdicts.get((a.attribute, g.group), "") %}<td class="verdict-{{ v }}">{{ v }}</td>
</tr>
{% endfor %}</tbody>
</table>
<table class="summaries" data-attribute="{{ a.attribute }}">
<thead><tr><th>Summary</th><th>Value</th><th>Interval</th><th>Groups compared</th>
<th>Insufficient</th></tr></thead>
<tbody>
{% for s in a.summaries %}<tr><td>{{ s.name }}</td><td class="num">{{ s.value | num }}</td>
<td class="num">{{ ci(s.ci_low, s.ci_high) }}</td><td class="num">{{ s.groups_compared }}</td>
<td>{{ "INSUFFICIENT_DATA" if s.insufficient else "no" }}</td></tr>
{% endfor %}</tbody>
</table>
{% endfor %}
</section>

{% if figures %}
<section id="figures">
<h2>Figures</h2>
{% for name, png in figures.items() %}<figure>
<img alt="{{ name }}" src="data:image/png;base64,{{ png }}">
<figcaption>{{ captions.get(name, name) }}</figcaption>
</figure>
{% endfor %}</section>
{% endif %}
</body>
</html>
"""

CAPTIONS = {
    "selection_rate": "Selection rate by group with bootstrap intervals; the dashed line is the"
    " reference group's rate times the gate's minimum impact ratio.",
    "roc": "ROC curves by group (groups with both outcomes only).",
    "calibration": "Calibration by group: observed rate against mean score in 10 score bins.",
}


def num(value: float | int | None, digits: int = 3) -> str:
    """A number for display; ``—`` when undefined."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    if isinstance(value, bool | int):
        return str(value)
    return f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal."""
    return _MISSING if value is None else f"{100 * value:.1f}%"


def ci(low: float | None, high: float | None, digits: int = 3) -> str:
    """An interval as ``[low, high]``; empty when there is none."""
    if low is None or high is None:
        return ""
    return f"[{num(low, digits)}, {num(high, digits)}]"


def comparator(symbol: str) -> str:
    """``>=`` and ``<=`` as the mathematical signs."""
    return {">=": "≥", "<=": "≤"}.get(symbol, symbol)


@lru_cache(maxsize=1)
def html_environment() -> Environment:
    """The autoescaping Jinja2 environment shared by reports and model cards."""
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    env.filters.update(num=num, pct=pct)
    env.globals.update(ci=ci, comparator=comparator, style=Markup(STYLE))
    return env


def ordered_attributes(attributes: list[AttributeResult]) -> list[AttributeResult]:
    """Unitary attributes first, then intersections, each in report order."""
    return sorted(attributes, key=lambda a: len(a.attributes) > 1)


def flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``(dotted.key, value)`` pairs, in order."""
    rows: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, "none" if value is None else value))
    return rows


def check_figures(figures: dict[str, str] | None) -> dict[str, str]:
    """The figures, after checking that each is base64 text."""
    figures = figures or {}
    bad = sorted(name for name, png in figures.items() if not _BASE64.match(png or ""))
    if bad:
        raise ValueError(f"{MESSAGE_FIGURE} Got invalid data for {bad} instead.")
    return figures


@lru_cache(maxsize=1)
def _template() -> Template:
    return html_environment().from_string(_TEMPLATE)


def render_report(report: AuditReport, figures: dict[str, str] | None = None) -> str:
    """Render an audit report as a self-contained HTML page.

    Parameters
    ----------
    report : AuditReport
        The audit to show.
    figures : dict of str to str, optional
        Name to base64 PNG, as returned by :func:`audits.plots.audit_figures`.

    Returns
    -------
    str
        The HTML page.
    """
    verdicts = {
        (c.attribute, c.group): c.verdict for c in report.checks if c.kind == "impact_ratio"
    }
    return _template().render(
        r=report,
        f=report.fairness,
        thresholds=flatten(report.gate),
        confidence=f"{report.fairness.confidence:.0%}",
        attributes=ordered_attributes(report.fairness.attributes),
        verdicts=verdicts,
        figures=check_figures(figures),
        captions=CAPTIONS,
    )


def render_report_from_json(raw: dict[str, Any], figures: dict[str, str] | None = None) -> str:
    """Validate a stored ``report.json`` and render it; see :func:`render_report`."""
    from audits.audit import AuditReport

    return render_report(AuditReport.model_validate(raw), figures)
