"""Tests of audits.bootstrap and of the intervals evaluate_fairness reports."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from audits.bootstrap import (
    Multiplicities,
    percentile_interval,
    resample_cells,
    resample_score_metrics,
    weighted_group_auc,
)
from audits.fairness import FairnessResult, evaluate_fairness
from audits.groups import (
    calibration_errors,
    cell_counts,
    partition_rows,
    selection_rates,
    true_positive_rates,
)


def _decisions(n: int, seed: int) -> dict[str, np.ndarray]:
    """Seeded decisions with real differences between three groups."""
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.5, 0.3, 0.2])
    lift = np.select([group == "a", group == "b"], [0.15, 0.0], -0.15)
    y_true = (rng.random(n) < 0.5 + lift / 2).astype(int)
    scores = np.clip(0.25 + 0.4 * y_true + lift + rng.normal(0, 0.2, n), 0, 1)
    return {
        "y_true": y_true,
        "y_pred": (scores > 0.5).astype(int),
        "scores": scores,
        "group": group,
        "band": rng.choice(np.array(["x", "y"]), size=n),
    }


def _evaluate(data: dict[str, np.ndarray], **kwargs: object) -> FairnessResult:
    return evaluate_fairness(
        data["y_true"],
        data["y_pred"],
        {"group": data["group"], "band": data["band"]},
        data["scores"],
        **kwargs,  # type: ignore[arg-type]
    )


def test_percentile_interval_skips_nan_resamples() -> None:
    # given
    samples = np.array([[0.0, np.nan], [1.0, np.nan], [2.0, np.nan], [np.nan, np.nan]])

    # when
    low, high = percentile_interval(samples, 0.5)

    # then
    assert low.tolist()[0] == 0.5
    assert high.tolist()[0] == 1.5
    assert np.isnan(low[1])
    assert np.isnan(high[1])


def test_resample_cells_keeps_n_and_the_cell_layout() -> None:
    # given
    cells = np.array([[10, 0, 5, 5], [3, 3, 0, 4]])

    # when
    draws = resample_cells(cells, 50, np.random.default_rng(0))

    # then
    assert draws.shape == (50, 2, 4)
    assert (draws.sum(axis=(1, 2)) == 30).all()
    assert (draws[:, 0, 1] == 0).all()  # an empty cell stays empty
    assert (draws[:, 1, 2] == 0).all()


def test_multinomial_resamples_agree_in_distribution_with_a_row_bootstrap() -> None:
    # given
    data = _decisions(400, seed=11)
    (part,) = partition_rows({"group": data["group"]}, 400)
    cells = cell_counts(data["y_true"], data["y_pred"], part.row_group, part.n_groups)
    n_boot = 4000
    rng = np.random.default_rng(5)

    # when
    multinomial = resample_cells(cells, n_boot, rng)
    rows = rng.integers(0, 400, size=(n_boot, 400))
    naive = np.stack(
        [
            cell_counts(data["y_true"][r], data["y_pred"][r], part.row_group[r], part.n_groups)
            for r in rows
        ]
    )

    # then
    for metric in (selection_rates, true_positive_rates):
        fast, slow = metric(multinomial), metric(naive)
        np.testing.assert_allclose(fast.mean(axis=0), slow.mean(axis=0), atol=0.004)
        np.testing.assert_allclose(fast.std(axis=0), slow.std(axis=0), rtol=0.08)


def test_block_multiplicities_have_the_moments_of_a_row_bootstrap() -> None:
    # given: 7 positions in blocks of 3, 3 and 1 (the two-stage draw in miniature)
    class Small(Multiplicities):
        BLOCK = 3

    n, n_draws = 7, 40_000
    draws = Small(n)
    rng = np.random.default_rng(4)

    # when
    w = np.stack([draws.draw(rng).copy() for _ in range(n_draws)]).astype(float)

    # then: Multinomial(n, 1/n): every total is n, E w_i = 1, var w_i = 1 - 1/n,
    # cov(w_i, w_j) = -1/n; Monte Carlo standard errors are below 0.01 here
    assert (w.sum(axis=1) == n).all()
    np.testing.assert_allclose(w.mean(axis=0), 1.0, atol=0.03)
    covariance = np.cov(w, rowvar=False)
    np.testing.assert_allclose(np.diag(covariance), 1 - 1 / n, atol=0.04)
    off_diagonal = covariance[~np.eye(n, dtype=bool)]
    np.testing.assert_allclose(off_diagonal, -1 / n, atol=0.03)
    # P(w_i = 0) = (1 - 1/n)^n for every position, first block or last
    np.testing.assert_allclose((w == 0).mean(axis=0), (1 - 1 / n) ** n, atol=0.015)


def test_weighted_auc_and_calibration_equal_sklearn_on_the_resampled_rows() -> None:
    # given: ties in the scores, and a bootstrap resample as row multiplicities
    data = _decisions(300, seed=2)
    scores = np.round(data["scores"], 1)
    (part,) = partition_rows({"group": data["group"]}, 300)
    rows = np.random.default_rng(1).integers(0, 300, size=300)
    weights = np.bincount(rows, minlength=300)

    # when
    auc = weighted_group_auc(data["y_true"], scores, part, weights)
    ece = calibration_errors(data["y_true"], scores, part.row_group, part.n_groups, weights)

    # then
    for g in range(part.n_groups):
        picked = rows[part.row_group[rows] == g]
        y, s = data["y_true"][picked], scores[picked]
        assert auc[g] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        single = calibration_errors(y, s, np.zeros(len(y), dtype=np.intp), 1)
        assert ece[g] == pytest.approx(single[0], abs=1e-12)


def test_resample_score_metrics_is_seeded() -> None:
    # given
    data = _decisions(200, seed=4)
    parts = partition_rows({"group": data["group"], "band": data["band"]}, 200)

    # when
    first = resample_score_metrics(
        data["y_true"], data["scores"], parts, 20, np.random.default_rng(9)
    )
    second = resample_score_metrics(
        data["y_true"], data["scores"], parts, 20, np.random.default_rng(9)
    )

    # then
    assert len(first) == 3
    for part, (auc_1, ece_1), (auc_2, ece_2) in zip(parts, first, second, strict=True):
        assert auc_1.shape == ece_1.shape == (20, part.n_groups)
        np.testing.assert_array_equal(auc_1, auc_2)
        np.testing.assert_array_equal(ece_1, ece_2)


def test_same_seed_gives_identical_intervals_and_another_seed_differs() -> None:
    # given
    data = _decisions(600, seed=1)

    # when
    first = _evaluate(data, n_boot=100, seed=7)
    again = _evaluate(data, n_boot=100, seed=7)
    other = _evaluate(data, n_boot=100, seed=8)

    # then
    assert first == again
    row, other_row = first.attribute("group").group("a"), other.attribute("group").group("a")
    assert (row.selection_rate_ci_low, row.auc_ci_low) != (
        other_row.selection_rate_ci_low,
        other_row.auc_ci_low,
    )


def test_point_estimates_lie_within_their_intervals() -> None:
    # given
    data = _decisions(2000, seed=3)

    # when
    result = _evaluate(data, n_boot=300)

    # then
    for attribute in result.attributes:
        for row in attribute.groups:
            for name in ("selection_rate", "tpr", "fpr", "auc", "calibration_error"):
                value = getattr(row, name)
                assert getattr(row, f"{name}_ci_low") <= value <= getattr(row, f"{name}_ci_high")
    group = result.attribute("group")
    for row in group.groups:
        assert row.impact_ratio_ci_low <= row.impact_ratio <= row.impact_ratio_ci_high
    for summary in group.summaries:
        assert summary.ci_low <= summary.value <= summary.ci_high, summary.name


def test_score_metrics_switch_leaves_count_intervals_unchanged() -> None:
    # given
    data = _decisions(500, seed=6)

    # when
    with_scores = _evaluate(data, n_boot=50)
    without = _evaluate(data, n_boot=50, score_metrics=False)

    # then
    row, bare = with_scores.attribute("group").group("b"), without.attribute("group").group("b")
    assert (row.selection_rate_ci_low, row.tpr_ci_high) == (
        bare.selection_rate_ci_low,
        bare.tpr_ci_high,
    )
    assert row.auc is not None
    assert bare.auc is None
    assert bare.calibration_error_ci_low is None


def test_no_resamples_leaves_intervals_empty() -> None:
    # given
    data = _decisions(300, seed=0)

    # when
    result = _evaluate(data, n_boot=0)

    # then
    row = result.attribute("group").group("a")
    assert row.selection_rate is not None
    assert row.selection_rate_ci_low is None
    assert row.auc_ci_high is None
    assert result.attribute("group").summaries[0].ci_low is None
