"""The audit report as one self-contained HTML page (inline CSS, figures inlined).

Rendered from ``audits/templates/audit_report.html.j2`` with autoescaping: every
value from the report or the spec is escaped, and figures must be base64 PNG.
"""

from __future__ import annotations

from typing import Any

from audits.display import gated_decision, served_decision
from audits.rendering import render
from audits.report import MESSAGE_FIGURE, AttributeResult, AuditReport, check_figures

__all__ = [
    "CAPTIONS",
    "MESSAGE_FIGURE",
    "NO_OUTCOMES",
    "flatten",
    "ordered_attributes",
    "render_report",
    "render_report_from_json",
]

TEMPLATE = "audit_report.html.j2"

CAPTIONS = {
    "selection_rate": "Selection rate by group with bootstrap intervals; the dashed line is the"
    " reference group's rate times the gate's minimum impact ratio.",
    "roc": "ROC curves by group (groups with both outcomes only).",
    "calibration": "Calibration by group: observed rate against mean score in 10 score bins.",
    "outcome_mix": "Outcome mix by group at the operating thresholds: approved, referred (for"
    " review of an uncertain or flagged case, or of an adverse recommendation) and declined.",
}
NO_OUTCOMES = (
    "This audit did not measure the served policy's outcomes: {why}. Its fairness results"
    " judge {gated}."
)


def ordered_attributes(attributes: list[AttributeResult]) -> list[AttributeResult]:
    """Unitary attributes first, then intersections, each in report order."""
    return sorted(attributes, key=lambda a: a.is_intersection)


def flatten(mapping: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as ``(dotted.key, value)`` pairs, in order.

    Examples
    --------
    >>> flatten({"a": 1, "b": {"c": None}})
    [('a', 1), ('b.c', 'none')]
    """
    rows: list[tuple[str, Any]] = []
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, f"{name}.")
        else:
            rows.append((name, "none" if value is None else value))
    return rows


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
    adverse_verdicts = {
        (c.attribute, c.group): c.verdict for c in report.checks if c.kind == "adverse_impact_ratio"
    }
    adverse = next(
        (c.basis for c in report.checks if c.kind == "adverse_impact_ratio" and c.basis),
        "score under decline_below",
    )
    gated = gated_decision(report)
    why = (
        "the spec has no review policy"
        if report.policy is None and report.schema_version != "1"
        else f"the report (schema {report.schema_version}) predates outcome measurement"
    )
    outcomes = report.outcomes
    return render(
        TEMPLATE,
        r=report,
        f=report.fairness,
        o=outcomes,
        gated=gated,
        adverse=adverse,
        served_basis=served_decision(report.policy),
        no_outcomes=NO_OUTCOMES.format(why=why, gated=gated),
        thresholds=flatten(report.gate),
        confidence=f"{report.fairness.confidence:.0%}",
        attributes=ordered_attributes(report.fairness.attributes),
        outcome_attributes=sorted(
            outcomes.attributes if outcomes else [], key=lambda a: len(a.attributes) > 1
        ),
        served_attributes=ordered_attributes(
            report.served_fairness.attributes if report.served_fairness else []
        ),
        verdicts=verdicts,
        adverse_verdicts=adverse_verdicts,
        figures=check_figures(figures),
        captions=CAPTIONS,
    )


def render_report_from_json(raw: dict[str, Any], figures: dict[str, str] | None = None) -> str:
    """Validate a stored ``report.json`` and render it; see :func:`render_report`."""
    return render_report(AuditReport.model_validate(raw), figures)
