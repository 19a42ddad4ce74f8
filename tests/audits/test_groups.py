"""Unit tests of audits.groups: partitions, cell counts, rates and score metrics."""

import re

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from audits.groups import (
    CELL_FN,
    CELL_FP,
    CELL_TN,
    CELL_TP,
    MESSAGE_ATTRIBUTE_MISSING,
    MESSAGE_ATTRIBUTE_NAME,
    MESSAGE_LENGTH_MISMATCH,
    MESSAGE_SENSITIVE_EMPTY,
    aggregate_cells,
    calibration_errors,
    cell_counts,
    disparity_difference,
    disparity_ratio,
    false_positive_rates,
    group_auc,
    impact_ratios,
    partition_rows,
    selection_rates,
    true_positive_rates,
)


def test_partition_rows_adds_the_intersection_of_observed_groups() -> None:
    # given
    sensitive = {"sex": ["m", "f", "f", "m"], "age": [30, 30, 50, 30]}

    # when
    parts = partition_rows(sensitive, 4)

    # then
    assert [p.name for p in parts] == ["sex", "age", "sex & age"]
    assert parts[0].labels == ("f", "m")
    assert parts[1].labels == ("30", "50")
    assert parts[2].labels == ("sex=f & age=30", "sex=f & age=50", "sex=m & age=30")
    assert parts[2].row_group.tolist() == [2, 0, 1, 2]
    assert parts[0].from_finest.tolist() == [0, 0, 1]
    assert parts[1].from_finest.tolist() == [0, 1, 0]


def test_partition_rows_with_three_attributes_gives_only_the_full_intersection() -> None:
    # given
    sensitive = {"a": [0, 1, 0], "b": [0, 0, 1], "c": ["x", "y", "y"]}

    # when
    parts = partition_rows(sensitive, 3)

    # then
    assert [p.name for p in parts] == ["a", "b", "c", "a & b & c"]


def test_partition_rows_with_one_attribute_has_no_intersection() -> None:
    # when
    parts = partition_rows({"sex": np.array(["m", "f"])}, 2)

    # then
    assert len(parts) == 1
    assert parts[0].from_finest.tolist() == [0, 1]


def test_cell_counts_are_tn_fp_fn_tp_per_group() -> None:
    # given
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([0, 1, 0, 1, 1, 1])
    group = np.array([0, 0, 0, 0, 1, 1])

    # when
    cells = cell_counts(y_true, y_pred, group, 2)

    # then
    assert cells[0, [CELL_TN, CELL_FP, CELL_FN, CELL_TP]].tolist() == [1, 1, 1, 1]
    assert cells[1].tolist() == [0, 1, 0, 1]


def test_aggregate_cells_sums_finest_groups_with_a_batch_axis() -> None:
    # given
    finest = np.arange(24).reshape(2, 3, 4)

    # when
    coarse = aggregate_cells(finest, np.array([1, 0, 1]), 2)

    # then
    assert coarse.shape == (2, 2, 4)
    assert (coarse[:, 0] == finest[:, 1]).all()
    assert (coarse[:, 1] == finest[:, 0] + finest[:, 2]).all()


def test_rates_are_nan_when_their_denominator_is_zero() -> None:
    # given: a group with no positives, a group with no negatives
    cells = np.array([[3, 1, 0, 0], [0, 0, 2, 2]])

    # when / then
    assert selection_rates(cells).tolist() == [0.25, 0.5]
    assert np.isnan(true_positive_rates(cells)[0])
    assert true_positive_rates(cells)[1] == 0.5
    assert false_positive_rates(cells)[0] == 0.25
    assert np.isnan(false_positive_rates(cells)[1])


def test_impact_ratios_use_the_highest_included_rate() -> None:
    # given: the excluded group has the highest rate
    rates = np.array([[0.4, 0.2, 0.9], [0.0, 0.0, 0.5]])
    included = np.array([True, True, False])

    # when
    ratios = impact_ratios(rates, included)

    # then
    assert ratios[0, :2].tolist() == [1.0, 0.5]
    assert np.isnan(ratios[:, 2]).all()
    assert np.isnan(ratios[1, :2]).all()  # highest included rate is 0


def test_disparities_skip_nan_and_excluded_groups() -> None:
    # given
    values = np.array([0.5, np.nan, 0.25, 0.0])
    included = np.array([True, True, True, False])

    # when / then
    assert disparity_difference(values, included) == 0.25
    assert disparity_ratio(values, included) == 0.5
    assert np.isnan(disparity_ratio(np.array([0.0, 0.0]), np.array([True, True])))
    assert np.isnan(disparity_difference(values, np.zeros(4, dtype=bool)))


def test_calibration_error_matches_its_definition() -> None:
    # given: bins close on the right, as calibration_curve's: 0.2 is in (0.1, 0.2], 0.25 in
    # (0.2, 0.3], 1.0 in (0.9, 1]
    y_true = np.array([1, 0, 1])
    scores = np.array([0.2, 0.25, 1.0])
    group = np.zeros(3, dtype=np.intp)

    # when
    ece = calibration_errors(y_true, scores, group, 1)

    # then: (1/3)|1 - 0.2| + (1/3)|0 - 0.25| + (1/3)|1 - 1|
    assert ece[0] == pytest.approx((0.8 + 0.25) / 3, abs=1e-15)


def test_group_auc_is_sklearn_per_group_and_nan_with_one_class() -> None:
    # given
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 300)
    scores = rng.random(300)
    sex = np.where(np.arange(300) < 280, "f", "m")
    y_true[280:] = 1
    (part,) = partition_rows({"sex": sex}, 300)

    # when
    auc = group_auc(y_true, scores, part)

    # then
    assert auc[0] == roc_auc_score(y_true[:280], scores[:280])
    assert np.isnan(auc[1])


def test_partition_rows_rejects_bad_sensitive_input() -> None:
    with pytest.raises(ValueError, match=re.escape(MESSAGE_SENSITIVE_EMPTY)):
        partition_rows({}, 3)
    with pytest.raises(ValueError, match=re.escape(MESSAGE_ATTRIBUTE_NAME)):
        partition_rows({"a=b": [1, 2, 3]}, 3)
    with pytest.raises(ValueError, match=re.escape(MESSAGE_ATTRIBUTE_MISSING)):
        partition_rows({"a": ["x", None, "y"]}, 3)
    with pytest.raises(ValueError, match=re.escape(MESSAGE_ATTRIBUTE_MISSING)):
        partition_rows({"a": [1.0, np.nan, 2.0]}, 3)
    with pytest.raises(ValueError, match=re.escape(MESSAGE_LENGTH_MISMATCH)):
        partition_rows({"a": [1, 2]}, 3)
