"""Drift: PSI hand-computed, KS and chi-square checked against scipy, PSI's properties by hypothesis."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency, ks_2samp

from audits.monitoring import (
    MonitoringInputError,
    drift_by_window,
    population_stability_index,
    psi_of_samples,
    reference_bins,
    window_codes,
)
from audits.monitoring.drift import PSI_FLOOR


def _psi_by_hand(expected: list[int], actual: list[int]) -> float:
    e = [max(x / sum(expected), PSI_FLOOR) for x in expected]
    a = [max(x / sum(actual), PSI_FLOOR) for x in actual]
    return sum((ai - ei) * math.log(ai / ei) for ai, ei in zip(a, e, strict=True))


def test_numeric_psi_on_a_tiny_example_computed_by_hand() -> None:
    # given: the median of 1..10 is 5.5, so two bins [-inf, 5.5) and [5.5, inf), plus missing
    reference = pd.Series([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10], name="x")
    current = pd.Series([1.0, 2, 3, 7, 8, 9, 10, None], name="x")

    # when
    psi = psi_of_samples(reference, current, "numeric", bins=2)

    # then: reference shares 5/10, 5/10, 0 (floored at 1e-4); current 3/8, 4/8, 1/8
    by_hand = (
        (3 / 8 - 0.5) * math.log((3 / 8) / 0.5) + 0.0 + (1 / 8 - 1e-4) * math.log((1 / 8) / 1e-4)
    )
    assert psi == pytest.approx(by_hand, rel=1e-12)
    assert psi == pytest.approx(0.926609, abs=1e-6)
    assert reference_bins(reference, "numeric", 2).labels == (
        "[-inf, 5.5)",
        "[5.5, inf)",
        "(missing)",
    )


def test_categorical_psi_counts_unseen_and_missing_in_their_own_bins() -> None:
    # given: bins a, b, (unseen), (missing)
    reference = pd.Series(["a", "a", "b", "b"], name="purpose")
    current = pd.Series(["a", "c", "c", None], name="purpose")

    # when
    psi = psi_of_samples(reference, current, "categorical")

    # then: reference counts [2, 2, 0, 0], current [1, 0, 2, 1]
    assert psi == pytest.approx(_psi_by_hand([2, 2, 0, 0], [1, 0, 2, 1]), rel=1e-12)
    assert population_stability_index([50, 50], [25, 75]) == pytest.approx(
        0.25 * math.log(2) + 0.25 * math.log(1.5), rel=1e-12
    )


_values = st.lists(
    st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.none()), min_size=1, max_size=60
).filter(lambda xs: any(x is not None for x in xs))
_labels = st.lists(st.sampled_from(["a", "b", "c", None]), min_size=1, max_size=60).filter(
    lambda xs: any(x is not None for x in xs)
)


@settings(max_examples=200, deadline=None)
@given(values=_values, bins=st.integers(2, 12))
def test_psi_of_a_numeric_sample_against_itself_is_zero(
    values: list[float | None], bins: int
) -> None:
    sample = pd.Series(values, dtype="float64", name="x")
    assert psi_of_samples(sample, sample, "numeric", bins) == 0.0


@settings(max_examples=200, deadline=None)
@given(values=_labels)
def test_psi_of_a_categorical_sample_against_itself_is_zero(values: list[str | None]) -> None:
    sample = pd.Series(values, dtype="object", name="x")
    assert psi_of_samples(sample, sample, "categorical") == 0.0


@settings(max_examples=200, deadline=None)
@given(reference=_values, current=_values, bins=st.integers(2, 12))
def test_psi_is_never_negative(
    reference: list[float | None], current: list[float | None], bins: int
) -> None:
    ref = pd.Series(reference, dtype="float64", name="x")
    cur = pd.Series(current, dtype="float64", name="x")
    assert psi_of_samples(ref, cur, "numeric", bins) >= 0.0


@settings(max_examples=200, deadline=None)
@given(
    expected=st.lists(st.integers(0, 50), min_size=1, max_size=8),
    data=st.data(),
)
def test_psi_of_counts_is_never_negative(expected: list[int], data: st.DataObject) -> None:
    actual = data.draw(st.lists(st.integers(0, 50), min_size=len(expected), max_size=len(expected)))
    if sum(expected) == 0 or sum(actual) == 0:
        return
    assert population_stability_index(expected, actual) >= 0.0


def _two_days() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "income": rng.normal(0, 1, 400),
            "purpose": rng.choice(["car", "home", "other"], 400),
            "score": rng.uniform(0, 1, 400),
        }
    )
    n = 300
    day = np.repeat([0, 1], n // 2)
    income = rng.normal(0, 1, n) + np.where(day == 1, 0.8, 0.0)
    income[::17] = np.nan
    purpose = np.where(day == 1, rng.choice(["car", "boat"], n), rng.choice(["car", "home"], n))
    decisions = pd.DataFrame(
        {
            "decided_at": pd.Timestamp("2026-11-03") + pd.to_timedelta(day * 24 + 5, unit="h"),
            "income": income,
            "purpose": purpose,
            "score": rng.uniform(0, 1, n),
        }
    )
    return reference, decisions


def test_ks_per_window_matches_scipy_on_that_window_without_missing_values() -> None:
    # given
    reference, decisions = _two_days()

    # when
    rows = drift_by_window(reference, decisions, {"income": "numeric"}, "day")

    # then
    income = [r for r in rows if r.column == "income"]
    assert [r.window.label for r in income] == ["day 2026-11-03", "day 2026-11-04"]
    for row, day in zip(income, ("2026-11-03", "2026-11-04"), strict=True):
        values = decisions.loc[decisions["decided_at"].dt.strftime("%Y-%m-%d") == day, "income"]
        expected = ks_2samp(reference["income"], values.dropna())
        assert row.test == "ks"
        assert row.statistic == pytest.approx(expected.statistic, rel=1e-12)
        assert row.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        assert row.n == len(values)
        assert row.missing_share == pytest.approx(values.isna().mean())
    assert income[0].p_value is not None and income[1].p_value is not None
    assert income[1].p_value < 1e-6 < income[0].p_value
    assert [r.column for r in rows if r.is_score] == ["score", "score"]


def test_chi_square_per_window_matches_scipy_on_a_crosstab() -> None:
    # given
    reference, decisions = _two_days()

    # when
    rows = drift_by_window(reference, decisions, {"purpose": "categorical"}, "day", score=False)

    # then: the table from pandas, unseen categories ('boat') in one column
    for row in rows:
        day = decisions["decided_at"].dt.date == row.window.start
        seen = {"car", "home", "other"}
        current = decisions.loc[day, "purpose"].where(
            decisions.loc[day, "purpose"].isin(seen), "(unseen)"
        )
        both = pd.concat(
            [
                pd.DataFrame({"sample": "reference", "bin": reference["purpose"]}),
                pd.DataFrame({"sample": "current", "bin": current}),
            ]
        )
        table = pd.crosstab(both["sample"], both["bin"]).to_numpy()
        chi2, p, _, _ = chi2_contingency(table, correction=False)
        assert row.statistic == pytest.approx(chi2, rel=1e-9)
        assert row.p_value == pytest.approx(p, rel=1e-9)
        assert row.unseen == int((current == "(unseen)").sum())
    assert [r.unseen > 0 for r in rows] == [False, True]


def test_weeks_start_on_monday_in_utc() -> None:
    # given: Sunday 2026-11-08 22:30 at UTC-2 is Monday 00:30 UTC
    stamps = pd.Series(
        pd.to_datetime(["2026-11-01 22:00", "2026-11-08 21:59", "2026-11-08 22:30"]).tz_localize(
            "Etc/GMT+2"  # POSIX sign: UTC-2
        )
    )

    # when
    codes, windows = window_codes(stamps, "week")
    day_codes, days = window_codes(stamps, "day")

    # then
    assert [w.label for w in windows] == ["week 2026-11-02", "week 2026-11-09"]
    assert codes.tolist() == [0, 0, 1]
    assert [w.label for w in days] == ["day 2026-11-02", "day 2026-11-08", "day 2026-11-09"]
    assert day_codes.tolist() == [0, 1, 2]


def test_bad_input_names_the_column_and_what_was_found() -> None:
    reference, decisions = _two_days()
    with pytest.raises(
        MonitoringInputError, match=r"the drift reference needs column\(s\) \['duration'\]"
    ):
        drift_by_window(reference, decisions, {"duration": "numeric"}, "day")
    with pytest.raises(MonitoringInputError, match=r"^drift needs column\(s\) \['duration'\]"):
        drift_by_window(reference.assign(duration=1.0), decisions, {"duration": "numeric"}, "day")
    with pytest.raises(
        MonitoringInputError, match=r"'window' must be one of \['day', 'week'\] \(got 'month'\)"
    ):
        drift_by_window(reference, decisions, {"income": "numeric"}, "month")  # type: ignore[arg-type]
    text = decisions.assign(income=decisions["income"].astype(object))
    text.loc[0, "income"] = "lots"
    with pytest.raises(
        MonitoringInputError, match=r"column 'income' is numeric in the spec but holds \['lots'\]"
    ):
        drift_by_window(reference, text, {"income": "numeric"}, "day")
