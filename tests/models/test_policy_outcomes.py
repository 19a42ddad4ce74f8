"""Many rows decided at once agree with the one-case policy the service applies."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.policy import OUTCOMES, apply_policy, policy_outcomes
from models.spec import Policy, PolicyRule

CATEGORIES = ["rent", "own", "other"]


@st.composite
def cases(draw: st.DrawFn) -> tuple[Policy, pd.DataFrame, np.ndarray, np.ndarray]:
    decline = draw(st.floats(0.05, 0.6))
    approve = draw(st.floats(decline, 0.95))
    rules = []
    if draw(st.booleans()):
        rules.append(
            PolicyRule(feature="amount", above=draw(st.floats(0, 5000)), reason="Large amounts.")
        )
    if draw(st.booleans()):
        rules.append(
            PolicyRule(feature="amount", below=draw(st.floats(0, 5000)), reason="Small amounts.")
        )
    if draw(st.booleans()):
        rules.append(
            PolicyRule(
                feature="housing", equals=draw(st.sampled_from(CATEGORIES)), reason="Housing rule."
            )
        )
    policy = Policy(
        approve_at=approve,
        decline_below=decline,
        refer_adverse=draw(st.booleans()),
        refer_out_of_distribution=draw(st.booleans()),
        rules=rules,
    )
    n = draw(st.integers(1, 30))
    amounts = draw(st.lists(st.one_of(st.none(), st.floats(0, 6000)), min_size=n, max_size=n))
    housing = draw(
        st.lists(st.one_of(st.none(), st.sampled_from(CATEGORIES)), min_size=n, max_size=n)
    )
    # scores on and around the thresholds as well as anywhere
    score = st.one_of(st.floats(0, 1), st.sampled_from([approve, decline]))
    scores = np.array(draw(st.lists(score, min_size=n, max_size=n)))
    ood = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    frame = pd.DataFrame(
        {"amount": [np.nan if a is None else a for a in amounts], "housing": housing}
    )
    return policy, frame, scores, ood


@settings(max_examples=150, deadline=None)
@given(cases())
def test_policy_outcomes_match_apply_policy_row_by_row(
    case: tuple[Policy, pd.DataFrame, np.ndarray, np.ndarray],
) -> None:
    policy, frame, scores, ood = case
    many = policy_outcomes(policy, scores, frame, ood)
    for i in range(len(frame)):
        amount = frame["amount"].iloc[i]
        features = {
            "amount": None if math.isnan(amount) else float(amount),
            "housing": frame["housing"].iloc[i],
        }
        one = apply_policy(
            policy,
            float(scores[i]),
            features,
            out_of_distribution=["x: outside"] if ood[i] else [],
            consent=True,
            stopped=False,
        )
        assert OUTCOMES[many.outcome[i]] == one.outcome
        assert many.recommendation[i] == one.recommendation
        fired = {name for name, mask in many.fired.items() if mask[i]}
        assert fired == {r.rule for r in one.referral_reasons}


def test_rates_and_adverse_by_hand() -> None:
    policy = Policy(approve_at=0.7, decline_below=0.3, refer_adverse=False)
    frame = pd.DataFrame({"amount": [1.0, 2.0, 3.0, 4.0]})
    out = policy_outcomes(policy, np.array([0.9, 0.5, 0.1, 0.7]), frame)
    assert [OUTCOMES[o] for o in out.outcome] == ["approved", "referred", "declined", "approved"]
    assert out.rates() == {"approved": 0.5, "referred": 0.25, "declined": 0.25}
    assert out.adverse.tolist() == [False, False, True, False]
    assert out.approved.tolist() == [1, 0, 0, 1]


def test_a_rule_on_a_missing_column_is_a_clear_error() -> None:
    policy = Policy(
        approve_at=0.7,
        decline_below=0.3,
        rules=[PolicyRule(feature="amount", above=10, reason="Large amounts.")],
    )
    with pytest.raises(ValueError, match="'amount'"):
        policy_outcomes(policy, np.array([0.5]), pd.DataFrame({"other": [1]}))
