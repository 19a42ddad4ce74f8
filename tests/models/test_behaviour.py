"""Behavioural tests of the shipped models on real rows (directional, invariance, exactness)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

USE_CASES = ["credit-eligibility", "retention-propensity"]


@pytest.mark.parametrize("use_case", USE_CASES)
def test_monotone_features_never_move_the_score_the_wrong_way(shipped: dict, use_case: str) -> None:
    # given real rows and every feature the spec declares monotone
    t = shipped[use_case]
    X = t.model.encode(t.dataset.frame.iloc[t.split.test[:150]])
    monotone = {n: f for n, f in t.spec.features.items() if f.monotone}
    if not monotone:
        pytest.skip(f"{use_case} declares no monotone feature")
    for name, feat in monotone.items():
        j = t.model.feature_names.index(name)
        grid = np.linspace(feat.min, feat.max, 25)
        # when each row's value is swept across the allowed range
        scores = np.empty((X.shape[0], grid.size))
        for k, v in enumerate(grid):
            Xk = X.copy()
            Xk[:, j] = v
            scores[:, k] = t.model.score(Xk)
        # then the score moves only in the declared direction
        steps = np.diff(scores, axis=1)
        if feat.monotone == "increasing":
            assert steps.min() >= -1e-12, (name, steps.min())
        else:
            assert steps.max() <= 1e-12, (name, steps.max())


@pytest.mark.parametrize("use_case", USE_CASES)
def test_sensitive_attributes_alone_do_not_move_the_score(shipped: dict, use_case: str) -> None:
    t = shipped[use_case]
    rows = t.dataset.frame.iloc[t.split.test[:100]].copy()
    before = t.model.predict_proba(rows)[:, 1]
    for attr in t.spec.raw_columns():
        if attr in t.spec.features or attr == t.spec.data.target:
            continue
        changed = rows.copy()
        values = changed[attr].dropna().unique()
        changed[attr] = np.roll(changed[attr].to_numpy(), 1) if len(values) > 1 else changed[attr]
        np.testing.assert_array_equal(t.model.predict_proba(changed)[:, 1], before)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_contributions_add_up_exactly(shipped: dict, use_case: str) -> None:
    t = shipped[use_case]
    X = t.model.encode(t.dataset.frame.iloc[t.split.test])
    phi, base = t.model.contributions(X)
    assert phi.shape == X.shape
    np.testing.assert_allclose(base + phi.sum(axis=1), t.model.log_odds(X), rtol=0, atol=1e-9)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_record_and_frame_encodings_agree(shipped: dict, use_case: str) -> None:
    t = shipped[use_case]
    frame = t.dataset.frame.iloc[:200]
    records = frame[t.model.feature_names].to_dict(orient="records")
    records = [{k: (None if v != v else v) for k, v in r.items()} for r in records]
    np.testing.assert_array_equal(t.model.encode_records(records), t.model.encode(frame))


@settings(max_examples=40, deadline=None)
@given(
    debt_a=st.floats(0, 50000),
    debt_b=st.floats(0, 50000),
    amount=st.floats(100, 5000),
)
def test_more_debt_never_raises_eligibility(
    shipped: dict, debt_a: float, debt_b: float, amount: float
) -> None:
    t = shipped["credit-eligibility"]
    X = t.model.encode(t.dataset.frame.iloc[:20])
    j_debt = t.model.feature_names.index("Debt")
    j_amount = t.model.feature_names.index("Amount")
    lo, hi = sorted((debt_a, debt_b))
    X[:, j_amount] = amount
    X_lo, X_hi = X.copy(), X.copy()
    X_lo[:, j_debt], X_hi[:, j_debt] = lo, hi
    assert np.all(t.model.score(X_hi) <= t.model.score(X_lo) + 1e-12)
