"""Alerts: where a report breaches the spec's ``[monitoring]`` thresholds.

An alert is information for people (a ledger entry, a status line, a metric, a
webhook); nothing here stops a decision.

- drift: PSI at or above ``psi_alert`` (``score_psi_alert`` for the score) is an
  ``alert``, at or above ``psi_warn`` a ``warn``, each only when the two-sample test
  also rejects at ``drift.p_value`` (or no test was possible);
- fairness: the lowest automated-approval impact ratio below ``min_impact_ratio``;
  a referral or decline rate gap above its maximum; an equalized-odds difference
  above its maximum;
- system: a gap between groups (overall, or within one reviewer) in reviewer
  approval share, override rate (both directions and together) or appeal success
  above its maximum, or a ratio of median times to the final decision above
  ``max_time_to_decision_ratio``.

Gaps and ratios compare only groups whose figures are not suppressed, and need two.

Chance
------
A report makes hundreds of group comparisons per window (attributes, their
intersection, every reviewer, every figure), so some small groups would breach a
fixed gap by chance every week. A rate gap or impact ratio therefore alerts only when
its highest and lowest group also differ significantly: the audit's pooled
two-proportion z-test (:func:`audits.fairness.two_proportion_p_values`), Holm-corrected
(:func:`audits.fairness.adjust_p_values`) over every rate comparison of the window,
below ``alpha``. The equalized-odds difference and the ratio of median times have
no such test: keep ``min_group_size`` high enough for them to be stable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from audits.fairness import adjust_p_values, two_proportion_p_values
from audits.monitoring.fairness import LiveGroupRow
from audits.monitoring.frames import Window
from audits.monitoring.grouping import Figure
from audits.monitoring.report import MonitoringReport
from audits.monitoring.system import SystemRow
from models.spec import MonitoringSection

AlertKind = Literal["drift", "fairness", "system"]
Severity = Literal["warn", "alert"]
KINDS: tuple[AlertKind, ...] = ("drift", "fairness", "system")

_SYSTEM_GAPS = (
    ("reviewer_approval_share", "max_reviewer_approval_gap"),
    ("override_rate", "max_override_rate_gap"),
    ("override_to_decline", "max_override_rate_gap"),
    ("override_to_approve", "max_override_rate_gap"),
    ("appeal_success", "max_appeal_success_gap"),
)


@dataclass(frozen=True)
class Alert:
    """One breach of one threshold in one window.

    ``what`` names the figure (``psi``, ``score_psi``, ``approval_impact_ratio``,
    ``referral_rate_gap``, ``decline_rate_gap``, ``equalized_odds_difference``,
    ``<figure>_gap`` of the human-plus-model figures, ``time_to_decision_ratio``);
    ``subject`` the feature (drift) or the attribute; ``groups`` the groups concerned
    (for a gap: the highest then the lowest; for an impact ratio: the lowest then the
    highest); ``reviewer`` the reviewer for a within-reviewer gap; ``p_value`` the
    Holm-corrected p-value of the group comparison (drift: the two-sample test's).
    """

    kind: AlertKind
    severity: Severity
    window: Window
    what: str
    subject: str
    value: float
    threshold: float
    groups: tuple[str, ...] = ()
    reviewer: str | None = None
    p_value: float | None = None

    @property
    def message(self) -> str:
        """One line for a person: what, where, the value and the threshold."""
        who = f" for reviewer {self.reviewer}" if self.reviewer else ""
        among = f" ({', '.join(self.groups)})" if self.groups else ""
        return (
            f"{self.severity}: {self.what} of {self.subject}{among}{who} in {self.window.label}"
            f" is {self.value:.4g} (threshold {self.threshold:g})"
        )


@dataclass(frozen=True)
class _Comparison:
    """A comparison of two groups' rates; an alert if ``breach`` and significant."""

    alert: Alert
    breach: bool
    p_value: float


def check_alerts(report: MonitoringReport, settings: MonitoringSection) -> list[Alert]:
    """Every breach in ``report`` of the thresholds in ``settings``, by window then kind."""
    found: list[Alert] = _drift(report, settings)
    plain: list[Alert] = []
    compared: dict[Window, list[_Comparison]] = defaultdict(list)
    for item in [*_fairness(report, settings), *_system(report, settings)]:
        if isinstance(item, Alert):
            plain.append(item)
        else:
            compared[item.alert.window].append(item)
    found.extend(plain)
    for comparisons in compared.values():
        adjusted = adjust_p_values([c.p_value for c in comparisons], "holm")
        for comparison, p in zip(comparisons, adjusted, strict=True):
            if comparison.breach and p < settings.alpha:
                found.append(replace(comparison.alert, p_value=float(p)))
    return sorted(found, key=lambda a: (a.window, KINDS.index(a.kind)))


def _drift(report: MonitoringReport, settings: MonitoringSection) -> list[Alert]:
    d = settings.drift
    out = []
    for row in report.drift:
        if row.is_score:
            warn, alert = d.score_psi_warn, d.score_psi_alert
        else:
            warn, alert = d.psi_warn, d.psi_alert
        if row.p_value is not None and row.p_value >= d.p_value:
            continue
        if row.psi >= alert:
            severity: Severity = "alert"
            threshold = alert
        elif row.psi >= warn:
            severity, threshold = "warn", warn
        else:
            continue
        out.append(
            Alert(
                kind="drift",
                severity=severity,
                window=row.window,
                what="score_psi" if row.is_score else "psi",
                subject=row.column,
                value=row.psi,
                threshold=threshold,
                p_value=row.p_value,
            )
        )
    return out


def _p_value(high: Figure, low: Figure) -> float:
    """The audit's two-proportion z-test of two groups' rates."""
    assert high.value is not None and low.value is not None
    p = two_proportion_p_values(
        np.array([round(high.value * high.n)]),
        np.array([high.n]),
        round(low.value * low.n),
        low.n,
    )
    return float(p[0])


def _ends(figures: list[tuple[Figure, str]]) -> tuple[tuple[Figure, str], tuple[Figure, str]]:
    """The highest and the lowest figure (ties broken by group label)."""
    ordered = sorted(figures, key=lambda f: (f[0].value, f[1]))
    return ordered[-1], ordered[0]


def _fairness(report: MonitoringReport, settings: MonitoringSection) -> list[Alert | _Comparison]:
    f = settings.fairness
    out: list[Alert | _Comparison] = []
    tables: dict[tuple[Window, str], list[LiveGroupRow]] = defaultdict(list)
    for row in report.fairness:
        tables[(row.window, row.attribute)].append(row)
    for s in report.fairness_summaries:
        rows = tables[(s.window, s.attribute)]
        rates = [(r.approval_rate, r.group) for r in rows if r.approval_rate.value is not None]
        ratio = s.min_approval_impact_ratio
        if ratio is not None and len(rates) >= 2:
            (high, high_group), (low, low_group) = _ends(rates)
            alert = Alert(
                "fairness",
                "alert",
                s.window,
                "approval_impact_ratio",
                s.attribute,
                ratio,
                f.min_impact_ratio,
                (low_group, high_group),
            )
            out.append(_Comparison(alert, ratio < f.min_impact_ratio, _p_value(high, low)))
        for what, name, limit in (
            ("referral_rate_gap", "referral_rate", f.max_referral_rate_gap),
            ("decline_rate_gap", "decline_rate", f.max_decline_rate_gap),
        ):
            figures = [(getattr(r, name), r.group) for r in rows]
            out.extend(_gap("fairness", s.window, what, s.attribute, figures, limit, None))
        eo, eo_limit = s.equalized_odds_difference, f.max_equalized_odds_difference
        if eo is not None and eo_limit is not None and eo > eo_limit:
            out.append(
                Alert(
                    "fairness",
                    "alert",
                    s.window,
                    "equalized_odds_difference",
                    s.attribute,
                    eo,
                    eo_limit,
                )
            )
    return out


def _gap(
    kind: AlertKind,
    window: Window,
    what: str,
    subject: str,
    figures: list[tuple[Figure, str]],
    limit: float,
    reviewer: str | None,
) -> list[_Comparison]:
    shown = [(fig, group) for fig, group in figures if fig.value is not None]
    if len(shown) < 2:
        return []
    (high, high_group), (low, low_group) = _ends(shown)
    assert high.value is not None and low.value is not None
    gap = high.value - low.value
    alert = Alert(
        kind, "alert", window, what, subject, gap, limit, (high_group, low_group), reviewer
    )
    return [_Comparison(alert, gap > limit, _p_value(high, low))]


def _system(report: MonitoringReport, settings: MonitoringSection) -> list[Alert | _Comparison]:
    s = settings.system
    tables: dict[tuple[Window, str, str | None], list[SystemRow]] = defaultdict(list)
    for row in report.system:
        tables[(row.window, row.attribute, row.reviewer)].append(row)
    out: list[Alert | _Comparison] = []
    for (window, attribute, reviewer), rows in tables.items():
        for name, key in _SYSTEM_GAPS:
            figures = _figures(rows, name)
            limit = float(getattr(s, key))
            out.extend(_gap("system", window, f"{name}_gap", attribute, figures, limit, reviewer))
        times = [
            (fig, group) for fig, group in _figures(rows, "median_hours_to_final") if fig.value
        ]
        if len(times) >= 2:
            (high, high_group), (low, low_group) = _ends(times)
            assert high.value is not None and low.value is not None
            ratio = high.value / low.value
            if ratio > s.max_time_to_decision_ratio:
                out.append(
                    Alert(
                        "system",
                        "alert",
                        window,
                        "time_to_decision_ratio",
                        attribute,
                        ratio,
                        s.max_time_to_decision_ratio,
                        (high_group, low_group),
                        reviewer,
                    )
                )
    return out


def _figures(rows: list[SystemRow], name: str) -> list[tuple[Figure, str]]:
    return [(row.figures[name], row.group) for row in rows if name in row.figures]
