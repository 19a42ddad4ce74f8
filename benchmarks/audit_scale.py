"""Scale benchmark: Docket's fairness audit against fairlearn's MetricFrame.

Generates seeded synthetic decisions with two sensitive attributes (4 x 3 groups),
then times, on the same data:

(a) ``audits.fairness.evaluate_fairness``: point estimates, then ``--n-boot``
    resamples (score metrics off; count metrics use the multinomial cell bootstrap);
(b) ``fairlearn.metrics.MetricFrame`` with selection rate, TPR and FPR on the
    intersection of both attributes: point estimates, then ``--fairlearn-boot``
    resamples through MetricFrame's own ``n_boot`` / ``ci_quantiles`` arguments
    (a loop of row resamples when the installed fairlearn lacks them).

It prints both times, the cost per resample and their ratio, and the largest
absolute difference between the two sets of point estimates.

Usage::

    .venv/bin/python benchmarks/audit_scale.py [--rows 1000000] [--n-boot 200] [--fairlearn-boot 10]
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate

from audits.bootstrap import percentile_interval, resample_cells
from audits.fairness import FairnessResult, evaluate_fairness
from audits.groups import (
    aggregate_cells,
    cell_counts,
    false_positive_rates,
    group_sizes,
    impact_ratios,
    partition_rows,
    selection_rates,
    summaries,
    true_positive_rates,
)

AGE_BANDS = {"18-24": -0.10, "25-34": 0.00, "35-54": 0.05, "55+": -0.05}
MARITAL = {"single": 0.00, "married": 0.04, "divorced": -0.04}
METRICS = {"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate}
CONFIDENCE = 0.95


def synthetic_decisions(n_rows: int, seed: int) -> pd.DataFrame:
    """Seeded decisions whose base rate and score depend on both attributes."""
    rng = np.random.default_rng(seed)
    age = rng.choice(np.array(list(AGE_BANDS)), size=n_rows, p=[0.15, 0.35, 0.35, 0.15])
    marital = rng.choice(np.array(list(MARITAL)), size=n_rows, p=[0.45, 0.40, 0.15])
    lift = pd.Series(age).map(AGE_BANDS).to_numpy() + pd.Series(marital).map(MARITAL).to_numpy()
    y_true = (rng.random(n_rows) < 0.5 + lift).astype(np.int64)
    score = np.clip(0.3 + 0.35 * y_true + lift + rng.normal(0.0, 0.18, n_rows), 0.0, 1.0)
    return pd.DataFrame(
        {
            "age_band": age,
            "marital": marital,
            "y_true": y_true,
            "y_pred": (score >= 0.5).astype(np.int64),
            "score": score,
        }
    )


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[Any, float]:
    """The value of ``function()`` and its best wall time over ``repeat`` runs."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return value, best


def docket(frame: pd.DataFrame, n_boot: int) -> FairnessResult:
    return evaluate_fairness(
        frame["y_true"].to_numpy(),
        frame["y_pred"].to_numpy(),
        {"age_band": frame["age_band"].to_numpy(), "marital": frame["marital"].to_numpy()},
        frame["score"].to_numpy(),
        n_boot=n_boot,
        confidence=CONFIDENCE,
        seed=0,
        score_metrics=False,
    )


def docket_bootstrap_stage(frame: pd.DataFrame, n_boot: int) -> float:
    """Seconds spent by the resampling stage alone, built from the same functions.

    ``evaluate_fairness`` with and without resamples differ by less than the timing
    noise at this size, so the stage is timed on its own: the cell counts are
    computed first (untimed), then the resamples, every partition's count metrics
    and summaries, and their percentile intervals.
    """
    y_true, y_pred = frame["y_true"].to_numpy(), frame["y_pred"].to_numpy()
    sensitive = {"age_band": frame["age_band"].to_numpy(), "marital": frame["marital"].to_numpy()}
    partitions = partition_rows(sensitive, len(frame))
    finest = partitions[-1]
    cells = cell_counts(y_true, y_pred, finest.row_group, finest.n_groups)
    start = time.perf_counter()
    draws = resample_cells(cells, n_boot, np.random.default_rng(0))
    for partition in partitions:
        part_cells = aggregate_cells(cells, partition.from_finest, partition.n_groups)
        part_draws = aggregate_cells(draws, partition.from_finest, partition.n_groups)
        included = group_sizes(part_cells) / len(frame) >= 0.02
        rates = selection_rates(part_draws)
        samples = [rates, impact_ratios(rates, included)]
        samples += [true_positive_rates(part_draws), false_positive_rates(part_draws)]
        samples += list(summaries(part_draws, included).values())
        for values in samples:
            percentile_interval(values, CONFIDENCE)
    return time.perf_counter() - start


def fairlearn_frame(frame: pd.DataFrame, n_boot: int) -> MetricFrame:
    """MetricFrame on the intersection, bootstrapped as a user would."""
    kwargs: dict[str, Any] = {
        "metrics": METRICS,
        "y_true": frame["y_true"],
        "y_pred": frame["y_pred"],
        "sensitive_features": frame[["age_band", "marital"]],
    }
    if n_boot == 0:
        return MetricFrame(**kwargs)
    parameters = inspect.signature(MetricFrame).parameters
    if "n_boot" in parameters and "ci_quantiles" in parameters:
        tail = (1 - CONFIDENCE) / 2
        return MetricFrame(**kwargs, n_boot=n_boot, ci_quantiles=[tail, 1 - tail], random_state=0)
    rng = np.random.default_rng(0)  # older fairlearn: a loop of row resamples
    for _ in range(n_boot):
        rows = frame.iloc[rng.integers(0, len(frame), size=len(frame))]
        MetricFrame(
            metrics=METRICS,
            y_true=rows["y_true"],
            y_pred=rows["y_pred"],
            sensitive_features=rows[["age_band", "marital"]],
        )
    return MetricFrame(**kwargs)


def max_point_difference(result: FairnessResult, metric_frame: MetricFrame) -> float:
    """Largest |Docket - fairlearn| over the intersection's group rates and summaries."""
    intersection = result.attribute("age_band & marital")
    differences = []
    for (age, marital), expected in metric_frame.by_group.iterrows():
        row = intersection.group(f"age_band={age} & marital={marital}")
        got = np.array([row.selection_rate, row.tpr, row.fpr], dtype=float)
        differences.append(np.abs(got - expected.to_numpy(dtype=float)).max())
    difference, ratio = metric_frame.difference(), metric_frame.ratio()
    summaries = {
        "demographic_parity_difference": difference["sr"],
        "demographic_parity_ratio": ratio["sr"],
        "equalized_odds_difference": max(difference["tpr"], difference["fpr"]),
        "equalized_odds_ratio": min(ratio["tpr"], ratio["fpr"]),
        "equal_opportunity_difference": difference["tpr"],
        "equal_opportunity_ratio": ratio["tpr"],
    }
    for name, expected_value in summaries.items():
        value = intersection.summary(name).value
        differences.append(abs(float(value if value is not None else np.nan) - expected_value))
    return float(max(differences))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--fairlearn-boot", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    frame, t_data = timed(lambda: synthetic_decisions(args.rows, args.seed))
    print(f"data: {args.rows:,} rows, 4 x 3 groups, generated in {t_data:.2f} s")
    small = frame.iloc[:1000]
    docket(small, 2)  # warm imports and caches
    fairlearn_frame(small, 0)

    point, t_docket_point = timed(lambda: docket(frame, 0), repeat=5)
    booted, t_docket_total = timed(lambda: docket(frame, args.n_boot), repeat=5)
    reference, t_fair_point = timed(lambda: fairlearn_frame(frame, 0))
    _, t_fair_total = timed(lambda: fairlearn_frame(frame, args.fairlearn_boot))

    t_docket_boot = min(docket_bootstrap_stage(frame, args.n_boot) for _ in range(5))
    t_fair_boot = max(t_fair_total - t_fair_point, 0.0)
    docket_each = t_docket_boot / max(args.n_boot, 1)
    fair_each = t_fair_boot / max(args.fairlearn_boot, 1)
    header = ("points (s)", "total (s)", "resamples", "resampling (s)", "per resample")
    print()
    print(f"{'':26}" + "".join(f"{h:>16}" for h in header))
    for name, t_point, t_total, n_boot, t_boot, each in (
        ("Docket evaluate_fairness", t_docket_point, t_docket_total, args.n_boot, t_docket_boot,
         docket_each),
        ("fairlearn MetricFrame", t_fair_point, t_fair_total, args.fairlearn_boot, t_fair_boot,
         fair_each),
    ):  # fmt: skip
        print(
            f"{name:26}{t_point:16.3f}{t_total:16.3f}{n_boot:16d}{t_boot:16.4f}"
            f"{each * 1e3:13.4f} ms"
        )
    n_groups = sum(len(a.groups) for a in point.attributes)
    print(
        f"(Docket: {len(point.attributes)} partitions, {n_groups} groups, summaries, intervals "
        f"and p-values; fairlearn: {len(reference.by_group)} intersection groups, 3 metrics)"
    )
    print()
    if docket_each > 0:
        print(f"per-resample cost ratio (fairlearn / Docket): {fair_each / docket_each:,.0f}x")
    print(f"point-estimate ratio (fairlearn / Docket): {t_fair_point / t_docket_point:,.1f}x")
    print(
        f"fairlearn extrapolated to {args.n_boot} resamples: "
        f"{t_fair_point + fair_each * args.n_boot:,.1f} s (Docket: {t_docket_total:.2f} s)"
    )
    print(
        f"max |Docket - fairlearn| over point estimates: {max_point_difference(point, reference):.3g}"
    )
    points = [(r.selection_rate, r.tpr, r.fpr) for a in point.attributes for r in a.groups]
    again = [(r.selection_rate, r.tpr, r.fpr) for a in booted.attributes for r in a.groups]
    assert points == again, "the bootstrap must not change the point estimates"
    row = booted.attribute("age_band & marital").groups[0]
    print(
        f"example interval: {row.group} selection rate {row.selection_rate:.4f} "
        f"[{row.selection_rate_ci_low:.4f}, {row.selection_rate_ci_high:.4f}]"
    )


if __name__ == "__main__":
    main()
