"""Cost of the monitoring report over logged decisions held in memory.

Generates a seeded synthetic stream (``audits.monitoring.synthetic_stream``: three
watched features, the score, two audit attributes and their intersection, three
reviewers, outcome labels on half the rows, drift and a biased reviewer planted
halfway), then times, on the same frame:

- **baseline**: one pandas ``groupby([day, sex, outcome]).size()``, the least any
  report by window and group has to do;
- **report, day** and **report, week**: ``monitoring_report`` (drift of every feature
  and the score with PSI and KS/chi-square per window, live fairness by group with 200
  bootstrap resamples per window and attribute, the human-plus-model figures by
  group and by reviewer) followed by ``check_alerts``;
- the three parts of the day report on their own (``drift_by_window``,
  ``live_fairness``, ``system_by_group``).

Reading the decisions from the ledger is not included (that reader does not exist
yet). Each figure is the best of ``--repeats`` runs. The load average is printed
before and after: other work on the machine slows every figure.

Usage::

    .venv/bin/python benchmarks/monitoring_report.py [--rows 1000000] [--days 30] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from audits.monitoring import (
    check_alerts,
    drift_by_window,
    live_fairness,
    monitoring_report,
    synthetic_stream,
    system_by_group,
)
from models.spec import MonitoringSection


def _best(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    load_before = os.getloadavg()
    start = time.perf_counter()
    stream = synthetic_stream(
        n_per_day=args.rows // args.days,
        days=args.days,
        seed=args.seed,
        shift_day=args.days // 2,
        bias_day=args.days // 2,
    )
    generated = time.perf_counter() - start
    frame = stream.decisions
    settings = MonitoringSection()
    print(f"rows {len(frame):,} over {args.days} days; generated in {generated:.1f} s")

    def baseline() -> Any:
        return frame.groupby([frame["decided_at"].dt.floor("D"), "sex", "outcome"]).size()

    def report(window: str) -> Callable[[], Any]:
        def run() -> Any:
            found = monitoring_report(
                frame,
                settings=settings,
                window=window,  # type: ignore[arg-type]
                features=stream.features,
                attributes=stream.attributes,
                reference=stream.reference,
            )
            return found, check_alerts(found, settings)

        return run

    timings: list[tuple[str, float]] = []
    seconds, _ = _best(args.repeats, baseline)
    timings.append(("baseline: groupby(day, sex, outcome).size()", seconds))
    for window in ("day", "week"):
        seconds, (found, alerts) = _best(args.repeats, report(window))
        timings.append((f"report + alerts, {window} windows", seconds))
        print(
            f"{window}: {len(found.windows)} windows, {len(found.drift)} drift rows,"
            f" {len(found.fairness)} group rows, {len(found.system)} system rows,"
            f" {len(alerts)} alerts"
        )
    parts: list[tuple[str, Callable[[], Any]]] = [
        (
            "  drift only (day)",
            lambda: drift_by_window(stream.reference, frame, stream.features, "day"),
        ),
        ("  live fairness only (day)", lambda: live_fairness(frame, stream.attributes, "day")),
        ("  human-plus-model only (day)", lambda: system_by_group(frame, stream.attributes, "day")),
    ]
    for name, run in parts:
        seconds, _ = _best(args.repeats, run)
        timings.append((name, seconds))
    load_after = os.getloadavg()

    print()
    print(f"{'what':<48} {'seconds':>8}")
    for name, seconds in timings:
        print(f"{name:<48} {seconds:>8.2f}")
    print()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    print(f"load average after:  {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    print(f"cores: {os.cpu_count()}")


if __name__ == "__main__":
    main()
