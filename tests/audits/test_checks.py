"""Gate checks: thresholds, rules, and never PASS on missing data."""

from __future__ import annotations

import numpy as np
import pytest

from audits.audit import champion_checks
from audits.checks import Check, fairness_checks, outcome_of, threshold_check
from audits.fairness import evaluate_fairness
from models.spec import Gate


def _check(verdict: str) -> Check:
    return Check(
        id="x",
        kind="performance",
        metric="m",
        value=1.0,
        threshold=0.5,
        comparator=">=",
        verdict=verdict,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("verdicts", "outcome"),
    [
        (["PASS", "INFO"], "PASS"),
        (["PASS", "INSUFFICIENT_DATA"], "INSUFFICIENT_DATA"),
        (["INSUFFICIENT_DATA", "FAIL", "PASS"], "FAIL"),
        (["INFO"], "PASS"),
    ],
)
def test_outcome(verdicts: list[str], outcome: str) -> None:
    assert outcome_of([_check(v) for v in verdicts]) == outcome


@pytest.mark.parametrize(
    ("rule", "verdict"),
    [("point", "PASS"), ("confidence_bound", "FAIL")],
)
def test_rule_chooses_point_or_adverse_bound(rule: str, verdict: str) -> None:
    c = threshold_check(
        id="roc_auc",
        kind="performance",
        metric="roc_auc",
        value=0.80,
        ci_low=0.74,
        ci_high=0.85,
        threshold=0.75,
        comparator=">=",
        rule=rule,
    )
    assert c.verdict == verdict


def test_upper_bound_for_maximums() -> None:
    c = threshold_check(
        id="eod",
        kind="summary",
        metric="equalized_odds_difference",
        value=0.1,
        ci_low=0.05,
        ci_high=0.25,
        threshold=0.2,
        comparator="<=",
        rule="confidence_bound",
    )
    assert c.verdict == "FAIL"


def test_insufficient_or_undefined_is_never_pass() -> None:
    for kwargs in ({"insufficient": True}, {"value": None}):
        c = threshold_check(
            **{
                "id": "x",
                "kind": "summary",
                "metric": "m",
                "value": 0.0,
                "ci_low": None,
                "ci_high": None,
                "threshold": 0.2,
                "comparator": "<=",
                "rule": "point",
                **kwargs,
            }
        )
        assert c.verdict == "INSUFFICIENT_DATA"


def _biased(n: int = 4000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    g = rng.choice(["a", "b", "tiny"], size=n, p=[0.6, 0.385, 0.015])
    y = rng.integers(0, 2, n)
    p_sel = np.where(g == "a", 0.6, 0.4)
    yhat = (rng.random(n) < p_sel).astype(int)
    return y, yhat, {"g": g}


def test_impact_ratio_below_threshold_fails_and_small_group_is_info() -> None:
    y, yhat, sens = _biased()
    result = evaluate_fairness(y, yhat, sens, n_boot=50, seed=1, min_group_size=30)
    checks = {c.id: c for c in fairness_checks(result, Gate(max_equalized_odds_difference=None))}
    assert checks["impact_ratio[g=b]"].verdict == "FAIL"
    assert checks["impact_ratio[g=a]"].verdict == "INFO"  # reference group
    tiny = checks["impact_ratio[g=tiny]"]
    assert tiny.verdict == "INFO" and tiny.detail


def test_significance_rule_uses_corrected_p_values() -> None:
    # given a small, noisy sample where group b looks a little worse
    rng = np.random.default_rng(3)
    g = np.array(["a"] * 60 + ["b"] * 60)
    yhat = np.concatenate([rng.random(60) < 0.55, rng.random(60) < 0.42]).astype(int)
    y = rng.integers(0, 2, 120)
    result = evaluate_fairness(y, yhat, {"g": g}, n_boot=50, seed=1, min_group_size=30)
    ir = result.attribute("g").group("b").impact_ratio
    gate_point = Gate(min_impact_ratio=0.9, max_equalized_odds_difference=None)
    gate_sig = Gate(min_impact_ratio=0.9, max_equalized_odds_difference=None, rule="significance")
    # then the point rule fails it, the significance rule does not (the difference is not significant)
    assert ir is not None and ir < 0.9
    point = {c.id: c for c in fairness_checks(result, gate_point)}["impact_ratio[g=b]"]
    sig = {c.id: c for c in fairness_checks(result, gate_sig)}["impact_ratio[g=b]"]
    assert point.verdict == "FAIL"
    assert sig.verdict == "PASS" and "adjusted p" in sig.detail


def test_intersections_can_be_reported_without_gating() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    sens = {"a": rng.choice(["x", "y"], n), "b": rng.choice(["u", "v"], n)}
    yhat = (rng.random(n) < np.where(sens["a"] == "x", 0.3, 0.6)).astype(int)
    y = rng.integers(0, 2, n)
    result = evaluate_fairness(y, yhat, sens, n_boot=20, seed=1)
    checks = fairness_checks(result, Gate(intersections="report"))
    inter = [c for c in checks if c.attribute == "a & b"]
    assert inter and all(c.verdict == "INFO" for c in inter)
    assert any(c.verdict == "FAIL" for c in checks if c.attribute == "a")


def test_champion_regression_beyond_tolerance_fails() -> None:
    gate = Gate()
    champion = {"roc_auc": 0.85, "min_impact_ratio": 0.9, "equalized_odds_difference": 0.05}
    ok = {"roc_auc": 0.84, "min_impact_ratio": 0.88, "equalized_odds_difference": 0.09}
    worse = {"roc_auc": 0.80, "min_impact_ratio": 0.82, "equalized_odds_difference": 0.2}
    assert {c.verdict for c in champion_checks(ok, champion, gate, "3")} == {"PASS"}
    verdicts = {c.metric: c.verdict for c in champion_checks(worse, champion, gate, "3")}
    assert verdicts == {
        "roc_auc": "FAIL",
        "min_impact_ratio": "FAIL",
        "equalized_odds_difference": "FAIL",
    }
