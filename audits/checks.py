"""The gate's checks: each names its value, interval, threshold and verdict.

Verdicts: ``PASS``, ``FAIL``, ``INSUFFICIENT_DATA`` (a group involved is below the
spec's minimum size, or the metric is undefined), and ``INFO`` for rows that are
reported but not gated (groups under the share for ratios, intersections when the
spec gates only unitary attributes). The outcome is FAIL if any check fails, else
INSUFFICIENT_DATA if any check lacks data, else PASS: never PASS on missing data.
"""

from __future__ import annotations

from typing import Any, Literal

from audits.report import AttributeResult, Check, FairnessResult, Outcome, OutcomeResult, Verdict
from models.spec import Gate, Policy

RULE_TEXT = {
    "point": "A check passes when its point estimate meets the threshold.",
    "confidence_bound": (
        "A check passes when the bound of its bootstrap interval on the adverse side meets the"
        " threshold (lower bound for minimums, upper bound for maximums)."
    ),
    "significance": (
        "An impact-ratio check fails when the point estimate is below the threshold and the"
        " group's selection rate differs significantly from the reference group's after the"
        " multiple-comparison correction; other checks use the point estimate."
    ),
}


def outcome_of(checks: list[Check]) -> Outcome:
    verdicts = {c.verdict for c in checks}
    if "FAIL" in verdicts:
        return "FAIL"
    if "INSUFFICIENT_DATA" in verdicts:
        return "INSUFFICIENT_DATA"
    return "PASS"


def _judged(
    value: float | None, lo: float | None, hi: float | None, comparator: str, rule: str
) -> float | None:
    if rule == "confidence_bound":
        return lo if comparator == ">=" else hi
    return value


def _meets(value: float, comparator: str, threshold: float) -> bool:
    return value >= threshold if comparator == ">=" else value <= threshold


def threshold_check(
    *,
    id: str,
    kind: Literal["performance", "summary", "champion"],
    metric: str,
    value: float | None,
    ci_low: float | None,
    ci_high: float | None,
    threshold: float,
    comparator: Literal[">=", "<="],
    rule: str,
    insufficient: bool = False,
    attribute: str | None = None,
    detail: str = "",
) -> Check:
    judged = _judged(value, ci_low, ci_high, comparator, rule)
    if insufficient or judged is None:
        verdict: Verdict = "INSUFFICIENT_DATA"
        why = "a group involved is below the minimum size" if insufficient else "undefined"
        detail = f"{detail}; {why}".strip("; ")
    else:
        verdict = "PASS" if _meets(judged, comparator, threshold) else "FAIL"
    return Check(
        id=id,
        kind=kind,
        metric=metric,
        attribute=attribute,
        value=value,
        ci_low=ci_low,
        ci_high=ci_high,
        threshold=threshold,
        comparator=comparator,
        verdict=verdict,
        detail=detail,
    )


def _impact_ratio_checks(attr: AttributeResult, gate: Gate, gated: bool) -> list[Check]:
    checks: list[Check] = []
    reference = next((g for g in attr.groups if g.group == attr.reference_group), None)
    for g in attr.groups:

        def make(verdict: Verdict, detail: str = "", g: Any = g) -> Check:
            return Check(
                id=f"impact_ratio[{attr.attribute}={g.group}]",
                kind="impact_ratio",
                metric="impact_ratio",
                attribute=attr.attribute,
                group=g.group,
                value=g.impact_ratio,
                ci_low=g.impact_ratio_ci_low,
                ci_high=g.impact_ratio_ci_high,
                threshold=gate.min_impact_ratio,
                comparator=">=",
                verdict=verdict,
                detail=detail,
            )

        if not g.included_in_ratios:
            checks.append(make("INFO", g.excluded_reason or "excluded"))
            continue
        if g.group == attr.reference_group:
            checks.append(make("INFO", "reference group (highest rate)"))
            continue
        if not gated:
            checks.append(make("INFO", "intersections are reported, not gated"))
            continue
        if g.insufficient or (reference is not None and reference.insufficient):
            who = g.group if g.insufficient else f"reference group {attr.reference_group}"
            checks.append(
                make("INSUFFICIENT_DATA", f"{who} has fewer than {gate.min_group_size} rows")
            )
            continue
        judged = _judged(
            g.impact_ratio, g.impact_ratio_ci_low, g.impact_ratio_ci_high, ">=", gate.rule
        )
        if judged is None:
            checks.append(make("INSUFFICIENT_DATA", "undefined"))
            continue
        below = judged < gate.min_impact_ratio
        detail = ""
        if gate.rule == "significance" and below:
            p = g.p_value_adjusted
            below = p is not None and p < gate.alpha
            detail = (
                f"adjusted p = {p:.4g} ({gate.correction}), alpha = {gate.alpha}"
                if p is not None
                else ""
            )
        checks.append(make("FAIL" if below else "PASS", detail))
    return checks


def fairness_checks(result: FairnessResult, gate: Gate) -> list[Check]:
    checks: list[Check] = []
    for attr in result.attributes:
        gated = len(attr.attributes) == 1 or gate.intersections == "gate"
        checks += _impact_ratio_checks(attr, gate, gated)
        limits = [
            ("equalized_odds_difference", gate.max_equalized_odds_difference),
            ("demographic_parity_difference", gate.max_demographic_parity_difference),
        ]
        for name, limit in limits:
            if limit is None:
                continue
            s = attr.summary(name)
            check = threshold_check(
                id=f"{name}[{attr.attribute}]",
                kind="summary",
                metric=name,
                attribute=attr.attribute,
                value=s.value,
                ci_low=s.ci_low,
                ci_high=s.ci_high,
                threshold=limit,
                comparator="<=",
                rule="point" if gate.rule == "significance" else gate.rule,
                insufficient=s.insufficient,
                detail=f"over {s.groups_compared} groups",
            )
            if not gated:
                check = check.model_copy(
                    update={"verdict": "INFO", "detail": "intersections are reported, not gated"}
                )
            checks.append(check)
    return checks


def adverse_impact_checks(outcomes: OutcomeResult, gate: Gate, policy: Policy) -> list[Check]:
    """Adverse impact ratio of every group: gated when the spec sets a minimum, else INFO.

    The ``significance`` rule has no test for adverse rates, so it judges the point estimate.
    """
    checks: list[Check] = []
    limit = gate.min_adverse_impact_ratio
    rule = "point" if gate.rule == "significance" else gate.rule
    for attr in outcomes.attributes:
        gated = limit is not None and (len(attr.attributes) == 1 or gate.intersections == "gate")
        for g in attr.groups:
            if not g.included_in_ratios:
                verdict: Verdict = "INFO"
                detail = f"share {g.share:.2%} is below min_share: reported, not in the ratios"
            elif g.group == attr.reference_group:
                verdict, detail = "INFO", "reference group (lowest adverse rate)"
            elif not gated:
                verdict = "INFO"
                detail = (
                    "reported, not gated (the gate sets no min_adverse_impact_ratio)"
                    if limit is None
                    else "intersections are reported, not gated"
                )
            elif g.insufficient:
                verdict, detail = "INSUFFICIENT_DATA", f"fewer than {gate.min_group_size} rows"
            else:
                judged = _judged(
                    g.adverse_impact_ratio,
                    g.adverse_impact_ratio_ci_low,
                    g.adverse_impact_ratio_ci_high,
                    ">=",
                    rule,
                )
                assert limit is not None
                if judged is None:
                    verdict, detail = "INSUFFICIENT_DATA", "undefined"
                else:
                    verdict = "PASS" if judged >= limit else "FAIL"
                    detail = ""
            checks.append(
                Check(
                    id=f"adverse_impact_ratio[{attr.attribute}={g.group}]",
                    kind="adverse_impact_ratio",
                    metric="adverse_impact_ratio",
                    basis=f"adverse outcome under policy version {policy.version}: score <"
                    f" decline_below {policy.decline_below:g} (declined, or referred for review)",
                    attribute=attr.attribute,
                    group=g.group,
                    value=g.adverse_impact_ratio,
                    ci_low=g.adverse_impact_ratio_ci_low,
                    ci_high=g.adverse_impact_ratio_ci_high,
                    threshold=limit,
                    comparator=">=",
                    verdict=verdict,
                    detail=detail,
                )
            )
    return checks
