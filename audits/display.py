"""How numbers look in audit documents: one set of formatters for cards, reports and text.

Undefined values (``None`` or NaN) show as ``—`` everywhere, never as ``nan`` or ``0``.
The decision a report's checks judge is worded here too, so that the card and the HTML
report name it alike.
"""

from __future__ import annotations

import math
from typing import Any

from audits.report import AuditReport

MISSING = "—"


def num(value: float | int | None, digits: int = 3) -> str:
    """A number for display; ``—`` when undefined.

    Examples
    --------
    >>> num(0.12345), num(7), num(None), num(float("nan"))
    ('0.123', '7', '—', '—')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return MISSING
    if isinstance(value, bool | int):
        return str(value)
    return f"{value:.{digits}f}"


def pct(value: float | None) -> str:
    """A share as a percentage with one decimal.

    Examples
    --------
    >>> pct(0.0153), pct(None)
    ('1.5%', '—')
    """
    return MISSING if value is None else f"{100 * value:.1f}%"


def ci(low: float | None, high: float | None, digits: int = 3) -> str:
    """An interval as ``[low, high]``; empty when there is none.

    Examples
    --------
    >>> ci(0.1, 0.25), ci(None, 0.2)
    ('[0.100, 0.250]', '')
    """
    if low is None or high is None:
        return ""
    return f"[{num(low, digits)}, {num(high, digits)}]"


def comparator(symbol: str) -> str:
    """``>=`` and ``<=`` as the mathematical signs.

    Examples
    --------
    >>> comparator(">="), comparator("<=")
    ('≥', '≤')
    """
    return {">=": "≥", "<=": "≤"}.get(symbol, symbol)


def yes_no(flag: bool) -> str:
    """``yes`` or ``no``."""
    return "yes" if flag else "no"


def gated_decision(report: AuditReport) -> str:
    """The decision the gate's fairness checks are computed on, as the checks name it."""
    named = next(
        (c.basis for c in report.checks if c.kind in ("impact_ratio", "summary") and c.basis),
        "",
    )
    if named:
        return named
    # reports before schema 2 did not name it: they always judged a threshold of their own
    if report.basis == "decision_threshold" and report.decision_threshold is not None:
        return f"score >= decision_threshold {report.decision_threshold:g}"
    return f"not stated by the report (basis {report.basis})"


def served_decision(policy: dict[str, Any] | None) -> str:
    """The served policy's automated approval, in words (empty without a policy).

    Examples
    --------
    >>> served_decision({"version": "2", "approve_at": 0.6})
    'automated approval under policy version 2: score >= approve_at 0.6 and no referral rule fired'
    """
    if not policy:
        return ""
    return (
        f"automated approval under policy version {policy.get('version', '?')}: score >="
        f" approve_at {policy.get('approve_at')} and no referral rule fired"
    )
