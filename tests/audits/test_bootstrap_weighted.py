"""Weighted score metrics equal the unweighted ones on explicitly repeated rows.

The bootstrap of :mod:`audits.bootstrap` reads every resample as row multiplicities.
With integer weights, each weighted metric must equal the reference metric (scikit-learn,
or :mod:`models.metrics` / :func:`audits.groups.calibration_errors` for the calibration
error) computed on the rows repeated that many times.
"""

from __future__ import annotations

import numpy as np
import pytest
import sklearn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from audits.bootstrap import (
    MESSAGE_PERF_CONFIDENCE,
    MESSAGE_PERF_LABELS,
    MESSAGE_PERF_N_BOOT,
    MESSAGE_PERF_SCORES,
    MESSAGE_WEIGHTS,
    PERFORMANCE_METRICS,
    performance_with_intervals,
    weighted_performance,
    weighted_score_metrics,
)
from audits.groups import calibration_errors, partition_rows
from models.metrics import expected_calibration_error, performance


def _reference_performance(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """scikit-learn on the rows as given (performance() clips before log_loss)."""
    return {
        "roc_auc": roc_auc_score(y, p),
        "pr_auc": average_precision_score(y, p),
        "brier": brier_score_loss(y, p),
        "log_loss": log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]),
        "calibration_error": expected_calibration_error(y, p),
    }


def _data(n: int, seed: int, decimals: int | None = None) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(0.3 + 0.35 * y + rng.normal(0, 0.25, n), 0, 1)  # clipping ties 0 and 1
    if decimals is not None:
        p = np.round(p, decimals)
    return y, p, rng.choice(np.array(["a", "b", "c"]), n), rng.choice(np.array(["x", "y"]), n)


@pytest.mark.parametrize("decimals", [None, 1, 2])
def test_weighted_performance_equals_sklearn_on_repeated_rows(decimals: int | None) -> None:
    # given: scores with many ties (rounded) or few (clipped only), weights 0..4
    y, p, _, _ = _data(400, seed=5, decimals=decimals)
    weights = np.random.default_rng(6).integers(0, 5, len(y))
    repeated = np.repeat(np.arange(len(y)), weights)

    # when
    got = weighted_performance(y, p, weights)

    # then
    expected = _reference_performance(y[repeated], p[repeated])
    assert list(got) == list(PERFORMANCE_METRICS)
    for name in PERFORMANCE_METRICS:
        assert got[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-14), name


def test_unit_weights_equal_models_metrics_performance() -> None:
    # given
    y, p, _, _ = _data(300, seed=8, decimals=2)

    # when
    got = weighted_performance(y, p)

    # then
    expected = performance(y, p)
    for name in PERFORMANCE_METRICS:
        assert got[name] == pytest.approx(expected[name], rel=1e-12, abs=1e-14), name


def test_weighted_group_metrics_equal_references_on_repeated_rows() -> None:
    # given: two attributes and their intersection, ties, some zero weights
    y, p, group, band = _data(500, seed=9, decimals=1)
    parts = partition_rows({"group": group, "band": band}, len(y))
    weights = np.random.default_rng(10).integers(0, 4, len(y))
    repeated = np.repeat(np.arange(len(y)), weights)

    # when
    got = weighted_score_metrics(y, p, parts, weights)

    # then
    assert len(got) == 3
    for part, (auc, ece) in zip(parts, got, strict=True):
        row_group = part.row_group[repeated]
        yr, pr = y[repeated], p[repeated]
        expected_ece = calibration_errors(yr, pr, row_group, part.n_groups)
        np.testing.assert_allclose(ece, expected_ece, rtol=1e-12, atol=1e-14)
        for g in range(part.n_groups):
            in_group = row_group == g
            assert auc[g] == pytest.approx(roc_auc_score(yr[in_group], pr[in_group]), abs=1e-12)
            ece_g = expected_calibration_error(yr[in_group], pr[in_group])
            assert ece[g] == pytest.approx(ece_g, abs=1e-12)


def test_a_group_with_one_class_has_no_auc() -> None:
    # given: group "b" holds only negatives once weighted (its positive has weight 0)
    y = np.array([0, 1, 0, 1, 0, 0])
    p = np.array([0.1, 0.9, 0.4, 0.6, 0.2, 0.3])
    (part,) = partition_rows({"g": np.array(["a", "a", "a", "b", "b", "b"])}, 6)
    weights = np.array([1, 1, 1, 0, 2, 1])

    # when
    ((auc, ece),) = weighted_score_metrics(y, p, [part], weights)

    # then: group a by hand: both negatives (0.1, 0.4) rank below the positive (0.9)
    assert auc[0] == 1.0
    assert np.isnan(auc[1])
    # group b: weights 2 at 0.2 and 1 at 0.3, all negatives: (2 * 0.2 + 0.3) / 3
    assert ece[1] == pytest.approx(0.7 / 3, abs=1e-15)


@st.composite
def _weighted_rows(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    n = draw(st.integers(2, 40))
    y = np.array(draw(st.lists(st.integers(0, 1), min_size=n, max_size=n)))
    # a coarse grid makes ties within and across classes, and bin edges, likely
    grid = st.sampled_from([0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 1.0])
    values = st.one_of(grid, st.floats(0.0, 1.0, allow_nan=False))
    p = np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    weights = np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)))
    group = np.array(draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n)))
    band = np.array(draw(st.lists(st.sampled_from(["x", "y"]), min_size=n, max_size=n)))
    return y, p, weights, group, band


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_weighted_rows())
def test_weighted_metrics_equal_references_for_random_rows(rows: tuple[np.ndarray, ...]) -> None:
    # given
    y, p, weights, group, band = rows
    repeated = np.repeat(np.arange(len(y)), weights)
    yr, pr = y[repeated], p[repeated]
    assume(0 < yr.sum() < len(yr))
    parts = partition_rows({"group": group, "band": band}, len(y))

    # when
    overall = weighted_performance(y, p, weights)
    by_group = weighted_score_metrics(y, p, parts, weights)

    # then
    with sklearn.config_context(skip_parameter_validation=True):
        expected = _reference_performance(yr, pr)
    for name in PERFORMANCE_METRICS:
        assert overall[name] == pytest.approx(expected[name], rel=1e-9, abs=1e-12), name
    for part, (auc, ece) in zip(parts, by_group, strict=True):
        row_group = part.row_group[repeated]
        for g in range(part.n_groups):
            yg, pg = yr[row_group == g], pr[row_group == g]
            if len(yg) == 0:
                assert np.isnan(ece[g])
            else:
                assert ece[g] == pytest.approx(expected_calibration_error(yg, pg), abs=1e-12)
            if 0 < yg.sum() < len(yg):
                assert auc[g] == pytest.approx(roc_auc_score(yg, pg), abs=1e-12)
            else:
                assert np.isnan(auc[g])


def test_performance_point_estimates_are_those_of_models_metrics() -> None:
    # given
    y, p, _, _ = _data(300, seed=12)

    # when
    result = performance_with_intervals(y, p, 50, 0.9, seed=3)

    # then: identical, not merely close
    assert {name: interval.value for name, interval in result.items()} == performance(y, p)
    for interval in result.values():
        assert interval.ci_low is not None and interval.ci_high is not None
        assert interval.ci_low <= interval.ci_high


def test_performance_intervals_are_seeded() -> None:
    # given
    y, p, _, _ = _data(300, seed=13, decimals=2)

    # when
    first = performance_with_intervals(y, p, 40, 0.95, seed=1)
    again = performance_with_intervals(y, p, 40, 0.95, seed=1)
    other = performance_with_intervals(y, p, 40, 0.95, seed=2)

    # then
    assert first == again
    assert first["roc_auc"].ci_low != other["roc_auc"].ci_low


def test_no_resamples_leave_performance_without_intervals() -> None:
    # given
    y, p, _, _ = _data(100, seed=14)

    # when
    result = performance_with_intervals(y, p, 0, 0.95, seed=0)

    # then
    assert all(i.ci_low is None and i.ci_high is None for i in result.values())
    assert result["brier"].value == performance(y, p)["brier"]


def test_single_class_resamples_are_left_out() -> None:
    # given: 3 rows, one positive: a resample misses the positive with chance (2/3)^3
    y, p = np.array([0, 0, 1]), np.array([0.2, 0.4, 0.7])

    # when
    result = performance_with_intervals(y, p, 200, 0.95, seed=0)

    # then: every resample with both classes ranks the positive first
    assert result["roc_auc"].ci_low == result["roc_auc"].ci_high == 1.0
    assert result["pr_auc"].ci_low == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"y": [0, 2, 1]}, MESSAGE_PERF_LABELS),
        ({"y": [[0, 1, 1]]}, MESSAGE_PERF_LABELS),
        ({"scores": [0.1, 1.5, 0.3]}, MESSAGE_PERF_SCORES),
        ({"scores": [0.1, 0.2]}, MESSAGE_PERF_SCORES),
        ({"scores": ["a", "b", "c"]}, MESSAGE_PERF_SCORES),
        ({"n_boot": -1}, MESSAGE_PERF_N_BOOT),
        ({"n_boot": 2.5}, MESSAGE_PERF_N_BOOT),
        ({"confidence": 1.0}, MESSAGE_PERF_CONFIDENCE),
    ],
)
def test_bad_performance_input_is_rejected(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {
        "y": [0, 1, 1],
        "scores": [0.1, 0.8, 0.6],
        "n_boot": 10,
        "confidence": 0.95,
        "seed": 0,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match="Got") as error:
        performance_with_intervals(**arguments)  # type: ignore[arg-type]
    assert message in str(error.value)


def test_bad_weights_are_rejected() -> None:
    with pytest.raises(ValueError) as error:
        weighted_performance([0, 1], [0.2, 0.8], [1, -1])
    assert MESSAGE_WEIGHTS in str(error.value)
    assert "-1" in str(error.value)
