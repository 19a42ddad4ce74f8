"""The human-plus-model figures on eleven decisions whose every figure is counted by hand."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from audits.monitoring import MonitoringInputError, SystemRow, system_by_group

AT = pd.Timestamp("2026-11-02 08:00")

# sex, outcome, recommendation, reviewer, final, hours to final, appealed, upheld
CASES: list[tuple[Any, ...]] = [
    ("f", "referred", "approve", "r1", "approved", 2, False, None),
    ("f", "referred", "approve", "r1", "declined", 4, True, False),
    ("f", "referred", "decline", "r1", "approved", 6, False, None),
    ("f", "referred", "uncertain", "r2", "declined", 8, True, None),  # appeal pending
    ("f", "approved", None, None, "approved", 0, False, None),
    ("f", "declined", None, None, "declined", 0, True, True),
    ("m", "referred", "approve", "r1", "approved", 1, False, None),
    ("m", "referred", "decline", "r1", "declined", 3, False, None),
    ("m", "referred", "decline", "r2", None, None, False, None),  # still pending
    ("m", "approved", None, None, "approved", 0, False, None),
    ("m", "declined", None, None, "declined", 0, True, False),
]


def _frame() -> pd.DataFrame:
    columns = ["sex", "outcome", "model_recommendation", "reviewer", "final_outcome"]
    frame = pd.DataFrame([c[:5] for c in CASES], columns=columns)
    frame.insert(0, "decision_id", [f"d{i}" for i in range(len(CASES))])
    frame.insert(1, "decided_at", AT)
    hours = pd.to_timedelta([c[5] for c in CASES], unit="h")
    frame["resolved_at"] = AT + hours
    frame["appealed"] = [c[6] for c in CASES]
    frame["appeal_upheld"] = pd.array([c[7] for c in CASES], dtype="boolean")
    return frame


def _values(row: SystemRow) -> dict[str, float | None]:
    return {name: fig.value for name, fig in row.figures.items()}


def test_figures_by_group_counted_by_hand() -> None:
    # when
    rows = system_by_group(_frame(), ["sex"], "day", min_group_size=1)

    # then
    by = {(r.group, r.reviewer): r for r in rows}
    assert sorted(by, key=str) == sorted(
        [("f", None), ("m", None), ("f", "r1"), ("f", "r2"), ("m", "r1"), ("m", "r2")], key=str
    )
    assert _values(by[("f", None)]) == pytest.approx(
        {
            "referral_rate": 4 / 6,
            "reviewer_approval_share": 2 / 4,
            "override_rate": 2 / 3,
            "override_to_decline": 1 / 2,
            "override_to_approve": 1 / 1,
            "appeal_rate": 3 / 6,
            "appeal_success": 1 / 2,
            "median_hours_to_final": 5.0,
        }
    )
    assert _values(by[("m", None)]) == pytest.approx(
        {
            "referral_rate": 3 / 5,
            "reviewer_approval_share": 1 / 2,
            "override_rate": 0.0,
            "override_to_decline": 0.0,
            "override_to_approve": 0.0,
            "appeal_rate": 1 / 5,
            "appeal_success": 0.0,
            "median_hours_to_final": 2.0,
        }
    )
    assert by[("f", None)].n == 6 and by[("f", "r1")].n == 3


def test_figures_per_reviewer_within_each_group() -> None:
    # when
    rows = system_by_group(_frame(), ["sex"], "day", min_group_size=1)

    # then: r1 resolved three cases of f; a reviewer's appeal rate is over resolved cases
    by = {(r.group, r.reviewer): r for r in rows}
    r1_f = by[("f", "r1")]
    assert "referral_rate" not in r1_f.figures
    assert _values(r1_f) == pytest.approx(
        {
            "reviewer_approval_share": 2 / 3,
            "override_rate": 2 / 3,
            "override_to_decline": 1 / 2,
            "override_to_approve": 1.0,
            "appeal_rate": 1 / 3,
            "appeal_success": 0.0,
            "median_hours_to_final": 4.0,
        }
    )
    # r2's case of f had no approve/decline recommendation, its case of m is pending
    assert by[("f", "r2")].figures["override_rate"].n == 0
    assert by[("f", "r2")].figures["override_rate"].value is None
    assert by[("m", "r2")].figures["reviewer_approval_share"].n == 0
    assert by[("m", "r2")].figures["median_hours_to_final"].value is None


def test_small_groups_are_suppressed_not_reported() -> None:
    # when: min_group_size 4
    rows = system_by_group(_frame(), ["sex"], "day", min_group_size=4)

    # then: f rests on 6 decisions and 4 resolved referrals, but only 3 judged ones
    f = next(r for r in rows if r.group == "f" and r.reviewer is None)
    assert f.figures["referral_rate"].value == pytest.approx(4 / 6)
    assert f.figures["reviewer_approval_share"].value == pytest.approx(2 / 4)
    override = f.figures["override_rate"]
    assert (override.value, override.n, override.suppressed) == (None, 3, True)
    assert all(
        fig.value is None and fig.suppressed
        for r in rows
        if r.reviewer
        for fig in r.figures.values()
    )


def test_missing_or_bad_review_columns_are_named() -> None:
    frame = _frame()
    with pytest.raises(
        MonitoringInputError, match=r"the human-plus-model figures needs column\(s\) \['appealed'\]"
    ):
        system_by_group(frame.drop(columns="appealed"), ["sex"], "day")
    bad = frame.assign(final_outcome=frame["final_outcome"].replace("declined", "rejected"))
    with pytest.raises(
        MonitoringInputError,
        match=r"column 'final_outcome' must hold one of \['approved', 'declined'\] or missing"
        r" \(got 'rejected' in 5 rows\)",
    ):
        system_by_group(bad, ["sex"], "day")
    early = frame.assign(resolved_at=frame["resolved_at"] - pd.Timedelta(hours=1))
    with pytest.raises(
        MonitoringInputError, match=r"'resolved_at' must not be before 'decided_at'"
    ):
        system_by_group(early, ["sex"], "day")
    with pytest.raises(
        MonitoringInputError, match=r"'appealed' must hold True or False \(got 'yes' in 11 rows\)"
    ):
        system_by_group(frame.assign(appealed="yes"), ["sex"], "day")
