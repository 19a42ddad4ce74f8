"""The append ceiling of the decision log with many writers, before and after group commit.

Every cell appends realistic decision entries (a DecisionRecord-shaped digest of about
2 kB and a PersonalData-shaped payload) to a fresh, migrated PostgreSQL schema for
``--seconds`` from ``W`` concurrent writers, laid out as

* ``threads``: one process, ``W`` threads (one service worker under load);
* ``processes``: ``W`` processes of one thread (each appends alone: group commit cannot
  group anything, the advisory lock serialises them as before);
* ``mixed``: ``W / 4`` processes of 4 threads (several service workers, a few requests
  in flight in each: the realistic case);

once with ``GroupCommitSettings(enabled=False)`` (**before**: one transaction and one
lock per append, today's path) and once with group commit on (**after**), in the same
run, alternating, ``--repeat`` rounds each. It prints the median round's entries per
second (and the range over the rounds), its append latency (p50/p99), the mean group
size, and the load average; after each cell it checks that every acknowledged
entry is in the ledger and that ``verify()`` passes (a failed check stops the run).

Usage::

    .venv/bin/python benchmarks/ledger_throughput.py \\
        [--url postgresql+psycopg://postgres@127.0.0.1:5432/test] [--seconds 3] \\
        [--writers 1,4,8,16] [--layouts threads,processes,mixed] [--window-ms 0] [--repeat 3]

The URL can also come from ``DOCKET_TEST_POSTGRES_URL``; a ``sqlite:///`` URL works too
(one file per cell).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, text  # noqa: E402

from serving.ledger import DecisionLog  # noqa: E402
from serving.ledger.engine import normalise_url  # noqa: E402
from serving.ledger.group_commit import GroupCommitSettings  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
START_TIMEOUT_S = 120.0
USE_CASE = "credit-eligibility"
#: the group window of the "after" cells (--window-ms), passed to spawned workers too
WINDOW_S = [0.0]


def decision_digest(writer: int, index: int) -> dict[str, Any]:
    """A digest shaped like ``DecisionRecord`` (the non-personal facts of one decision)."""
    features = [f"feature_{k:02d}" for k in range(12)]
    return {
        "decision_id": str(uuid.uuid4()),
        "decided_at": "2026-11-23T19:00:00.000000+00:00",
        "use_case": USE_CASE,
        "model_version": "7",
        "policy_version": "credit-policy-2026.3",
        "explainer_version": "linear-exact-1",
        "catalogue_version": "reasons-2026.2",
        "spec_hash": "ab" * 32,
        "spec_ref": "specs/credit-eligibility.yaml",
        "score": round((writer * 7919 + index) % 1000 / 1000, 3),
        "outcome": "approved",
        "recommendation": "approve",
        "status": "final",
        "case": None,
        "referral_reasons": [],
        "reasons": [
            {"code": f"R{k}", "text": f"Reason {k}: a plain-language sentence about it."}
            for k in range(3)
        ],
        "rationale": {
            "kind": "linear",
            "intercept": -0.42,
            "contributions": [
                {"feature": name, "weight": 0.1 * k, "contribution": 0.01 * k}
                for k, name in enumerate(features)
            ],
        },
        "recourse_found": True,
        "requested_by": f"svc-{writer}",
        "requested_by_key": None,
    }


def personal_payload(writer: int, index: int) -> dict[str, Any]:
    """A payload shaped like ``PersonalData`` (the erasable personal facts)."""
    return {
        "features": {f"feature_{k:02d}": (writer + index + k) % 97 for k in range(12)},
        "application_ref": f"app-{writer}-{index}",
        "automated_decision_consent": True,
        "recourse": {"feature_03": 12},
        "training_data_consent": False,
    }


@dataclass
class WorkerResult:
    count: int
    latencies: list[float]
    entry_ids: list[str]
    groups: int
    grouped: int


def run_worker(
    url: str, worker: int, threads: int, seconds: float, grouped: bool, start: Barrier | None
) -> WorkerResult:
    """One process: ``threads`` threads appending for ``seconds`` after the start barrier."""
    settings = GroupCommitSettings(enabled=grouped, window_s=WINDOW_S[0])
    log = DecisionLog(
        url, group_commit=settings, engine_options={"pool_size": threads, "max_overflow": 2}
    )
    latencies: list[list[float]] = [[] for _ in range(threads)]
    ids: list[list[str]] = [[] for _ in range(threads)]
    go = threading.Barrier(threads + 1)
    stop_at = [0.0]

    def loop(thread: int) -> None:
        writer = worker * 100 + thread
        go.wait(START_TIMEOUT_S)
        index = 0
        while time.perf_counter() < stop_at[0]:
            began = time.perf_counter()
            entry = log.append(
                "decision",
                USE_CASE,
                decision_digest(writer, index),
                payload=personal_payload(writer, index),
                subject_id=f"d-{writer}-{index}",
            )
            latencies[thread].append(time.perf_counter() - began)
            ids[thread].append(entry.entry_id)
            index += 1

    try:
        log.head()  # connected before the clock starts
        pool = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
        for thread in pool:
            thread.start()
        if start is not None:
            start.wait(START_TIMEOUT_S)
        stop_at[0] = time.perf_counter() + seconds
        go.wait(START_TIMEOUT_S)
        for thread in pool:
            thread.join()
        committer = log.group_committer
        return WorkerResult(
            count=sum(len(i) for i in ids),
            latencies=[x for part in latencies for x in part],
            entry_ids=[x for part in ids for x in part],
            groups=0 if committer is None else committer.groups,
            grouped=0 if committer is None else committer.grouped,
        )
    finally:
        log.close()


def _process_main(
    url: str,
    worker: int,
    threads: int,
    seconds: float,
    grouped: bool,
    start: Barrier,
    results: Any,
    window_s: float,
) -> None:
    WINDOW_S[0] = window_s
    results.put((worker, run_worker(url, worker, threads, seconds, grouped, start)))


class FreshLedger:
    """A migrated, empty ledger: a new PostgreSQL schema (dropped after) or SQLite file."""

    def __init__(self, base: str) -> None:
        self.base = normalise_url(base)
        self.schema = f"docket_bench_{uuid.uuid4().hex[:12]}"
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> str:
        if self.base.get_backend_name() == "sqlite":
            self.folder = tempfile.TemporaryDirectory(prefix="ledger-throughput-")
            url = f"sqlite:///{self.folder.name}/decisions.db"
        else:
            admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                connection.execute(text(f'CREATE SCHEMA "{self.schema}"'))
            admin.dispose()
            url = self.base.update_query_dict(
                {"options": f"-csearch_path={self.schema}"}
            ).render_as_string(hide_password=False)
        with DecisionLog(url) as log:
            log.migrate()
        return url

    def __exit__(self, *_: object) -> None:
        if self.folder is not None:
            self.folder.cleanup()
            return
        admin = create_engine(self.base, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        admin.dispose()


def run_cell(
    url: str, processes: int, threads: int, seconds: float, grouped: bool
) -> list[WorkerResult]:
    if processes == 1:
        return [run_worker(url, 0, threads, seconds, grouped, None)]
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(processes)
    results = context.Queue()
    pool = [
        context.Process(
            target=_process_main,
            args=(url, w, threads, seconds, grouped, start, results, WINDOW_S[0]),
        )
        for w in range(processes)
    ]
    for process in pool:
        process.start()
    found = [results.get(timeout=START_TIMEOUT_S + seconds + 60)[1] for _ in pool]
    for process in pool:
        process.join(30)
    return found


def layout(name: str, writers: int) -> tuple[int, int] | None:
    """(processes, threads per process) of ``name`` for ``writers``, or None if it does not fit."""
    if name == "threads":
        return 1, writers
    if name == "processes":
        return writers, 1
    if name == "mixed":
        return (writers // 4, 4) if writers >= 8 and writers % 4 == 0 else None
    raise ValueError(f"--layouts: unknown layout {name!r}; allowed: threads, processes, mixed")


def check(url: str, results: list[WorkerResult]) -> int:
    """Every acknowledged entry is in the ledger, the chain verifies; the entries held."""
    with DecisionLog(url, group_commit=GroupCommitSettings(enabled=False)) as log:
        held = {entry.entry_id for entry in log.iter_entries(batch_size=5000)}
        acknowledged = [i for r in results for i in r.entry_ids]
        missing = [i for i in acknowledged if i not in held]
        if missing:
            raise SystemExit(f"{len(missing)} acknowledged entries missing, e.g. {missing[:3]}")
        if len(held) != len(acknowledged):
            raise SystemExit(f"{len(held)} entries held but {len(acknowledged)} acknowledged")
        result = log.verify(batch_size=5000)
        if not result.ok:
            raise SystemExit(f"verify failed: {result.detail}")
        return len(held)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("DOCKET_TEST_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--writers", default="1,4,8,16")
    parser.add_argument("--layouts", default="threads,processes,mixed")
    parser.add_argument("--window-ms", type=float, default=0.0)
    parser.add_argument("--repeat", type=int, default=3, help="rounds per cell (median shown)")
    args = parser.parse_args()
    WINDOW_S[0] = args.window_ms / 1000
    writer_counts = [int(w) for w in args.writers.split(",")]
    layouts = [name.strip() for name in args.layouts.split(",")]
    shown = normalise_url(args.url).render_as_string(hide_password=True)
    print(
        f"ledger append throughput on {shown}, {args.seconds:g} s per cell, {os.cpu_count()} CPUs"
    )
    print(
        f"{'layout':<10} {'writers':>7} {'procs×thr':>9} {'mode':<7} {'entries/s':>10} "
        f"{'range':>11} {'p50 ms':>7} {'p99 ms':>7} {'group':>6} {'load1':>6}"
    )
    loads: list[float] = []
    for name in layouts:
        for writers in writer_counts:
            shape = layout(name, writers)
            if shape is None:
                continue
            processes, threads = shape
            rounds: dict[bool, list[tuple[float, float, float, float, int]]] = {
                False: [],
                True: [],
            }
            for _ in range(args.repeat):
                for grouped in (False, True):  # alternating, so both see the same machine
                    with FreshLedger(args.url) as url:
                        results = run_cell(url, processes, threads, args.seconds, grouped)
                        held = check(url, results)
                    count = sum(r.count for r in results)
                    latencies = sorted(x for r in results for x in r.latencies)
                    groups = sum(r.groups for r in results)
                    mean_group = sum(r.grouped for r in results) / groups if groups else 1.0
                    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
                    p99 = (
                        latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan")
                    )
                    rounds[grouped].append((count / args.seconds, p50, p99, mean_group, held))
                    loads.append(os.getloadavg()[0])
            for grouped in (False, True):
                # the round of median throughput, so its latency figures go with it
                ordered = sorted(rounds[grouped])
                rate, p50, p99, mean_group, held = ordered[len(ordered) // 2]
                mode = "after" if grouped else "before"
                spread = f"{ordered[0][0]:.0f}-{ordered[-1][0]:.0f}"
                print(
                    f"{name:<10} {writers:>7} {f'{processes}×{threads}':>9} {mode:<7} "
                    f"{rate:>10.0f} {spread:>11} {p50:>7.2f} {p99:>7.2f} {mean_group:>6.1f} "
                    f"{os.getloadavg()[0]:>6.2f}   ({held} entries verified)",
                    flush=True,
                )
    print(f"load average (1 min) during the run: min {min(loads):.2f}, max {max(loads):.2f}")


if __name__ == "__main__":
    main()
