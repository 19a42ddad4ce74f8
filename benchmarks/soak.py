"""The soak: a bounded run at a fixed request rate, watching latency and the server's memory.

Usage::

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--rate 20] [--interval 60] \
        [--workers 8] [--keep]

In a temporary ``DOCKET_HOME`` it builds the synthetic use case (seed 3, 2,000
rows; its review policy patched as the end-to-end review tests do: no minimum
review time, every decline confirmed by a senior reviewer), audits it (PASS) and
promotes it, creates an application key and one reviewer (``reviewer`` and
``senior_reviewer``), and starts ``docket serve`` on a free 127.0.0.1 port. It
then sends requests at ``--rate`` per second for ``--minutes`` (open loop: each
request has its start time, whatever the earlier ones took), in this mix:

- 50% ``POST /decide`` with the next row of the data (application key);
- 25% ``GET /decisions/{id}`` of a decision made earlier in the run;
- 15% ``GET /cases?status=open`` (the reviewer);
- 10% a review: ``POST /cases/{id}/claim``, ``GET /cases/{id}`` and
  ``POST /cases/{id}/resolve`` (agreeing with the model) on a referred decision's case,
  each timed on its own (a decision when no case is waiting).

Every ``--interval`` seconds it prints the requests, p50/p95/p99 latency (ms),
the answers that were not 2xx by status, the requests the client could not start
on time (more than ``--workers`` x 4 waiting), and the resident memory (RSS) of
the server: the sum over the ``docket serve`` process and all its children
(psutil). At the end: the totals, the memory at the start (after setup, before
the load), after the first interval (warm) and at the end, and the slope of a
least-squares line through the memory samples of the second half of the run.
The exit status is 1 when the memory grew by more than 25% from the warm sample
to the end or still grew by more than 5 MiB a minute over the second half, or any
request got a 5xx or no answer.

Only loopback traffic; every loop is bounded by the run's time and each request
by a 30 s timeout. The server is stopped with SIGTERM to its process group
(SIGKILL after 15 s), also on errors.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
USE_CASE = "synthetic-eligibility"
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 30.0
GROWTH_LIMIT = 0.25  # memory may not grow more than this from warm to end
# nor keep growing: a bounded server levels off after warming up (about 2 MiB/min at
# most over the second half of a 3-minute run with metrics off, measured)
SLOPE_LIMIT_MIB_PER_MIN = 5.0
MIX = (("decide", 0.50), ("read", 0.25), ("queue", 0.15), ("review", 0.10))


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load(name: str, relative: str) -> ModuleType:
    # the repository's tests folder is no importable package outside pytest
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(settings: Any, home: Path, metrics: bool) -> Iterator[tuple[str, int]]:
    """The URL and process id of a running ``docket serve``; stopped on exit."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **settings.as_env(),
        "BENTOML_HOME": str(home / "bentoml"),
        "DOCKET_RELOAD_SECONDS": "0",
        "DOCKET_METRICS": "1" if metrics else "0",
    }
    log_path = home / "docket-serve.log"
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [str(BIN / "docket"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"docket serve exited: {log_path.read_text()[-3000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(f"{url}/readyz", timeout=1, trust_env=False).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"docket serve not ready: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url, proc.pid
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    total = 0
    for p in procs:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += p.memory_info().rss
    return total


@dataclass
class Interval:
    """What one reporting interval saw."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)  # non-2xx, by kind and status
    late: int = 0
    first_body: dict[str, str] = field(default_factory=dict)  # of each non-2xx kind

    def add(self, kind: str, ms: float, status: int | str, body: str = "") -> None:
        self.latencies.setdefault(kind, []).append(ms)
        if not (isinstance(status, int) and 200 <= status < 300):
            self.statuses[f"{kind} {status}"] += 1
            self.first_body.setdefault(f"{kind} {status}", body[:300])


@dataclass
class Load:
    """The state the workers share: ids made during the run, the current interval."""

    url: str
    app: dict[str, str]
    reviewer: dict[str, str]
    rows: list[dict[str, Any]]
    lock: threading.Lock = field(default_factory=threading.Lock)
    decisions: deque[str] = field(default_factory=lambda: deque(maxlen=5000))
    cases: deque[tuple[str, str]] = field(default_factory=deque)  # (case id, recommendation)
    cursor: int = 0
    interval: Interval = field(default_factory=Interval)

    def record(self, kind: str, ms: float, status: int | str, body: str = "") -> None:
        with self.lock:
            self.interval.add(kind, ms, status, body)

    def next_row(self) -> dict[str, Any]:
        with self.lock:
            self.cursor += 1
            return self.rows[self.cursor % len(self.rows)]


def _timed(load: Load, kind: str, send: Callable[[], httpx.Response]) -> httpx.Response | None:
    started = time.perf_counter()
    try:
        got = send()
    except httpx.HTTPError as exc:
        load.record(kind, (time.perf_counter() - started) * 1000, type(exc).__name__)
        return None
    ms = (time.perf_counter() - started) * 1000
    load.record(kind, ms, got.status_code, "" if got.is_success else got.text)
    return got


def _decide(load: Load, client: httpx.Client) -> None:
    body = {"use_case": USE_CASE, "features": load.next_row()}
    got = _timed(load, "decide", lambda: client.post("/decide", json=body, headers=load.app))
    if got is not None and got.status_code == 200:
        made = got.json()
        with load.lock:
            load.decisions.append(made["decision_id"])
            if made.get("case_id"):
                load.cases.append((made["case_id"], made.get("recommendation") or ""))


def _read(load: Load, client: httpx.Client, pick: random.Random) -> None:
    with load.lock:
        decision = load.decisions[pick.randrange(len(load.decisions))] if load.decisions else None
    if decision is None:
        _decide(load, client)
        return
    _timed(load, "read", lambda: client.get(f"/decisions/{decision}", headers=load.app))


def _queue(load: Load, client: httpx.Client) -> None:
    _timed(
        load,
        "queue",
        lambda: client.get("/cases", params={"status": "open"}, headers=load.reviewer),
    )


def _review(load: Load, client: httpx.Client) -> None:
    with load.lock:
        waiting = load.cases.popleft() if load.cases else None
    if waiting is None:
        _decide(load, client)
        return
    case, recommendation = waiting
    claimed = _timed(
        load, "claim", lambda: client.post(f"/cases/{case}/claim", headers=load.reviewer)
    )
    if claimed is None or claimed.status_code != 200:
        return
    opened = _timed(load, "open", lambda: client.get(f"/cases/{case}", headers=load.reviewer))
    if opened is None or opened.status_code != 200:
        return
    # the reviewer agrees with the model (an override needs a code of its own); a
    # decline goes on to a senior reviewer under the patched four-eyes rule
    resolution = {
        "outcome": "approved" if recommendation == "approve" else "declined",
        "reason_code": "model_reasons_confirmed",
        "note": "soak run: the model's reasons confirmed",
    }
    _timed(
        load,
        "resolve",
        lambda: client.post(f"/cases/{case}/resolve", json=resolution, headers=load.reviewer),
    )


def _worker(load: Load, work: queue.Queue[str | None], seed: int) -> None:
    pick = random.Random(seed)
    with httpx.Client(base_url=load.url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
        while True:
            kind = work.get()
            if kind is None:
                return
            if kind == "decide":
                _decide(load, client)
            elif kind == "read":
                _read(load, client, pick)
            elif kind == "queue":
                _queue(load, client)
            else:
                _review(load, client)


def _percentiles(values: list[float]) -> str:
    if not values:
        return "      -       -       -"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"{p50:7.1f} {p95:7.1f} {p99:7.1f}"


def _build(home: Path) -> tuple[Any, list[dict[str, Any]], str, str]:
    review = _load("docket_soak_review_setup", "tests/serving/http/review_setup.py")
    from serving.access.keys import create_key
    from serving.access.people import add_person
    from serving.ledger import DecisionLog

    settings, data_csv = review.build_registry(home / "registry", 0)
    log = DecisionLog(settings.database_url)
    log.migrate()
    app_key = create_key(log.engine, "application", "soak app")[0]
    reviewer = add_person(
        log.engine, "Soak reviewer", ["reviewer", "senior_reviewer"], "soak setup"
    )[0]
    log.close()
    return settings, review.data_rows(data_csv), app_key, reviewer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0, help="requests started per second")
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per report row")
    parser.add_argument("--workers", type=int, default=8, help="client threads")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--no-metrics",
        action="store_true",
        help="serve with DOCKET_METRICS=0 (no Prometheus metrics): the baseline for memory",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    if not (0 < args.minutes <= 120 and 0 < args.rate <= 500 and args.interval >= 5):
        parser.error("--minutes must be in (0, 120], --rate in (0, 500], --interval >= 5")

    work_dir = Path(tempfile.mkdtemp(prefix="docket-soak-"))
    _log(f"setup in {work_dir} ...")
    try:
        settings, rows, app_key, reviewer = _build(work_dir)
        with _server(settings, work_dir, not args.no_metrics) as (url, pid):
            return _soak(args, url, pid, rows, app_key, reviewer)
    finally:
        if args.keep:
            _log(f"kept {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)


def _soak(
    args: argparse.Namespace,
    url: str,
    pid: int,
    rows: list[dict[str, Any]],
    app_key: str,
    reviewer: str,
) -> int:
    load = Load(
        url,
        {"Authorization": f"Bearer {app_key}"},
        {"Authorization": f"Bearer {reviewer}"},
        rows,
    )
    work: queue.Queue[str | None] = queue.Queue()
    threads = [
        threading.Thread(target=_worker, args=(load, work, args.seed + i), daemon=True)
        for i in range(args.workers)
    ]
    for t in threads:
        t.start()
    pick = random.Random(args.seed)
    kinds = [k for k, _ in MIX]
    weights = [w for _, w in MIX]
    rss_start = tree_rss(pid)
    print(
        f"soak: {args.minutes:g} min at {args.rate:g} requests/s, {args.workers} client threads,"
        f" server pid {pid}, {psutil.cpu_count()} cores, load average"
        f" {os.getloadavg()[0]:.1f}; RSS at start {rss_start / 2**20:.0f} MiB"
    )
    print(
        f"{'t (s)':>6} {'n':>6} {'p50':>7} {'p95':>7} {'p99':>7}  {'decide p99':>10}"
        f" {'review p99':>10}  {'RSS MiB':>8}  late  not 2xx"
    )
    totals = Interval()
    samples: list[tuple[float, int]] = []
    started = time.monotonic()
    end = started + args.minutes * 60
    next_report = started + args.interval
    sent = 0
    backlog_limit = args.workers * 4
    while True:
        now = time.monotonic()
        if now >= end:
            break
        due = started + sent / args.rate
        if due > now:
            time.sleep(min(due - now, max(next_report - now, 0.0), 0.05) or 0.001)
        else:
            sent += 1
            if work.qsize() > backlog_limit:
                with load.lock:
                    load.interval.late += 1
            else:
                work.put(pick.choices(kinds, weights)[0])
        if time.monotonic() >= next_report:
            next_report += args.interval
            _report(load, totals, samples, pid, started)
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join(timeout=REQUEST_TIMEOUT_S * 4)
    if load.interval.latencies:  # what the last requests did after the last row
        _report(load, totals, samples, pid, started)
    _metrics_series(url)
    return _summary(totals, samples, rss_start)


def _metrics_series(url: str) -> None:
    """How many Prometheus series the service holds, and for how many endpoint labels."""
    got = httpx.get(f"{url}/metrics", timeout=REQUEST_TIMEOUT_S, trust_env=False)
    if got.status_code != 200:
        print(f"/metrics: {got.status_code} (metrics off)")
        return
    series = [line for line in got.text.splitlines() if line and not line.startswith("#")]
    endpoints = {
        line.split('endpoint="', 1)[1].split('"', 1)[0] for line in series if 'endpoint="' in line
    }
    print(
        f"/metrics: {len(series)} series, {len(endpoints)} distinct endpoint labels,"
        f" {len(got.content) / 1024:.0f} KiB"
    )


def _report(
    load: Load, totals: Interval, samples: list[tuple[float, int]], pid: int, started: float
) -> None:
    with load.lock:
        seen, load.interval = load.interval, Interval()
    rss = tree_rss(pid)
    elapsed = time.monotonic() - started
    samples.append((elapsed, rss))
    every = [ms for values in seen.latencies.values() for ms in values]
    for kind, values in seen.latencies.items():
        totals.latencies.setdefault(kind, []).extend(values)
    totals.statuses.update(seen.statuses)
    for key, body in seen.first_body.items():
        totals.first_body.setdefault(key, body)
    totals.late += seen.late
    review = [ms for k in ("claim", "open", "resolve") for ms in seen.latencies.get(k, [])]
    decide = seen.latencies.get("decide", [])
    bad = ", ".join(f"{k}: {n}" for k, n in sorted(seen.statuses.items())) or "-"
    print(
        f"{elapsed:6.0f} {len(every):6d} {_percentiles(every)}  "
        f"{(np.percentile(decide, 99) if decide else float('nan')):10.1f} "
        f"{(np.percentile(review, 99) if review else float('nan')):10.1f}  "
        f"{rss / 2**20:8.0f}  {seen.late:4d}  {bad}",
        flush=True,
    )


def _summary(totals: Interval, samples: list[tuple[float, int]], rss_start: int) -> int:
    every = [ms for values in totals.latencies.values() for ms in values]
    print(f"\ntotal requests: {len(every)}; late (not started): {totals.late}")
    print(f"{'kind':>8} {'n':>7} {'p50':>7} {'p95':>7} {'p99':>7}")
    for kind, values in sorted(totals.latencies.items()):
        print(f"{kind:>8} {len(values):7d} {_percentiles(values)}")
    print(f"{'all':>8} {len(every):7d} {_percentiles(every)}")
    print(f"not 2xx: {dict(sorted(totals.statuses.items())) or 'none'}")
    for key, body in sorted(totals.first_body.items()):
        print(f"  first {key}: {body}")
    warm = samples[0][1] if samples else rss_start
    last = samples[-1][1] if samples else rss_start
    second_half = samples[len(samples) // 2 :]
    slope = 0.0
    if len(second_half) >= 2:
        t = np.array([s[0] / 60 for s in second_half])
        m = np.array([s[1] / 2**20 for s in second_half])
        slope = float(np.polyfit(t, m, 1)[0])
    growth = (last - warm) / warm if warm else 0.0
    print(
        f"memory (RSS of the server's process tree): start {rss_start / 2**20:.0f} MiB,"
        f" warm (after the first interval) {warm / 2**20:.0f} MiB, end {last / 2**20:.0f} MiB"
        f" ({growth:+.1%} from warm); slope over the second half {slope:+.2f} MiB/min"
    )
    failed = sum(
        n
        for key, n in totals.statuses.items()
        if key.split()[-1].startswith("5") or not key.split()[-1].isdigit()
    )
    verdict = growth <= GROWTH_LIMIT and slope <= SLOPE_LIMIT_MIB_PER_MIN and failed == 0
    print(
        f"verdict: {'OK' if verdict else 'NOT OK'} (memory: at most {GROWTH_LIMIT:.0%} from"
        f" warm and a slope of at most {SLOPE_LIMIT_MIB_PER_MIN:g} MiB/min over the second"
        f" half; 5xx or unanswered requests: {failed})"
    )
    return 0 if verdict else 1


if __name__ == "__main__":
    raise SystemExit(main())
