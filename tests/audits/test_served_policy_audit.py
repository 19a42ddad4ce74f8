"""On the shipped credit model, the audit's figures are those of the decisions the service makes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audits.audit import audit_rows
from tests.conftest import Trained


@pytest.fixture
def credit(shipped: dict[str, Trained]) -> Trained:
    return shipped["credit-eligibility"]


def test_age_band_impact_ratio_is_that_of_automated_approval(credit: Trained) -> None:
    spec, model = credit.spec, credit.model
    assert spec.policy is not None and spec.gate is not None
    rows = credit.dataset.frame.iloc[credit.split.test].assign(
        __target=credit.dataset.y[credit.split.test]
    )
    evaluation = audit_rows(spec, model, rows)

    # independently, row by row as the service decides: score at approve_at, the
    # Amount rule, and the single-row out-of-distribution check
    scores = model.predict_proba(rows)[:, 1]
    X = model.encode(rows)
    ood = np.array([bool(model.out_of_distribution(X[i : i + 1])) for i in range(len(rows))])
    rule = spec.policy.rules[0]
    assert rule.feature == "Amount" and rule.above is not None
    approved = (scores >= spec.policy.approve_at) & ~(rows["Amount"].to_numpy() > rule.above)
    approved &= ~ood
    band = spec.derived["age_band"]
    bands = pd.cut(rows[band.source], bins=band.edges, labels=band.labels, right=False)
    rates = pd.Series(approved).groupby(bands.to_numpy(), observed=True).mean()
    shares = pd.Series(bands.to_numpy()).value_counts(normalize=True)
    included = [g for g in rates.index if shares[g] >= spec.gate.min_share_for_ratios]
    expected = rates["18-24"] / rates[included].max()

    got = evaluation.fairness.attribute("age_band").group("18-24")
    assert got.impact_ratio == pytest.approx(expected, abs=1e-12)
    outcome = evaluation.outcomes.attribute("age_band").group("18-24")  # type: ignore[union-attr]
    assert outcome.approval_rate == pytest.approx(rates["18-24"], abs=1e-12)

    # the gap the old audit missed: judged at 0.5 the same band looked much closer
    at_half = pd.Series(scores >= 0.5).groupby(bands.to_numpy(), observed=True).mean()
    assert got.impact_ratio < at_half["18-24"] / at_half[included].max()
