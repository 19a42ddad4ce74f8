"""Tests of evaluate_fairness: golden table, fairlearn agreement, small groups, p-values."""

import json
import re
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equal_opportunity_ratio,
    equalized_odds_difference,
    equalized_odds_ratio,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from audits.fairness import (
    MESSAGE_CONFIDENCE,
    MESSAGE_CORRECTION,
    MESSAGE_EMPTY,
    MESSAGE_MIN_GROUP_SIZE,
    MESSAGE_MIN_SHARE,
    MESSAGE_N_BOOT,
    MESSAGE_NOT_BINARY,
    MESSAGE_P_VALUES,
    MESSAGE_SCORES_RANGE,
    AttributeResult,
    FairnessResult,
    adjust_p_values,
    evaluate_fairness,
    two_proportion_p_values,
)
from audits.groups import MESSAGE_LENGTH_MISMATCH, MESSAGE_NOT_1D, SUMMARY_NAMES

# Golden table: 20 applicants, (y_true, y_pred, sex, age).
GOLDEN = [
    *[(1, 1, "f", "young"), (1, 0, "f", "young"), (0, 1, "f", "young"), (0, 0, "f", "young")],
    *[(1, 1, "f", "old"), (1, 1, "f", "old"), (1, 0, "f", "old")],
    *[(0, 0, "f", "old"), (0, 0, "f", "old"), (0, 1, "f", "old")],
    *[(1, 1, "m", "young"), (1, 1, "m", "young"), (0, 1, "m", "young"), (0, 0, "m", "young")],
    *[(1, 1, "m", "old"), (1, 0, "m", "old"), (1, 0, "m", "old")],
    *[(0, 0, "m", "old"), (0, 0, "m", "old"), (0, 0, "m", "old")],
]
F = Fraction

# Hand-computed from the table: (selection rate, impact ratio, TPR, FPR) per group.
GOLDEN_GROUPS = {
    "sex": {
        "f": (F(5, 10), F(1), F(3, 5), F(2, 5)),
        "m": (F(4, 10), F(4, 5), F(3, 5), F(1, 5)),
    },
    "age": {
        "old": (F(4, 12), F(8, 15), F(3, 6), F(1, 6)),
        "young": (F(5, 8), F(1), F(3, 4), F(2, 4)),
    },
    "sex & age": {
        "sex=f & age=old": (F(3, 6), F(2, 3), F(2, 3), F(1, 3)),
        "sex=f & age=young": (F(2, 4), F(2, 3), F(1, 2), F(1, 2)),
        "sex=m & age=old": (F(1, 6), F(2, 9), F(1, 3), F(0)),
        "sex=m & age=young": (F(3, 4), F(1), F(1), F(1, 2)),
    },
}
# (DP difference, DP ratio, EO difference, EO ratio, EOpp difference, EOpp ratio).
GOLDEN_SUMMARIES = {
    "sex": (F(1, 10), F(4, 5), F(1, 5), F(1, 2), F(0), F(1)),
    "age": (F(7, 24), F(8, 15), F(1, 3), F(1, 3), F(1, 4), F(2, 3)),
    "sex & age": (F(7, 12), F(2, 9), F(2, 3), F(0), F(2, 3), F(1, 3)),
}

FAIRLEARN_SUMMARIES = {
    "demographic_parity_difference": demographic_parity_difference,
    "demographic_parity_ratio": demographic_parity_ratio,
    "equalized_odds_difference": equalized_odds_difference,
    "equalized_odds_ratio": equalized_odds_ratio,
    "equal_opportunity_difference": equal_opportunity_difference,
    "equal_opportunity_ratio": equal_opportunity_ratio,
}


def _golden() -> pd.DataFrame:
    return pd.DataFrame(GOLDEN, columns=["y_true", "y_pred", "sex", "age"])


def _evaluate_frame(frame: pd.DataFrame, **kwargs: object) -> FairnessResult:
    return evaluate_fairness(
        frame["y_true"].to_numpy(),
        frame["y_pred"].to_numpy(),
        {"sex": frame["sex"].to_numpy(), "age": frame["age"].to_numpy()},
        **kwargs,  # type: ignore[arg-type]
    )


def _features(frame: pd.DataFrame, attribute: AttributeResult) -> pd.DataFrame:
    return frame[attribute.attributes]


def _assert_agrees_with_fairlearn(frame: pd.DataFrame, attribute: AttributeResult) -> None:
    """Summaries and group rates equal fairlearn's on the rows of the included groups."""
    included = {row.group for row in attribute.groups if row.included_in_ratios}
    labels = _group_labels(frame, attribute)
    rows = frame[labels.isin(included)]
    features = _features(rows, attribute)
    for name, function in FAIRLEARN_SUMMARIES.items():
        expected = function(rows["y_true"], rows["y_pred"], sensitive_features=features)
        assert attribute.summary(name).value == pytest.approx(expected, abs=1e-12), name
    frame_metrics = MetricFrame(
        metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
        y_true=rows["y_true"],
        y_pred=rows["y_pred"],
        sensitive_features=features,
    ).by_group.dropna()
    for key, expected_row in frame_metrics.iterrows():
        label = _label(attribute, key)
        row = attribute.group(label)
        assert (row.selection_rate, row.tpr, row.fpr) == pytest.approx(
            tuple(expected_row), abs=1e-12
        )


def _label(attribute: AttributeResult, key: object) -> str:
    if len(attribute.attributes) == 1:
        return str(key)
    assert isinstance(key, tuple)
    return " & ".join(f"{a}={v}" for a, v in zip(attribute.attributes, key, strict=True))


def _group_labels(frame: pd.DataFrame, attribute: AttributeResult) -> pd.Series:
    if len(attribute.attributes) == 1:
        return frame[attribute.attributes[0]].astype(str)
    parts = [f"{a}=" + frame[a].astype(str) for a in attribute.attributes]
    label = parts[0]
    for part in parts[1:]:
        label = label + " & " + part
    return label


def test_golden_table_matches_hand_computed_fractions() -> None:
    # given
    frame = _golden()

    # when
    result = _evaluate_frame(frame, min_group_size=1, min_share=0.0, n_boot=0)

    # then
    assert [a.attribute for a in result.attributes] == ["sex", "age", "sex & age"]
    for attribute_name, groups in GOLDEN_GROUPS.items():
        attribute = result.attribute(attribute_name)
        assert [row.group for row in attribute.groups] == list(groups)
        for label, expected in groups.items():
            row = attribute.group(label)
            got = (row.selection_rate, row.impact_ratio, row.tpr, row.fpr)
            assert got == pytest.approx([float(value) for value in expected], abs=1e-15)
        expected_summaries = GOLDEN_SUMMARIES[attribute_name]
        for name, expected_value in zip(SUMMARY_NAMES, expected_summaries, strict=True):
            summary = attribute.summary(name)
            assert summary.value == pytest.approx(float(expected_value), abs=1e-15), name
            assert summary.insufficient is False


def test_golden_table_counts_and_reference_groups() -> None:
    # when
    result = _evaluate_frame(_golden(), min_group_size=1, min_share=0.0, n_boot=0)

    # then
    row = result.attribute("sex & age").group("sex=m & age=old")
    assert (row.n, row.share, row.tp, row.fp, row.tn, row.fn) == (6, 0.3, 1, 0, 3, 2)
    assert result.attribute("sex").reference_group == "f"
    assert result.attribute("age").reference_group == "young"
    assert result.attribute("sex & age").reference_group == "sex=m & age=young"


def test_golden_table_agrees_with_fairlearn() -> None:
    # given
    frame = _golden()

    # when
    result = _evaluate_frame(frame, min_group_size=1, min_share=0.0, n_boot=0)

    # then
    for attribute in result.attributes:
        _assert_agrees_with_fairlearn(frame, attribute)


def _random_frame(seed: int, n: int, small_share: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex_p = [0.5 - small_share / 2, 0.5 - small_share / 2, small_share]
    frame = pd.DataFrame(
        {
            "sex": rng.choice(["f", "m", "x"], size=n, p=sex_p),
            "age": rng.choice(["18-24", "25-34", "35+"], size=n, p=[0.2, 0.5, 0.3]),
            "y_true": rng.integers(0, 2, size=n),
        }
    )
    lift = frame["age"].map({"18-24": -0.2, "25-34": 0.0, "35+": 0.1}).to_numpy()
    frame["y_pred"] = (rng.random(n) < 0.4 + lift + 0.2 * frame["y_true"]).astype(int)
    return frame


def test_random_table_agrees_with_fairlearn_on_included_groups() -> None:
    # given: "x" is about 1% of the rows, so it is left out of the summaries
    frame = _random_frame(seed=42, n=3000, small_share=0.01)

    # when
    result = _evaluate_frame(frame, n_boot=0)

    # then
    assert result.attribute("sex").group("x").included_in_ratios is False
    for attribute in result.attributes:
        _assert_agrees_with_fairlearn(frame, attribute)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(40, 400))
def test_summaries_equal_fairlearn_for_random_data(seed: int, n: int) -> None:
    # given: every intersection group has both classes (fairlearn's TPR of a group
    # without positives is 0, Docket's is undefined)
    frame = _random_frame(seed, n)
    cells = frame.groupby(["sex", "age"])["y_true"].agg(["min", "max"])
    assume(bool((cells["min"] == 0).all() and (cells["max"] == 1).all()))

    # when
    result = _evaluate_frame(frame, min_group_size=1, min_share=0.0, n_boot=0)

    # then
    for attribute in result.attributes:
        features = _features(frame, attribute)
        metric_frame = MetricFrame(
            metrics={"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate},
            y_true=frame["y_true"],
            y_pred=frame["y_pred"],
            sensitive_features=features,
        )
        difference, ratio = metric_frame.difference(), metric_frame.ratio()
        expected = {
            "demographic_parity_difference": difference["sr"],
            "demographic_parity_ratio": ratio["sr"],
            "equalized_odds_difference": max(difference["tpr"], difference["fpr"]),
            "equalized_odds_ratio": min(ratio["tpr"], ratio["fpr"]),
            "equal_opportunity_difference": difference["tpr"],
            "equal_opportunity_ratio": ratio["tpr"],
        }
        for name, value in expected.items():
            got = attribute.summary(name).value
            assert got == pytest.approx(value, abs=1e-12, nan_ok=True), (attribute.attribute, name)


def test_small_groups_are_reported_but_excluded_or_flagged() -> None:
    # given: 1000 rows; "x" is 15 rows (1.5%), "y" is 25 rows (2.5%, under 30 rows)
    rng = np.random.default_rng(0)
    group = np.array(["a"] * 560 + ["b"] * 400 + ["x"] * 15 + ["y"] * 25)
    y_true = rng.integers(0, 2, 1000)
    y_pred = rng.integers(0, 2, 1000)
    y_pred[960:975] = 1  # "x" has the highest rate, which must not set the reference

    # when
    result = evaluate_fairness(y_true, y_pred, {"group": group}, n_boot=50)

    # then
    attribute = result.attribute("group")
    tiny = attribute.group("x")
    assert (tiny.n, tiny.share, tiny.selection_rate) == (15, 0.015, 1.0)
    assert tiny.selection_rate_ci_low is not None
    assert tiny.included_in_ratios is False
    assert tiny.impact_ratio is None
    assert tiny.p_value is None
    assert tiny.excluded_reason is not None
    assert "1.50%" in tiny.excluded_reason
    assert "min_share" in tiny.excluded_reason
    assert tiny.insufficient is True
    small = attribute.group("y")
    assert small.included_in_ratios is True
    assert small.insufficient is True
    assert small.impact_ratio is not None
    assert attribute.reference_group in {"a", "b"}
    assert attribute.summary("demographic_parity_ratio").groups_compared == 3
    assert attribute.summary("demographic_parity_ratio").insufficient is True


def test_a_rate_undefined_in_a_group_makes_its_summaries_insufficient() -> None:
    # given: group "b" has no positives, so its TPR is undefined
    y_true = np.array([1, 0] * 50 + [0] * 100)
    y_pred = np.tile([1, 0, 0, 1], 50)
    group = np.array(["a"] * 100 + ["b"] * 100)

    # when
    result = evaluate_fairness(y_true, y_pred, {"group": group}, n_boot=0)

    # then
    attribute = result.attribute("group")
    assert attribute.group("b").tpr is None
    assert attribute.summary("demographic_parity_difference").insufficient is False
    assert attribute.summary("equal_opportunity_difference").insufficient is True
    assert attribute.summary("equalized_odds_ratio").insufficient is True


def test_p_values_are_two_proportion_z_tests_adjusted_across_attributes() -> None:
    # given
    frame = _random_frame(seed=7, n=2000)

    # when
    holm = _evaluate_frame(frame, n_boot=0)
    bonferroni = _evaluate_frame(frame, n_boot=0, correction="bonferroni")

    # then
    tested = [row for a in holm.attributes for row in a.groups if row.p_value is not None]
    assert len(tested) == 1 + 2 + 5  # all included groups but the reference, per partition
    for attribute in holm.attributes:
        reference = attribute.group(attribute.reference_group or "")
        assert reference.p_value is None
        for row in attribute.groups:
            if row.p_value is None:
                continue
            table = [[row.fp + row.tp, row.tn + row.fn], [reference.fp + reference.tp, 0]]
            table[1][1] = reference.n - table[1][0]
            expected = chi2_contingency(table, correction=False).pvalue
            assert row.p_value == pytest.approx(expected, rel=1e-9)
            assert row.p_value <= row.p_value_adjusted
    raw = [row.p_value for row in tested]
    holm_adjusted = [row.p_value_adjusted for row in tested]
    assert holm_adjusted == pytest.approx(adjust_p_values(raw, "holm").tolist())
    bonferroni_adjusted = [
        row.p_value_adjusted
        for a in bonferroni.attributes
        for row in a.groups
        if row.p_value is not None
    ]
    assert bonferroni_adjusted == pytest.approx(np.minimum(1, np.array(raw) * 8).tolist())


def test_two_proportion_p_value_matches_a_hand_computation() -> None:
    # given: 30/100 against 50/100, pooled rate 0.4, z = 0.2 / sqrt(0.24 * 0.02)
    # when
    (p_value,) = two_proportion_p_values(np.array([30]), np.array([100]), 50, 100)

    # then
    assert p_value == pytest.approx(0.0038924171227, rel=1e-9)


def test_holm_matches_a_hand_computation() -> None:
    # given: sorted 0.01, 0.03, 0.04 -> 3 * 0.01, max(0.03, 2 * 0.03), max(0.06, 1 * 0.04)
    raw = [0.04, 0.01, 0.03]

    # when
    holm = adjust_p_values(raw, "holm")
    bonferroni = adjust_p_values(raw, "bonferroni")

    # then
    assert holm.tolist() == pytest.approx([0.06, 0.03, 0.06], abs=1e-15)
    assert bonferroni.tolist() == pytest.approx([0.12, 0.03, 0.09], abs=1e-15)


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30))
def test_holm_is_monotone_and_never_below_raw(raw: list[float]) -> None:
    # when
    adjusted = adjust_p_values(raw, "holm")

    # then
    order = np.argsort(raw, kind="stable")
    assert (np.diff(adjusted[order]) >= 0).all()
    assert (adjusted >= np.array(raw)).all()
    assert (adjusted <= 1).all()
    assert (adjusted <= adjust_p_values(raw, "bonferroni")).all()


def test_result_is_json_serialisable_with_nan_as_null() -> None:
    # given: a group without negatives has no FPR
    y_true = np.array([1] * 40 + [0, 1] * 20)
    y_pred = np.array([1, 0] * 40)
    group = np.array(["a"] * 40 + ["b"] * 40)

    # when
    dumped = evaluate_fairness(y_true, y_pred, {"group": group}, n_boot=20).model_dump(mode="json")

    # then
    text = json.dumps(dumped, allow_nan=False)
    assert dumped["attributes"][0]["groups"][0]["fpr"] is None
    assert FairnessResult.model_validate_json(text).n == 80


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y_true": []}, MESSAGE_EMPTY),
        ({"y_true": [[0, 1], [1, 0]]}, MESSAGE_NOT_1D),
        ({"y_true": [0, 2, 1]}, MESSAGE_NOT_BINARY),
        ({"y_pred": ["0", "1", "1"]}, MESSAGE_NOT_BINARY),
        ({"y_pred": [0, 1]}, MESSAGE_LENGTH_MISMATCH),
        ({"scores": [0.1, 0.2]}, MESSAGE_LENGTH_MISMATCH),
        ({"scores": [0.1, 1.2, 0.5]}, MESSAGE_SCORES_RANGE),
        ({"scores": [0.1, np.nan, 0.5]}, MESSAGE_SCORES_RANGE),
        ({"sensitive": {"sex": ["f", "m"]}}, MESSAGE_LENGTH_MISMATCH),
        ({"correction": "bh"}, MESSAGE_CORRECTION),
        ({"confidence": 1.0}, MESSAGE_CONFIDENCE),
        ({"n_boot": -1}, MESSAGE_N_BOOT),
        ({"min_share": 1.5}, MESSAGE_MIN_SHARE),
        ({"min_group_size": 0}, MESSAGE_MIN_GROUP_SIZE),
    ],
)
def test_bad_input_is_rejected_with_its_message(kwargs: dict[str, object], message: str) -> None:
    # given
    arguments: dict[str, object] = {
        "y_true": [0, 1, 1],
        "y_pred": [1, 0, 1],
        "sensitive": {"sex": ["f", "m", "f"]},
        "scores": None,
    }
    arguments.update(kwargs)

    # when / then
    with pytest.raises(ValueError, match=re.escape(message)):
        evaluate_fairness(**arguments)  # type: ignore[arg-type]


def test_bad_input_message_names_the_argument_and_the_value() -> None:
    with pytest.raises(ValueError, match=r"'y_pred' .* Got 2 instead\."):
        evaluate_fairness([0, 1], [0, 2], {"sex": ["f", "m"]})
    with pytest.raises(ValueError, match=r"Got 'bh' instead\."):
        adjust_p_values([0.1], "bh")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=re.escape(MESSAGE_P_VALUES)):
        adjust_p_values([0.1, 1.5])
