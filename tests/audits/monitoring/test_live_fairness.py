"""Live fairness: rates counted by hand, the audit's numbers, fairlearn's equalized odds, intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import equalized_odds_difference

from audits.fairness import evaluate_fairness
from audits.monitoring import MonitoringInputError, live_fairness
from audits.monitoring.fairness import unknown_by_window

OUTCOMES = {
    "f": ["approved", "approved", "referred", "declined"],
    "m": ["approved", "declined", "declined", "referred", "referred"],
    "x": ["approved", "declined"],
}
LABELS = {"f": [1, 0, 1, 0], "m": [1, 1, 0, 0, 1], "x": [1, 0]}


def _frame() -> pd.DataFrame:
    rows = [
        {"sex": group, "outcome": outcome, "label": label}
        for group, outcomes in OUTCOMES.items()
        for outcome, label in zip(outcomes, LABELS[group], strict=True)
    ]
    rows.append({"sex": None, "outcome": "approved", "label": np.nan})
    frame = pd.DataFrame(rows)
    frame.insert(0, "decision_id", [f"d{i}" for i in range(len(frame))])
    frame.insert(1, "decided_at", pd.Timestamp("2026-11-02 09:00"))
    return frame


def test_rates_ratios_and_gaps_by_group_counted_by_hand() -> None:
    # when: x has 2 rows, below min_group_size 3
    rows, summaries = live_fairness(_frame(), ["sex"], "day", min_group_size=3, n_boot=0)

    # then
    by = {r.group: r for r in rows}
    assert sorted(by) == ["f", "m", "x"]
    assert (by["f"].n, by["m"].n, by["x"].n) == (4, 5, 2)
    assert by["f"].approval_rate.value == 2 / 4
    assert by["f"].referral_rate.value == 1 / 4
    assert by["f"].decline_rate.value == 1 / 4
    assert by["m"].approval_rate.value == pytest.approx(1 / 5)
    assert by["m"].referral_rate.value == pytest.approx(2 / 5)
    assert by["m"].approval_impact_ratio.value == pytest.approx((1 / 5) / (2 / 4))
    assert by["f"].approval_impact_ratio.value == 1.0
    # suppressed: reported, but not as numbers
    assert by["x"].suppressed and by["x"].approval_rate.suppressed
    assert by["x"].approval_rate.value is None and by["x"].approval_impact_ratio.value is None
    (summary,) = summaries
    assert summary.groups_compared == 2
    assert summary.lowest_group == "m"
    assert summary.min_approval_impact_ratio == pytest.approx(0.4)
    assert summary.referral_rate_gap == pytest.approx(2 / 5 - 1 / 4)
    assert summary.decline_rate_gap == pytest.approx(2 / 5 - 1 / 4)
    assert unknown_by_window(_frame(), ["sex"], "day") == {rows[0].window: 1}


def test_the_same_rates_and_impact_ratios_as_the_audit() -> None:
    # given: the audit on the groups that are not suppressed, every group in its ratios
    frame = _frame()
    shown = frame[frame["sex"].isin(["f", "m"])]
    audit = evaluate_fairness(
        np.zeros(len(shown), dtype=int),
        (shown["outcome"] == "approved").astype(int),
        {"sex": shown["sex"].to_numpy()},
        min_group_size=3,
        min_share=0.0,
        n_boot=0,
    ).attribute("sex")

    # when
    rows, _ = live_fairness(frame, ["sex"], "day", min_group_size=3, n_boot=0)

    # then
    for row in rows:
        if row.group == "x":
            continue
        assert row.approval_rate.value == pytest.approx(audit.group(row.group).selection_rate)
        assert row.approval_impact_ratio.value == pytest.approx(audit.group(row.group).impact_ratio)


def test_with_labels_equalized_odds_matches_fairlearn() -> None:
    # given: every group has both outcomes, so fairlearn's and Docket's conventions agree
    frame = _frame()
    known = frame[frame["sex"].notna()]

    # when
    rows, (summary,) = live_fairness(frame, ["sex"], "day", min_group_size=1, n_boot=0)

    # then
    expected = equalized_odds_difference(
        known["label"].astype(int),
        (known["outcome"] == "approved").astype(int),
        sensitive_features=known["sex"],
    )
    assert summary.equalized_odds_difference == pytest.approx(expected)
    assert summary.equalized_odds_difference == pytest.approx(1 - 1 / 3)  # TPR of x minus m
    by = {r.group: r for r in rows}
    assert by["f"].tpr is not None and by["f"].tpr.value == 1 / 2
    assert by["f"].fpr is not None and by["f"].fpr.value == 1 / 2
    assert by["m"].tpr is not None and by["m"].tpr.value == pytest.approx(1 / 3)
    assert by["m"].labelled == 5


def test_intervals_agree_with_the_normal_approximation_on_a_large_window() -> None:
    # given: 400 rows per group, automated approval 50% and 30%
    n = 400
    outcome = ["approved"] * 200 + ["declined"] * 200 + ["approved"] * 120 + ["referred"] * 280
    frame = pd.DataFrame(
        {
            "decision_id": [f"d{i}" for i in range(2 * n)],
            "decided_at": pd.Timestamp("2026-11-02 09:00"),
            "outcome": outcome,
            "sex": ["f"] * n + ["m"] * n,
        }
    )

    # when
    rows, _ = live_fairness(frame, ["sex"], "day", n_boot=4000, seed=1)
    again, _ = live_fairness(frame, ["sex"], "day", n_boot=4000, seed=1)

    # then: 0.5 +- 1.96 * sqrt(0.25 / 400), 0.3 +- 1.96 * sqrt(0.21 / 400)
    f, m = rows
    assert f.approval_rate.ci_low == pytest.approx(0.5 - 1.96 * 0.025, abs=0.006)
    assert f.approval_rate.ci_high == pytest.approx(0.5 + 1.96 * 0.025, abs=0.006)
    half = 1.96 * np.sqrt(0.21 / 400)
    assert m.approval_rate.ci_low == pytest.approx(0.3 - half, abs=0.006)
    assert m.approval_rate.ci_high == pytest.approx(0.3 + half, abs=0.006)
    assert (
        m.approval_impact_ratio.ci_low is not None and m.approval_impact_ratio.ci_high is not None
    )
    assert m.approval_impact_ratio.ci_low < 0.6 < m.approval_impact_ratio.ci_high
    assert rows == again


def test_without_attributes_nothing_by_group_and_bad_input_is_named() -> None:
    frame = _frame()
    assert live_fairness(frame, [], "day") == ([], [])
    with pytest.raises(MonitoringInputError, match=r"needs column\(s\) \['race'\]"):
        live_fairness(frame, ["race"], "day")
    bad = frame.assign(outcome=frame["outcome"].replace("referred", "sent to review"))
    with pytest.raises(
        MonitoringInputError,
        match=r"column 'outcome' must hold one of \['approved', 'declined', 'referred'\]"
        r" \(got 'sent to review' in 3 rows\)",
    ):
        live_fairness(bad, ["sex"], "day")
    with pytest.raises(MonitoringInputError, match=r"column 'label' must hold 0, 1 or missing"):
        live_fairness(frame.assign(label=2), ["sex"], "day")


def test_a_days_intervals_do_not_depend_on_the_other_days_in_the_frame() -> None:
    # given: the same day alone and after another day
    day = _frame()
    before = _frame().assign(
        decision_id=lambda f: "b" + f["decision_id"],
        decided_at=pd.Timestamp("2026-11-01 09:00"),
    )

    # when
    alone, _ = live_fairness(day, ["sex"], "day", min_group_size=1, n_boot=300, seed=5)
    both, _ = live_fairness(
        pd.concat([before, day], ignore_index=True),
        ["sex"],
        "day",
        min_group_size=1,
        n_boot=300,
        seed=5,
    )

    # then
    later = [r for r in both if r.window == alone[0].window]
    assert later == alone
    assert alone[0].approval_rate.ci_low is not None
