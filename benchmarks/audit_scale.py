"""Scale benchmark: Docket's whole audit against fairlearn and a plain row bootstrap.

Generates seeded synthetic decisions with scores and two sensitive attributes
(4 x 3 groups), then, on the same data:

(a) **Docket, the whole audit**: ``audits.audit.evaluate_gate``, what ``docket audit``
    runs on scored rows: the served policy's decisions and outcome mix by group,
    ``audits.fairness.evaluate_fairness`` with score metrics on two attributes and
    their intersection (counts, selection rate, impact ratio, TPR, FPR, ROC AUC,
    calibration error, summaries, p-values, every interval),
    ``audits.bootstrap.performance_with_intervals`` (ROC AUC, PR AUC, Brier, log
    loss, calibration error, each with its interval) and the gate's checks. Timed with
    ``--n-boot`` resamples and with none (point estimates only).
(b) **fairlearn** ``MetricFrame`` with selection rate, TPR and FPR on the
    intersection: point estimates, then ``--fairlearn-boot`` resamples through its
    own ``n_boot`` / ``ci_quantiles`` (a loop of row resamples when the installed
    fairlearn lacks them), extrapolated to ``--n-boot``.
(c) **A plain row bootstrap**: draw ``n`` row indices, recompute every metric of (a)
    on the resampled rows (scikit-learn's ``roc_auc_score``, ``average_precision_score``,
    ``brier_score_loss``, ``log_loss``, ``models.metrics.expected_calibration_error``,
    rates by group with numpy), timed on ``--plain-boot`` resamples and extrapolated.

Checks printed under the table:

- point estimates: the largest absolute difference between Docket's and fairlearn's
  (intersection rates and summaries) and between Docket's and scikit-learn's (AUC and
  calibration error of every group, the five performance metrics);
- intervals: on the first ``--agree-rows`` rows, Docket's intervals (``--n-boot``
  resamples) against those of the plain row bootstrap with as many resamples; each
  bound's difference is divided by the plain bootstrap's standard deviation of that
  metric. Two independent bootstraps of ``B`` resamples each put a 2.5% quantile
  about ``2.67 * sqrt(2 / B)`` standard deviations apart (normal approximation):
  0.27 for ``B = 200``, which is the scale to read the figures against.

Usage::

    .venv/bin/python benchmarks/audit_scale.py [--rows 1000000] [--n-boot 200]
        [--fairlearn-boot 1] [--plain-boot 2] [--agree-rows 100000] [--quick]
"""

from __future__ import annotations

import argparse
import inspect
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate, true_positive_rate
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

from audits.audit import evaluate_gate
from audits.bootstrap import percentile_interval
from audits.fairness import FairnessResult
from audits.groups import Partition, partition_rows
from audits.report import Interval
from models.metrics import expected_calibration_error, performance
from models.spec import DecisionSpec, parse_spec

AGE_BANDS = {"18-24": -0.10, "25-34": 0.00, "35-54": 0.05, "55+": -0.05}
MARITAL = {"single": 0.00, "married": 0.04, "divorced": -0.04}
METRICS = {"sr": selection_rate, "tpr": true_positive_rate, "fpr": false_positive_rate}
ATTRIBUTES = ("age_band", "marital")
GROUP_METRICS = ("selection_rate", "tpr", "fpr", "auc", "calibration_error")
CONFIDENCE = 0.95
DATASHEET_KEYS = ("source", "original_purpose", "preparation", "known_gaps", "known_biases")
GOAL_SECONDS = 10.0

Key = tuple[str, str, str]  # (partition or "overall", group, metric)


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
    value = None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - start)
    return value, best


# ---- (a) Docket ------------------------------------------------------------------------
def bench_spec(n_boot: int) -> DecisionSpec:
    """A spec whose gate and policy the audit uses: approve at 0.5, no referral rule.

    With no rules, no out-of-distribution check and ``refer_adverse`` off, the policy
    approves exactly the rows with ``score >= 0.5``: the data's ``y_pred``, which
    fairlearn and the plain bootstrap are given.
    """
    spec = parse_spec(
        {
            "name": "audit-scale",
            "description": "Benchmark of the whole audit.",
            "intended_use": "Timing only.",
            "out_of_scope_use": ["Any decision."],
            "data": {
                "source": "bench.csv",
                "target": "y_true",
                "favourable": 1,
                "datasheet": {k: "synthetic" for k in DATASHEET_KEYS},
            },
            "features": {"x": {"type": "numeric", "label": "x", "min": 0, "max": 1}},
            "sensitive": {"attributes": list(ATTRIBUTES)},
            "model": {"family": "logistic"},
            "gate": {"seed": 0, "confidence": CONFIDENCE, "min_group_size": 30},
            "policy": {
                "approve_at": 0.5,
                "decline_below": 0.3,
                "refer_adverse": False,
                "refer_out_of_distribution": False,
            },
        }
    )
    assert spec.gate is not None
    # model_copy does not validate: the gate's schema asks for at least 20 resamples,
    # and the benchmark also times none
    return spec.model_copy(update={"gate": spec.gate.model_copy(update={"n_boot": n_boot})})


def docket_audit(frame: pd.DataFrame, n_boot: int) -> tuple[FairnessResult, dict[str, Interval]]:
    """The whole audit as ``docket audit`` runs it (``audits.audit.evaluate_gate``).

    The served policy's decisions, the outcome mix by group, fairness with score
    metrics, performance, every interval, and the gate's checks.
    """
    y, scores = frame["y_true"].to_numpy(), frame["score"].to_numpy()
    evaluation = evaluate_gate(bench_spec(n_boot), y, scores, frame[list(ATTRIBUTES)])
    assert np.array_equal(evaluation.decisions, frame["y_pred"].to_numpy())
    return evaluation.fairness, evaluation.performance


def docket_intervals(
    fairness: FairnessResult, perf: dict[str, Interval]
) -> dict[Key, tuple[float, float]]:
    out: dict[Key, tuple[float, float]] = {}
    for attribute in fairness.attributes:
        for row in attribute.groups:
            for metric in GROUP_METRICS:
                low, high = getattr(row, f"{metric}_ci_low"), getattr(row, f"{metric}_ci_high")
                if low is not None and high is not None:
                    out[(attribute.attribute, row.group, metric)] = (low, high)
    for name, interval in perf.items():
        if interval.ci_low is not None and interval.ci_high is not None:
            out[("overall", "", name)] = (interval.ci_low, interval.ci_high)
    return out


# ---- (b) fairlearn ---------------------------------------------------------------------
def fairlearn_frame(frame: pd.DataFrame, n_boot: int) -> MetricFrame:
    """MetricFrame on the intersection, bootstrapped as a user would."""
    kwargs: dict[str, Any] = {
        "metrics": METRICS,
        "y_true": frame["y_true"],
        "y_pred": frame["y_pred"],
        "sensitive_features": frame[list(ATTRIBUTES)],
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
            sensitive_features=rows[list(ATTRIBUTES)],
        )
    return MetricFrame(**kwargs)


def max_fairlearn_difference(result: FairnessResult, metric_frame: MetricFrame) -> float:
    """Largest |Docket - fairlearn| over the intersection's group rates and summaries."""
    intersection = result.attribute(" & ".join(ATTRIBUTES))
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


# ---- (c) a plain row bootstrap ---------------------------------------------------------
def plain_metrics(
    frame: pd.DataFrame, partitions: list[Partition], rows: np.ndarray | None
) -> dict[Key, float]:
    """Every per-group and overall metric on the given rows, recomputed from scratch."""
    take = slice(None) if rows is None else rows
    y = frame["y_true"].to_numpy()[take]
    pred = frame["y_pred"].to_numpy()[take]
    scores = frame["score"].to_numpy()[take]
    out: dict[Key, float] = {}
    for part in partitions:
        row_group = part.row_group[take]
        for g, label in enumerate(part.labels):
            in_group = row_group == g
            yg, pg, sg = y[in_group], pred[in_group], scores[in_group]
            positives = int(yg.sum())
            out[(part.name, label, "selection_rate")] = pg.mean() if len(yg) else math.nan
            out[(part.name, label, "tpr")] = pg[yg == 1].mean() if positives else math.nan
            negatives = len(yg) - positives
            out[(part.name, label, "fpr")] = pg[yg == 0].mean() if negatives else math.nan
            both = positives and negatives
            out[(part.name, label, "auc")] = roc_auc_score(yg, sg) if both else math.nan
            out[(part.name, label, "calibration_error")] = (
                expected_calibration_error(yg, sg) if len(yg) else math.nan
            )
    overall = {
        "roc_auc": roc_auc_score(y, scores),
        "pr_auc": average_precision_score(y, scores),
        "brier": brier_score_loss(y, scores),
        "log_loss": log_loss(y, np.clip(scores, 1e-15, 1 - 1e-15), labels=[0, 1]),
        "calibration_error": expected_calibration_error(y, scores),
    }
    out.update({("overall", "", name): float(value) for name, value in overall.items()})
    return out


def plain_bootstrap(
    frame: pd.DataFrame, partitions: list[Partition], n_boot: int, seed: int
) -> tuple[list[Key], np.ndarray]:
    rng = np.random.default_rng(seed)
    keys: list[Key] = []
    samples = []
    for _ in range(n_boot):
        values = plain_metrics(frame, partitions, rng.integers(0, len(frame), len(frame)))
        keys = list(values)
        samples.append([values[k] for k in keys])
    return keys, np.array(samples, dtype=np.float64)


def max_sklearn_difference(
    frame: pd.DataFrame, fairness: FairnessResult, perf: dict[str, Interval]
) -> tuple[float, float]:
    """Largest |Docket - scikit-learn| over group AUC and ECE, and over performance."""
    partitions = partition_rows({name: frame[name].to_numpy() for name in ATTRIBUTES}, len(frame))
    reference = plain_metrics(frame, partitions, None)
    group = 0.0
    for attribute in fairness.attributes:
        for row in attribute.groups:
            for metric in ("auc", "calibration_error"):
                value = getattr(row, metric)
                expected = reference[(attribute.attribute, row.group, metric)]
                group = max(group, abs(float(value) - expected))
    overall = max(
        abs(float(i.value or 0.0) - reference[("overall", "", k)]) for k, i in perf.items()
    )
    sklearn_direct = performance(frame["y_true"].to_numpy(), frame["score"].to_numpy())
    overall = max(overall, *(abs(sklearn_direct[k] - (perf[k].value or 0.0)) for k in perf))
    return group, overall


# ---- the run ---------------------------------------------------------------------------
def interval_agreement(frame: pd.DataFrame, n_boot: int) -> dict[str, float]:
    """Docket's intervals against a plain bootstrap with as many resamples."""
    fairness, perf = docket_audit(frame, n_boot)
    docket = docket_intervals(fairness, perf)
    partitions = partition_rows({name: frame[name].to_numpy() for name in ATTRIBUTES}, len(frame))
    keys, samples = plain_bootstrap(frame, partitions, n_boot, seed=1)
    low, high = percentile_interval(samples, CONFIDENCE)
    sd = np.nanstd(samples, axis=0, ddof=1)
    gaps = []
    for index, key in enumerate(keys):
        if key in docket and sd[index] > 0:
            d_low, d_high = docket[key]
            gaps.append(abs(d_low - low[index]) / sd[index])
            gaps.append(abs(d_high - high[index]) / sd[index])
    array = np.array(gaps)
    return {
        "bounds": float(len(array)),
        "max": float(array.max()),
        "median": float(np.median(array)),
        "p95": float(np.quantile(array, 0.95)),
        "expected": 2.67 * math.sqrt(2 / n_boot),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--fairlearn-boot", type=int, default=1)
    parser.add_argument("--plain-boot", type=int, default=2)
    parser.add_argument("--agree-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a smoke test: 20,000 rows")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # progress when piped
    if args.quick:
        args.rows, args.agree_rows, args.n_boot = 20_000, 5_000, 100
    n_boot = args.n_boot

    frame, t_data = timed(lambda: synthetic_decisions(args.rows, args.seed))
    print(f"data: {args.rows:,} rows, 4 x 3 groups, generated in {t_data:.2f} s")
    small = frame.iloc[:2000]
    docket_audit(small, 5)  # warm imports and caches
    fairlearn_frame(small, 0)

    (point, point_perf), t_docket_point = timed(lambda: docket_audit(frame, 0))
    cpu_start = time.process_time()
    (booted, booted_perf), t_docket_total = timed(lambda: docket_audit(frame, n_boot))
    cpu_docket_total = time.process_time() - cpu_start  # less sensitive to other load
    reference, t_fair_point = timed(lambda: fairlearn_frame(frame, 0))
    _, t_fair_total = timed(lambda: fairlearn_frame(frame, args.fairlearn_boot))
    partitions = partition_rows({name: frame[name].to_numpy() for name in ATTRIBUTES}, len(frame))
    _, t_plain_point = timed(lambda: plain_metrics(frame, partitions, None))
    _, t_plain_boot = timed(lambda: plain_bootstrap(frame, partitions, args.plain_boot, seed=1))

    t_docket_boot = max(t_docket_total - t_docket_point, 0.0)
    fair_each = max(t_fair_total - t_fair_point, 0.0) / max(args.fairlearn_boot, 1)
    plain_each = t_plain_boot / max(args.plain_boot, 1)
    rows = [
        ("Docket whole audit", t_docket_point, n_boot, t_docket_boot / max(n_boot, 1),
         t_docket_total, "measured"),
        ("fairlearn MetricFrame", t_fair_point, args.fairlearn_boot, fair_each,
         t_fair_point + fair_each * n_boot, f"{args.fairlearn_boot} resamples, extrapolated"),
        ("plain row bootstrap", t_plain_point, args.plain_boot, plain_each,
         t_plain_point + plain_each * n_boot, f"{args.plain_boot} resamples, extrapolated"),
    ]  # fmt: skip
    print()
    print(f"{'':24}{'points (s)':>12}{'timed boot':>12}{'per resample':>15}"
          f"{f'total @ {n_boot} (s)':>18}  how")  # fmt: skip
    for name, t_point, timed_boot, each, total, how in rows:
        print(f"{name:24}{t_point:12.2f}{timed_boot:12d}{each * 1e3:12.1f} ms{total:18.2f}  {how}")
    n_groups = sum(len(a.groups) for a in point.attributes)
    print(
        f"(Docket and the plain bootstrap: {len(point.attributes)} partitions, {n_groups} groups,"
        f" 5 group metrics and 5 performance metrics, each with an interval; Docket also"
        f" impact ratios, 6 summaries per partition and p-values. fairlearn:"
        f" {len(reference.by_group)} intersection groups, 3 rates.)"
    )
    verdict = "met" if t_docket_total <= GOAL_SECONDS else "MISSED"
    print(
        f"Docket whole audit at {args.rows:,} rows x {n_boot} resamples: {t_docket_total:.2f} s"
        f" wall, {cpu_docket_total:.2f} s CPU (goal <= {GOAL_SECONDS:.0f} s: {verdict});"
        f" the plain bootstrap would take"
        f" {t_plain_point + plain_each * n_boot:,.0f} s, fairlearn (3 rates only)"
        f" {t_fair_point + fair_each * n_boot:,.0f} s"
    )

    print()
    print("point estimates")
    print(f"  max |Docket - fairlearn| (rates, summaries): {max_fairlearn_difference(point, reference):.3g}")  # fmt: skip
    group_gap, perf_gap = max_sklearn_difference(frame, point, point_perf)
    print(f"  max |Docket - sklearn| group AUC and ECE:    {group_gap:.3g}")
    print(f"  max |Docket - sklearn| performance metrics:  {perf_gap:.3g}")
    same = [
        (r.selection_rate, r.tpr, r.fpr, r.auc, r.calibration_error)
        for a in point.attributes
        for r in a.groups
    ] == [
        (r.selection_rate, r.tpr, r.fpr, r.auc, r.calibration_error)
        for a in booted.attributes
        for r in a.groups
    ]
    same = same and {k: i.value for k, i in point_perf.items()} == {
        k: i.value for k, i in booted_perf.items()
    }
    print(f"  identical with and without resamples: {same}")

    agree_rows = min(args.agree_rows, args.rows)
    print()
    print(
        f"intervals: Docket vs a plain row bootstrap, {agree_rows:,} rows, {n_boot} resamples"
        " each (|bound difference| / plain bootstrap sd)"
    )
    agreement, t_agree = timed(lambda: interval_agreement(frame.iloc[:agree_rows], n_boot))
    print(
        f"  {agreement['bounds']:.0f} bounds: median {agreement['median']:.2f}, 95th percentile"
        f" {agreement['p95']:.2f}, max {agreement['max']:.2f} sd; took {t_agree:.0f} s"
    )
    scale = agreement["expected"]
    print(
        f"  Monte Carlo error alone (two independent bootstraps, normal approximation):"
        f" sd {scale:.2f}, so median {0.674 * scale:.2f} and 95th percentile {1.96 * scale:.2f}"
    )
    row = booted.attribute(" & ".join(ATTRIBUTES)).groups[0]
    print(
        f"example: {row.group} AUC {row.auc:.4f} [{row.auc_ci_low:.4f}, {row.auc_ci_high:.4f}],"
        f" overall ROC AUC {booted_perf['roc_auc'].value:.4f}"
        f" [{booted_perf['roc_auc'].ci_low:.4f}, {booted_perf['roc_auc'].ci_high:.4f}]"
    )


if __name__ == "__main__":
    main()
