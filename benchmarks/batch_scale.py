"""Portfolio scale: `docket batch` (local and Spark) against a naive baseline and the floor.

Usage::

    .venv/bin/python benchmarks/batch_scale.py [--rows 1000000] [--engine-rows N]
        [--chunk-rows 5000] [--spark-master local[2]] [--no-spark] [--home DIR]

In one run, on a fresh temporary ``DOCKET_HOME`` (train, audit, promote the shipped
``credit-eligibility`` use case, a LightGBM model; a benchmark-only waiver when its
audit does not pass), the use case's rows are resampled to ``--rows`` rows and:

(a) floor: LightGBM ``pred_contrib`` alone (exact TreeSHAP of the raw margin) on the
    encoded rows, LightGBM's default threads; encoding timed apart;
(b) naive baseline: pandas chunks, encode, score, ``shap.TreeExplainer`` on the
    booster per chunk; no policy, no reasons, no recourse, no ledger;
(c) ``--engine local``: every row through ``prepare_decisions`` (validation, score,
    policy, exact contributions, reasons, recourse for adverse rows; the rows of a
    chunk decided together, each exactly as ``POST /decide`` decides it alone), one
    ledger transaction per chunk with review cases, results and rejects written; in
    as many processes as ``DOCKET_BATCH_WORKERS`` says (default: one per usable core);
(d) ``--engine spark`` on ``--spark-master`` (default ``local[2]``): the same.

(c) and (d) decide the first ``--engine-rows`` rows (default: all of them); when that
is fewer than ``--rows``, their time for ``--rows`` is extrapolated from rows/s and
shown as such. After each engine run the ledger is checked: every decided row is one
decision entry, and the chain verifies. The ``rows/s`` of every line are printed, with
the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

WAIVER = {
    "justification": (
        "Benchmark only: serve the shipped model, whose fairness audit fails, in a throw-away"
        " temporary registry so that batch throughput can be measured; never done for real."
    ),
    "requested_by": "benchmark-runner",
    "approved_by": "benchmark-reviewer",
}
USE_CASE = "credit-eligibility"


def note(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def setup(home: Path) -> None:
    from audits.audit import run_audit
    from audits.promotion import Waiver, promote
    from docket.usecases import resolve_spec
    from models.settings import Settings
    from serving.access.promotions import ledger_recorder
    from serving.ledger import DecisionLog
    from training.train import train_use_case

    settings = Settings.local(home).ensure()
    log = DecisionLog(settings.database_url)
    log.migrate()
    spec = resolve_spec(USE_CASE)
    trained = train_use_case(spec, settings)
    report = run_audit(spec, settings, version=trained.version)
    promote(
        spec,
        settings,
        trained.version,
        requested_by=WAIVER["requested_by"],
        waiver=None if report.outcome == "PASS" else Waiver(**WAIVER),
        record=ledger_recorder(log, spec),
    )
    log.close()
    note(f"[setup] {USE_CASE} version {trained.version}, audit {report.outcome}")


def rows_per_s(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--engine-rows", type=int, default=None)
    parser.add_argument("--chunk-rows", type=int, default=5000)
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--home", type=Path, default=None, help="reuse a prepared home")
    args = parser.parse_args()
    engine_rows = min(args.engine_rows or args.rows, args.rows)

    import numpy as np

    from docket.usecases import resolve_spec
    from models import registry
    from models.settings import Settings
    from serving.batch import plan_batch, run_local
    from serving.decisions.served import last_promotion, load_served
    from serving.ledger import DecisionLog, LogKind
    from training.data import load_dataset

    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="docket-batch-bench-"))
    home = args.home or work / "home"
    if not (home / "mlflow.db").exists():
        setup(home)
    settings = Settings.local(home)
    client = registry.connect(settings)
    version = registry.alias_version(client, USE_CASE, registry.CHAMPION)
    served = load_served(
        client, USE_CASE, str(version), require_promotion=last_promotion(client, USE_CASE)
    )
    spec = resolve_spec(USE_CASE)
    source = load_dataset(spec).frame[spec.feature_names]
    picked = np.random.default_rng(20261123).integers(0, len(source), args.rows)
    frame = source.iloc[picked].reset_index(drop=True)
    full = work / "rows.parquet"
    frame.to_parquet(full, index=False)
    part = work / "engine-rows.parquet"
    frame.iloc[:engine_rows].to_parquet(part, index=False)
    note(f"[setup] {args.rows} rows resampled from {len(source)} rows of {USE_CASE}")
    lines: list[tuple[str, int, float, str]] = []

    # (a) the floor
    model = served.model
    t0 = time.perf_counter()
    X = model.encode(frame)
    encode_s = time.perf_counter() - t0
    booster = model.estimator.booster_  # type: ignore[attr-defined]
    # LightGBM's default threads, and one thread (as Docket's models call it): on a
    # loaded machine OpenMP's threads can be slower than one; the faster is the floor
    floors = {}
    for threads in (0, 1):
        t0 = time.perf_counter()
        booster.predict(X, pred_contrib=True, num_threads=threads)
        floors[threads] = time.perf_counter() - t0
        label = "default threads" if threads == 0 else "1 thread"
        lines.append(
            (f"floor: LightGBM pred_contrib alone, {label}", args.rows, floors[threads], "")
        )
        note(f"[floor {label}] {rows_per_s(args.rows, floors[threads]):,.0f} rows/s")
    floor_s = min(floors.values())
    lines.append(("  (encoding the rows, apart)", args.rows, encode_s, ""))

    # (b) naive baseline
    import warnings

    import shap

    warnings.filterwarnings("ignore", message="LightGBM binary classifier with TreeExplainer")
    t0 = time.perf_counter()
    for start in range(0, args.rows, args.chunk_rows):
        chunk = frame.iloc[start : start + args.chunk_rows]
        Xc = model.encode(chunk)
        model.score(Xc)
        shap.TreeExplainer(booster).shap_values(Xc)
    naive_s = time.perf_counter() - t0
    lines.append(
        ("naive: pandas + shap.TreeExplainer per chunk, no ledger", args.rows, naive_s, "")
    )
    note(f"[naive] {rows_per_s(args.rows, naive_s):,.0f} rows/s")

    # (c), (d) the engines, each on its own copy of the ledger
    engines = ["local"] + ([] if args.no_spark else ["spark"])
    for engine in engines:
        db = work / f"{engine}.db"
        shutil.copyfile(home / "decisions.db", db)
        run_settings = settings.model_copy(update={"database_url": f"sqlite:///{db}"})
        out = work / f"out-{engine}"
        plan = plan_batch(
            run_settings,
            USE_CASE,
            part,
            out,
            requested_by="benchmark",
            chunk_rows=args.chunk_rows,
            engine=engine,
        )
        if engine == "local":
            t0 = time.perf_counter()
            summary = run_local(plan, progress=note)
        else:
            from serving.batch.spark import run_spark, spark_session

            t0 = time.perf_counter()
            session = spark_session(args.spark_master)
            note(f"[spark] session up in {time.perf_counter() - t0:.1f} s (not counted)")
            t0 = time.perf_counter()  # from here: broadcast, tasks, ledger, files
            summary = run_spark(plan, progress=note, session=session)
        seconds = time.perf_counter() - t0
        plan.log.close()
        log = DecisionLog(run_settings.database_url)
        counts = Counter(e.subject_id for e in log.iter_entries() if e.kind == LogKind.DECISION)
        ok = log.verify().ok
        log.close()
        recorded = len(counts) == summary.decided and set(counts.values()) <= {1}
        check = f"{summary.decided} recorded once each: {recorded}, chain verifies: {ok}"
        extra = ""
        if engine_rows < args.rows:
            extra = f"; {args.rows:,} rows would take ~{args.rows / rows_per_s(engine_rows, seconds) / 60:.0f} min"
        lines.append((f"docket batch --engine {engine}", engine_rows, seconds, check + extra))
        note(f"[{engine}] {rows_per_s(engine_rows, seconds):,.0f} rows/s ({check})")

    load_after = os.getloadavg()
    from serving.batch.run import local_workers

    print(
        f"\nbatch_scale: {USE_CASE}, {os.cpu_count()} cores, chunk {args.chunk_rows} rows,"
        f" local engine in {local_workers(-(-engine_rows // args.chunk_rows))} processes"
    )
    print(f"load average before {load_before[0]:.2f} / after {load_after[0]:.2f} (1 min)")
    print(f"{'what':58} {'rows':>10} {'seconds':>9} {'rows/s':>11}  notes")
    for what, n, s, extra in lines:
        print(f"{what:58} {n:>10,} {s:>9.1f} {rows_per_s(n, s):>11,.0f}  {extra}")
    floor = rows_per_s(args.rows, floor_s)
    for what, n, s, _ in lines:
        if what.startswith("docket"):
            share = rows_per_s(n, s) / floor
            print(f"{what}: {share:.2%} of the floor's rows/s (goal: at least 50%)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
