"""The served policy's outcome mix by group, checked against hand computation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits.audit import evaluate_gate
from audits.checks import adverse_impact_checks
from audits.fairness import evaluate_fairness
from audits.outcomes import evaluate_outcomes
from models.policy import PolicyOutcomes, policy_outcomes
from models.spec import Gate, Policy
from tests.audits.helpers import make_spec, synthetic_rows

# 10 rows, two groups; outcome codes 0 approved, 1 referred, 2 declined
#            a  a  a  a  a  a  b  b  b  b
OUTCOME = [0, 0, 0, 1, 1, 2, 0, 1, 2, 2]
RECOMMEND = ["approve", "approve", "approve", "decline", "uncertain", "decline",
             "approve", "decline", "decline", "decline"]  # fmt: skip
GROUP = ["a"] * 6 + ["b"] * 4


def _outcomes() -> PolicyOutcomes:
    return PolicyOutcomes(
        outcome=np.array(OUTCOME, dtype=np.int64),
        recommendation=np.array(RECOMMEND),
        fired={"uncertain_score": np.array([x == "uncertain" for x in RECOMMEND])},
    )


def test_rates_and_adverse_impact_ratios_by_hand() -> None:
    result = evaluate_outcomes(_outcomes(), {"g": GROUP}, min_group_size=1, n_boot=0)
    a, b = result.attribute("g").group("a"), result.attribute("g").group("b")
    # a: 3 approved, 2 referred (one with a decline recommendation), 1 declined
    assert (a.n, a.approved, a.referred, a.declined, a.adverse) == (6, 3, 2, 1, 2)
    assert a.approval_rate == pytest.approx(3 / 6)
    assert a.referral_rate == pytest.approx(2 / 6)
    assert a.decline_rate == pytest.approx(1 / 6)
    assert a.adverse_rate == pytest.approx(2 / 6)
    # b: 1 approved, 1 referred for adverse review, 2 declined: adverse 3 of 4
    assert (b.approved, b.referred, b.declined, b.adverse) == (1, 1, 2, 3)
    assert b.adverse_rate == pytest.approx(3 / 4)
    # lowest adverse rate (a: 1/3) over each group's own
    assert a.adverse_impact_ratio == pytest.approx(1.0)
    assert b.adverse_impact_ratio == pytest.approx((2 / 6) / (3 / 4))
    assert result.attribute("g").reference_group == "a"
    assert result.overall.approval_rate == pytest.approx(4 / 10)
    assert result.overall.adverse == 5
    assert result.referral_rules == {"uncertain_score": 1}
    assert a.approval_rate_ci_low is None  # no resamples, no intervals


def test_small_groups_are_reported_but_left_out_of_the_ratios() -> None:
    groups = ["a"] * 6 + ["b"] * 4
    result = evaluate_outcomes(_outcomes(), {"g": groups}, min_share=0.5, n_boot=0)
    b = result.attribute("g").group("b")
    assert not b.included_in_ratios and b.adverse_impact_ratio is None
    assert b.insufficient  # 4 rows < the default minimum size of 30
    assert b.adverse_rate == pytest.approx(3 / 4)


def test_intersections_sum_to_their_attributes() -> None:
    other = ["x", "y"] * 5
    result = evaluate_outcomes(
        _outcomes(), {"g": GROUP, "h": other}, min_group_size=1, n_boot=50, seed=3
    )
    cross = result.attribute("g & h")
    for label in ("a", "b"):
        parts = [r for r in cross.groups if r.group.startswith(f"g={label} ")]
        whole = result.attribute("g").group(label)
        assert sum(r.n for r in parts) == whole.n
        assert sum(r.adverse for r in parts) == whole.adverse


def test_intervals_are_seeded_and_cover_the_estimate() -> None:
    rng = np.random.default_rng(0)
    n = 2000
    scores = rng.uniform(0, 1, n)
    frame = pd.DataFrame({"amount": rng.uniform(0, 100, n)})
    groups = {"g": rng.choice(["a", "b", "c"], n)}
    decided = policy_outcomes(Policy(approve_at=0.6, decline_below=0.3), scores, frame)
    one = evaluate_outcomes(decided, groups, n_boot=200, seed=9)
    two = evaluate_outcomes(decided, groups, n_boot=200, seed=9)
    assert one == two
    for row in one.attribute("g").groups:
        assert row.approval_rate_ci_low <= row.approval_rate <= row.approval_rate_ci_high  # type: ignore[operator]
        # a binomial rate's percentile interval is about +-1.96 standard errors wide
        se = np.sqrt(row.approval_rate * (1 - row.approval_rate) / row.n)  # type: ignore[operator]
        width = row.approval_rate_ci_high - row.approval_rate_ci_low  # type: ignore[operator]
        assert width == pytest.approx(2 * 1.96 * se, rel=0.25)


def test_adverse_impact_is_gated_only_when_the_gate_sets_a_minimum() -> None:
    result = evaluate_outcomes(_outcomes(), {"g": GROUP}, min_group_size=1, n_boot=0)
    policy = Policy(approve_at=0.7, decline_below=0.3)
    reported = adverse_impact_checks(result, Gate(min_group_size=1), policy)
    assert {c.verdict for c in reported} == {"INFO"}
    gated = adverse_impact_checks(
        result, Gate(min_group_size=1, min_adverse_impact_ratio=0.8), policy
    )
    verdicts = {c.group: c.verdict for c in gated}
    assert verdicts == {"a": "INFO", "b": "FAIL"}  # a is the reference; b's ratio is 0.44
    assert "score < decline_below 0.3" in gated[0].basis


def test_the_gate_judges_automated_approval_under_the_policy() -> None:
    spec = make_spec()  # policy: approve at 0.6, refer adverse, refer amounts above 4000
    y, scores, groups = synthetic_rows(1200, seed=2)
    amounts = pd.DataFrame({"amount": np.random.default_rng(4).uniform(100, 5000, 1200)})
    evaluation = evaluate_gate(spec, y, scores, groups, amounts)
    # independently: approved when score >= 0.6 and the amount rule does not fire
    approved = ((scores >= 0.6) & ~(amounts["amount"].to_numpy() > 4000)).astype(int)
    assert evaluation.basis == "policy"
    assert np.array_equal(evaluation.decisions, approved)
    expected = evaluate_fairness(
        y, approved, {c: groups[c].to_numpy() for c in groups.columns}, scores,
        min_group_size=50, n_boot=0,
    )  # fmt: skip
    got = evaluation.fairness.attribute("age_band").group("18-34")
    want = expected.attribute("age_band").group("18-34")
    assert got.selection_rate == want.selection_rate
    assert got.impact_ratio == want.impact_ratio
    assert evaluation.served_fairness is None
    ratio_checks = [c for c in evaluation.checks if c.kind == "impact_ratio"]
    assert all("automated approval" in c.basis for c in ratio_checks)


def test_a_justified_threshold_is_gated_and_the_served_policy_still_shown() -> None:
    raw_gate = {"decision_threshold": 0.45, "decision_threshold_justification": "x" * 25}
    base = make_spec()
    spec = base.model_copy(update={"gate": base.gate.model_copy(update=raw_gate)})  # type: ignore[union-attr]
    y, scores, groups = synthetic_rows(1200, seed=2)
    amounts = pd.DataFrame({"amount": np.full(1200, 500.0)})
    evaluation = evaluate_gate(spec, y, scores, groups, amounts)
    assert evaluation.basis == "decision_threshold"
    assert np.array_equal(evaluation.decisions, (scores >= 0.45).astype(int))
    assert evaluation.served_fairness is not None
    served = evaluation.served_fairness.attribute("age_band").group("35-54")
    rows = (groups["age_band"] == "35-54").to_numpy()
    assert served.selection_rate == pytest.approx(float((scores[rows] >= 0.6).mean()))
    assert all(
        c.basis.startswith("score >= decision_threshold 0.45")
        for c in evaluation.checks
        if c.kind == "impact_ratio"
    )
