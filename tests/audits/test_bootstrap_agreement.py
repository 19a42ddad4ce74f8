"""The weighted bootstrap agrees in distribution with a plain row bootstrap.

The reference resamples rows with ``rng.integers(0, n, n)`` and recomputes every metric
on the resampled rows with scikit-learn (ROC AUC, average precision, Brier, log loss) and
:mod:`models.metrics` / :func:`audits.groups.calibration_errors` (calibration error).
The weighted bootstrap is cheap, so it runs many more resamples and the Monte Carlo
error of the comparison is mostly the reference's.

Tolerances, in units of the reference's bootstrap standard deviation ``sd`` (a
normal approximation, per compared statistic, for ``B`` fast and ``b`` plain
resamples): the mean differs by ``sd * sqrt(1/B + 1/b)`` at one standard error; the
2.5% and 97.5% quantiles (the interval bounds at 95%) by
``sd * sqrt(q (1 - q)) / phi(z_q) * sqrt(1/B + 1/b)``; the ratio of the standard
deviations by ``sqrt(1/(2B) + 1/(2b))``. Each check allows a fixed number of standard
errors (``Z``), wide enough for the non-normal shape of small-group statistics and the
~100 comparisons, narrow enough that an interval 20% too wide or too narrow fails.
"""

from __future__ import annotations

import math

import numpy as np
import sklearn
from scipy.stats import norm
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from audits.bootstrap import PERFORMANCE_METRICS, resample_performance, resample_score_metrics
from audits.groups import calibration_errors, partition_rows
from models.metrics import expected_calibration_error

Q = 0.025
Z = 4.0


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["a", "b", "c"]), size=n, p=[0.5, 0.3, 0.2])
    lift = np.select([group == "a", group == "b"], [0.1, 0.0], -0.1)
    y = (rng.random(n) < 0.5 + lift).astype(np.int64)
    p = np.clip(0.3 + 0.35 * y + lift + rng.normal(0, 0.2, n), 0, 1)  # ties at 0 and 1
    return y, p, {"group": group, "band": rng.choice(np.array(["x", "y"]), size=n)}


def _assert_same_distribution(fast: np.ndarray, plain: np.ndarray, label: str) -> None:
    """Mean, sd and the 2.5% / 97.5% quantiles agree within Z standard errors."""
    fast, plain = fast[~np.isnan(fast)], plain[~np.isnan(plain)]
    b_fast, b_plain = len(fast), len(plain)
    sd = float(plain.std(ddof=1))
    assert sd > 0, label
    spread = math.sqrt(1 / b_fast + 1 / b_plain)
    assert abs(fast.mean() - plain.mean()) <= Z * sd * spread, f"{label}: mean"
    sd_ratio = float(fast.std(ddof=1)) / sd
    assert abs(sd_ratio - 1) <= Z * math.sqrt(1 / (2 * b_fast) + 1 / (2 * b_plain)), (
        f"{label}: sd ratio {sd_ratio:.3f}"
    )
    quantile_se = sd * math.sqrt(Q * (1 - Q)) / norm.pdf(norm.ppf(Q)) * spread
    for q in (Q, 1 - Q):
        gap = abs(float(np.quantile(fast, q) - np.quantile(plain, q)))
        assert gap <= Z * quantile_se, f"{label}: quantile {q} off by {gap / sd:.3f} sd"


def test_performance_bootstrap_agrees_with_a_plain_row_bootstrap() -> None:
    # given
    y, p, _ = _data(500, seed=21)
    n, b_plain = len(y), 500
    rng = np.random.default_rng(22)

    # when
    fast = resample_performance(y, p, 10_000, np.random.default_rng(23))
    plain = np.full((b_plain, len(PERFORMANCE_METRICS)), np.nan)
    for b in range(b_plain):
        rows = rng.integers(0, n, n)
        yb, pb = y[rows], p[rows]
        with sklearn.config_context(skip_parameter_validation=True, assume_finite=True):
            plain[b] = [
                roc_auc_score(yb, pb),
                average_precision_score(yb, pb),
                brier_score_loss(yb, pb),
                log_loss(yb, np.clip(pb, 1e-15, 1 - 1e-15), labels=[0, 1]),
                expected_calibration_error(yb, pb),
            ]

    # then
    for index, name in enumerate(PERFORMANCE_METRICS):
        _assert_same_distribution(fast[:, index], plain[:, index], name)


def test_group_score_bootstrap_agrees_with_a_plain_row_bootstrap() -> None:
    # given: two attributes and their intersection (6 groups of 40-150 rows)
    y, p, sensitive = _data(600, seed=31)
    n, b_plain = len(y), 300
    parts = partition_rows(sensitive, n)
    rng = np.random.default_rng(32)

    # when
    fast = resample_score_metrics(y, p, parts, 6000, np.random.default_rng(33))
    plain = [
        (np.full((b_plain, q.n_groups), np.nan), np.empty((b_plain, q.n_groups))) for q in parts
    ]
    for b in range(b_plain):
        rows = rng.integers(0, n, n)
        yb, pb = y[rows], p[rows]
        for part, (auc, ece) in zip(parts, plain, strict=True):
            row_group = part.row_group[rows]
            ece[b] = calibration_errors(yb, pb, row_group, part.n_groups)
            for g in range(part.n_groups):
                yg = yb[row_group == g]
                if 0 < yg.sum() < len(yg):
                    with sklearn.config_context(skip_parameter_validation=True):
                        auc[b, g] = roc_auc_score(yg, pb[row_group == g])

    # then
    for part, (fast_auc, fast_ece), (plain_auc, plain_ece) in zip(parts, fast, plain, strict=True):
        for g, label in enumerate(part.labels):
            _assert_same_distribution(fast_auc[:, g], plain_auc[:, g], f"auc {label}")
            _assert_same_distribution(fast_ece[:, g], plain_ece[:, g], f"ece {label}")
