"""How fast is one decision? Docket in-process and over HTTP, a naive baseline, the bare model.

Usage::

    .venv/bin/python benchmarks/decide_latency.py [--use-case credit-eligibility]
        [--requests 400] [--seconds 60] [--workers 1] [--concurrency 8]
        [--omp-threads N] [--profile auto|on|off] [--keep]

In one run, on a fresh temporary ``DOCKET_HOME`` (train, audit, promote; a
benchmark-only waiver when the audit does not pass), it measures:

(a) ``DecisionEngine.decide`` in-process: validation, score, policy, exact
    rationale, recourse when adverse, and the durable write to the SQLite (WAL)
    decision log; p50/p99 over real test rows of the use case;
(b) ``POST /decide`` on a real ``docket serve`` process on 127.0.0.1: p50/p99 at
    concurrency 1, and decisions/s at ``--concurrency`` (default 8);
(c) the same for a trivial BentoML endpoint (``benchmarks/trivial_service.py``: it
    answers at once, no model, no log): the most a BentoML ``/decide`` can do here, with
    the same worker count; Docket's c=N throughput is shown as a share of it;
(c') the same for a naive BentoML endpoint (``benchmarks/naive_service.py``: a
    one-row pandas frame, ``predict_proba``, a new SHAP explainer per request,
    no log), served with ``bentoml serve`` on another loopback port;
(d) the floor: the bare model's margin on one encoded NumPy row;
(e) the cost of the ledger receipt on the decision path: in-process decisions (each
    with the JSON the service returns), every request decided with the receipt and
    without it in the same run (order swapped every other request, so drift and the
    rows' differing costs hit both alike); and the receipt alone (built from the written
    entry and serialised), timed over many calls.

Every measurement stops at ``--requests`` requests or at its share of
``--seconds`` (split evenly over the eight timed phases), whichever comes first;
the table shows how many requests each figure is based on. The servers run one
after the other, never together, so they do not compete for the cores. At the
end the decision log is checked: every HTTP 200 from Docket must be a decision
entry in the log, and the hash chain must verify.

Only loopback traffic: the servers bind 127.0.0.1 and the HTTP clients ignore
proxy settings.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import itertools
import json
import os
import platform
import pstats
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
#: issue 14: in-process p50, HTTP p99 at c=1, and c=8 throughput as a share of the trivial
#: BentoML endpoint's (benchmarks/trivial_service.py) measured in the same run
GOALS = {
    "http_p99_c1_ms": 8.0,
    "throughput_share_c8": 0.60,
    "inprocess_p50_ms": 1.5,
}
WAIVER = {
    "justification": (
        "Benchmark only: serve the shipped model, whose fairness audit fails, in a throw-away"
        " temporary registry so that latency can be measured; never done for real decisions."
    ),
    "requested_by": "benchmark-runner",
    "approved_by": "benchmark-reviewer",
}
# in-process, receipt A/B, Docket c=1, Docket c=N, trivial c=1, trivial c=N, naive c=1, naive c=N
TIMED_PHASES = 8
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 30.0
WARMUP_SEQUENTIAL = 20
WARMUP_CONCURRENT = 32
PROFILE_DECISIONS = 200
VERSIONED = (
    "docket",
    "bentoml",
    "lightgbm",
    "shap",
    "mlflow",
    "scikit-learn",
    "numpy",
    "pandas",
    "pydantic",
    "sqlalchemy",
    "httpx",
)


def note(line: str) -> None:
    """Progress goes to stderr; the results table goes to stdout."""
    print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------


@dataclass
class Figure:
    """Latencies (ms) of one measurement, and its wall time."""

    label: str
    latencies_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    note: str = ""
    per_second: bool = True

    @property
    def n(self) -> int:
        return len(self.latencies_ms)

    def pct(self, q: float) -> float | None:
        if not self.latencies_ms:
            return None
        import numpy as np

        return float(np.percentile(np.asarray(self.latencies_ms), q))

    @property
    def throughput(self) -> float | None:
        ok = self.statuses.get(200, 0) if self.statuses else self.n
        return ok / self.wall_s if self.wall_s > 0 and ok else None


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _share(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}"


def _check(value: float | None, goal: float, *, at_most: bool) -> str:
    if value is None:
        return "n/a"
    return "yes" if (value <= goal if at_most else value >= goal) else "NO"


# --------------------------------------------------------------------------------------
# setup: a temporary registry with a served champion, and an application key
# --------------------------------------------------------------------------------------


@dataclass
class Setup:
    settings: Any
    spec: Any
    version: str
    audit_outcome: str
    failing: list[str]
    waived: bool
    key: str
    records: list[dict[str, Any]]
    n_test_rows: int
    n_invalid: int
    seconds: float


def prepare(home: Path, use_case: str, requests: int) -> Setup:
    from audits.audit import run_audit
    from audits.promotion import Waiver, promote
    from docket.usecases import resolve_spec
    from models import registry
    from models.settings import Settings
    from serving.access.keys import create_key
    from serving.decisions.validation import InvalidFeatures, check_features
    from serving.ledger import DecisionLog
    from training.train import train_use_case

    t0 = time.perf_counter()
    settings = Settings(
        home=home,
        tracking_uri=f"sqlite:///{home / 'mlflow.db'}",
        artifact_root=home / "artifacts",
        database_url=f"sqlite:///{home / 'decisions.db'}",
    ).ensure()
    spec = resolve_spec(use_case)
    note(f"[setup] training {spec.name} in {home}")
    trained = train_use_case(spec, settings)
    note(f"[setup] auditing version {trained.version}")
    report = run_audit(spec, settings, version=trained.version)
    waiver = None if report.outcome == "PASS" else Waiver(**WAIVER)
    promote(
        spec,
        settings,
        trained.version,
        requested_by=WAIVER["requested_by"],
        reason="benchmark",
        waiver=waiver,
    )
    note(
        f"[setup] audit {report.outcome}; promoted version {trained.version}"
        + (" with a benchmark-only waiver" if waiver else "")
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    key, _ = create_key(log.engine, "application", "decide-latency-benchmark")
    log.close()

    # real test rows of the use case, in a fixed shuffled order (a mix of outcomes)
    client = registry.connect(settings)
    mv = client.get_model_version(spec.name, trained.version)
    rows = registry.load_frame(client, registry.run_id_of(mv), registry.TEST_SPLIT_ARTIFACT)
    raw = json.loads(rows[spec.feature_names].to_json(orient="records"))  # NaN -> None
    records, invalid = [], 0
    for rec in raw:
        try:
            records.append(check_features(spec, rec))
        except InvalidFeatures:
            invalid += 1
    if not records:
        raise SystemExit(f"no valid test rows for use case {spec.name!r}")
    random.Random(20260101).shuffle(records)
    return Setup(
        settings=settings,
        spec=spec,
        version=str(trained.version),
        audit_outcome=report.outcome,
        failing=[c.id for c in report.failing],
        waived=waiver is not None,
        key=key,
        records=records,
        n_test_rows=len(raw),
        n_invalid=invalid,
        seconds=time.perf_counter() - t0,
    )


def cycle(records: list[dict[str, Any]], n: int) -> list[dict[str, Any]]:
    return list(itertools.islice(itertools.cycle(records), n))


# --------------------------------------------------------------------------------------
# (a) in-process and (d) the floor
# --------------------------------------------------------------------------------------


def measure_in_process(
    setup: Setup, requests: int, budget_s: float
) -> tuple[Figure, Counter[str], Any, list[Any]]:
    from serving.access import Principal
    from serving.decisions.engine import DecisionEngine
    from serving.decisions.validation import DecideRequest

    # its own log database, so the server's log holds only HTTP decisions
    settings = setup.settings.model_copy(
        update={"database_url": f"sqlite:///{setup.settings.home / 'inprocess.db'}"}
    )
    engine = DecisionEngine(settings)
    engine.start()
    batch = [
        DecideRequest(use_case=setup.spec.name, features=f, application_ref=f"inproc-{i}")
        for i, f in enumerate(cycle(setup.records, requests + WARMUP_SEQUENTIAL))
    ]
    for req in batch[:WARMUP_SEQUENTIAL]:
        engine.decide(req, Principal.local("benchmark"))
    fig = Figure("(a) in-process DecisionEngine.decide")
    outcomes: Counter[str] = Counter()
    start = time.perf_counter()
    deadline = start + budget_s
    for req in batch[WARMUP_SEQUENTIAL:]:
        t = time.perf_counter()
        out = engine.decide(req, Principal.local("benchmark"))
        fig.latencies_ms.append((time.perf_counter() - t) * 1000)
        outcomes[out.outcome] += 1
        if time.perf_counter() > deadline:
            break
    fig.wall_s = time.perf_counter() - start
    return fig, outcomes, engine, batch[WARMUP_SEQUENTIAL:]


RECEIPT_ALONE_CALLS = 20_000


def measure_receipt_cost(engine: Any, batch: list[Any], budget_s: float) -> list[Figure]:
    """(e) decide plus the response's JSON with and without the receipt, each request in
    both arms (order swapped every other request); and the receipt alone.

    The baseline leaves the receipt out by replacing the engine's ``pending_receipt``
    with a function returning ``None`` for every other request (restored at once).
    """
    import serving.decisions.engine as engine_module
    from serving.access import Principal

    real = engine_module.pending_receipt

    def left_out(entry: Any) -> None:
        return None

    exclude = {"history", "personal", "personal_erased"}  # as the service's decide returns
    who = Principal.local("benchmark")
    with_fig = Figure("(e) decide + response JSON, with the receipt")
    without_fig = Figure("    the same requests without the receipt")
    start = time.perf_counter()
    deadline = start + budget_s
    for i, req in enumerate(batch):
        # each request is decided in both arms (rows differ in cost: recourse, referral),
        # the order swapped every other request
        for baseline in (False, True) if i % 2 == 0 else (True, False):
            engine_module.pending_receipt = left_out if baseline else real  # type: ignore[assignment]
            try:
                t = time.perf_counter()
                view = engine.decide(req, who)
                view.model_dump(mode="json", exclude=exclude)
                elapsed = (time.perf_counter() - t) * 1000
            finally:
                engine_module.pending_receipt = real
            (without_fig if baseline else with_fig).latencies_ms.append(elapsed)
            if baseline and view.receipt is not None:
                raise RuntimeError("the baseline decision still carries a receipt")
        if time.perf_counter() > deadline:
            break
    with_fig.wall_s = without_fig.wall_s = (time.perf_counter() - start) / 2
    with_fig.per_second = without_fig.per_second = False

    # the receipt alone: built from the last written entry and serialised, per call
    entry = next(iter(engine.log.entries_for(view.decision_id)))
    alone = Figure("    the receipt alone: build + JSON (per call)", per_second=False)
    for _ in range(RECEIPT_ALONE_CALLS):
        t = time.perf_counter()
        real(entry).model_dump(mode="json")
        alone.latencies_ms.append((time.perf_counter() - t) * 1000)
    p50, p99 = alone.pct(50), alone.pct(99)
    alone.note = f"{(p50 or 0) * 1000:.1f} / {(p99 or 0) * 1000:.1f} us"
    return [with_fig, without_fig, alone]


def _busy(seconds: float) -> None:
    """Keep this thread on the CPU for ``seconds`` (as decide does between model calls)."""
    end = time.perf_counter() + seconds
    for _ in range(10_000_000):
        if time.perf_counter() >= end:
            return


def measure_floor(setup: Setup, model: Any, requests: int) -> list[Figure]:
    """The bare model's margin on one encoded NumPy row: back to back, and between other work.

    The second variant keeps the calling thread busy for 1 ms before each call (not
    timed), as ``decide`` does between its model calls; an OpenMP pool with more
    than one thread may have to wake its threads for every call then.
    """
    import numpy as np

    rows = [model.encode_records([f]) for f in cycle(setup.records, requests)]
    booster = getattr(model.estimator, "booster_", None)
    if booster is not None:
        what = "booster predict"
        calls: list[tuple[str, Callable[[np.ndarray], Any]]] = [
            ("", lambda x: booster.predict(x, raw_score=True)),
            (" num_threads=1", lambda x: booster.predict(x, raw_score=True, num_threads=1)),
        ]
    else:
        what = "estimator margin"
        calls = [("", model.estimator.margin)]
    figures = []
    for suffix, fn in calls:
        for gap in (0.0, 0.001):
            label = f"(d) floor: {what}{suffix}, " + (
                "back to back" if gap == 0 else "after 1 ms work"
            )
            fig = Figure(label)
            for x in rows[:20]:
                fn(x)
            start = time.perf_counter()
            for x in rows:
                if gap:
                    _busy(gap)
                t = time.perf_counter()
                fn(x)
                fig.latencies_ms.append((time.perf_counter() - t) * 1000)
            fig.wall_s = time.perf_counter() - start
            fig.per_second = False
            figures.append(fig)
    return figures


HOT_PATH = [
    ("serving/decisions/validation.py", "check_features", "check_features (validation)"),
    ("models/decision_model.py", "encode_records", "encode_records"),
    ("models/decision_model.py", "log_odds", "model.log_odds (incl. calls from recourse)"),
    ("models/decision_model.py", "out_of_distribution", "out_of_distribution"),
    ("serving/decisions/switches.py", "is_stopped", "is_stopped (stop-switch read)"),
    ("models/policy.py", "apply_policy", "apply_policy"),
    ("models/rationale.py", "explain", "rationale explain (TreeSHAP)"),
    ("models/recourse.py", "find_recourse", "find_recourse (adverse only)"),
    ("serving/ledger/store.py", "append", "log.append (durable write)"),
    ("lightgbm/basic.py", "__inner_predict_np2d", "  of which LightGBM predict calls"),
    ("~", "<method 'commit' of 'sqlite3.Connection' objects>", "  of which sqlite3 COMMIT"),
]


def profile_decide(engine: Any, batch: list[Any], n: int) -> list[str]:
    """cProfile ``n`` decisions; the hot path's parts in ms per decision, and the top calls."""
    from serving.access import Principal

    prof = cProfile.Profile()
    chosen = batch[:n]
    prof.enable()
    for req in chosen:
        engine.decide(req, Principal.local("benchmark"))
    prof.disable()
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())  # total internal time
    lines = [
        f"profile of {len(chosen)} in-process decisions (cProfile; its overhead inflates Python-heavy parts)",
        f"  {'part of decide':<46} {'calls/decision':>14} {'ms/decision':>12}",
    ]
    for suffix, func, label in HOT_PATH:
        hits = [
            v for (fname, _, fn), v in raw.items() if fn == func and fname.endswith(suffix)
        ] or [v for (fname, _, fn), v in raw.items() if fn == func and suffix == "~"]
        if not hits:
            continue
        calls = sum(h[1] for h in hits)
        cum = sum(h[3] for h in hits)
        lines.append(
            f"  {label:<46} {calls / len(chosen):>14.1f} {cum * 1000 / len(chosen):>12.3f}"
        )
    top = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:8]
    lines.append(f"  top functions by own time (of {total:.2f} s):")
    for (fname, line, fn), v in top:
        where = "/".join(Path(fname).parts[-2:]) if fname != "~" else ""
        lines.append(
            f"    {v[2] * 1000 / len(chosen):>8.3f} ms/decision  {v[1]:>6} calls  {fn} {where}:{line}"
        )
    return lines


# --------------------------------------------------------------------------------------
# servers
# --------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerFailed(RuntimeError):
    pass


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])


@contextlib.contextmanager
def server(
    name: str, args: list[str], env: dict[str, str], port: int, log_path: Path
) -> Iterator[str]:
    """Start a server in its own process group; wait for /readyz; always stop it."""
    import httpx

    url = f"http://127.0.0.1:{port}"
    with log_path.open("wb") as out:
        proc = subprocess.Popen(
            args,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            cwd=str(HERE),
        )
    try:
        t0 = time.perf_counter()
        deadline = t0 + READY_TIMEOUT_S
        ready = False
        with httpx.Client(base_url=url, timeout=2.0, trust_env=False) as client:
            for _ in range(int(READY_TIMEOUT_S / 0.25) + 1):
                if proc.poll() is not None:
                    raise ServerFailed(
                        f"{name} exited with status {proc.returncode} before it was ready;"
                        f" its output ({log_path}):\n{_tail(log_path)}"
                    )
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        ready = True
                        break
                if time.perf_counter() > deadline:
                    break
                time.sleep(0.25)
        if not ready:
            raise ServerFailed(
                f"{name} was not ready after {READY_TIMEOUT_S:.0f} s; its output ({log_path}):\n"
                f"{_tail(log_path)}"
            )
        note(f"[{name}] ready on {url} after {time.perf_counter() - t0:.1f} s")
        yield url
    finally:
        stop(proc, name)


def stop(proc: subprocess.Popen[bytes], name: str) -> None:
    """SIGTERM the server's process group (the one we created), then SIGKILL what is left."""
    pgid = proc.pid  # start_new_session: the server leads its own group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        note(f"[{name}] did not stop in {STOP_TIMEOUT_S:.0f} s; killing it")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)  # workers left behind, if any
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def server_env(setup: Setup, tmp: Path, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DOCKET_HOME": str(setup.settings.home),
            "MLFLOW_TRACKING_URI": setup.settings.tracking_uri,
            "DOCKET_DATABASE_URL": setup.settings.database_url,
            "BENTOML_HOME": str(tmp / "bentoml"),
            "DOCKET_RELOAD_SECONDS": "0",
            "BENTOML_DO_NOT_TRACK": "True",
            "DO_NOT_TRACK": "1",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


# --------------------------------------------------------------------------------------
# HTTP load
# --------------------------------------------------------------------------------------


@dataclass
class HttpRun:
    figure: Figure
    bodies: list[bytes]


def http_run(
    label: str,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
    budget_s: float,
) -> HttpRun:
    """POST /decide ``len(bodies)`` times (or until the budget is spent) with ``concurrency`` threads."""
    import httpx

    fig = Figure(label)
    replies: list[bytes] = []
    lock = threading.Lock()
    tickets = itertools.count()
    start = time.perf_counter()
    deadline = start + budget_s

    def worker() -> None:
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
            for _ in range(len(bodies)):
                with lock:
                    i = next(tickets)
                if i >= len(bodies) or time.perf_counter() > deadline:
                    return
                t = time.perf_counter()
                try:
                    r = client.post("/decide", content=bodies[i], headers=headers)
                    status, content = r.status_code, r.content
                except httpx.HTTPError:
                    status, content = 0, b""
                elapsed = (time.perf_counter() - t) * 1000
                with lock:
                    fig.statuses[status] += 1
                    if status == 200:
                        fig.latencies_ms.append(elapsed)
                        replies.append(content)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=budget_s + REQUEST_TIMEOUT_S + 5)
    fig.wall_s = time.perf_counter() - start
    bad = {k: v for k, v in fig.statuses.items() if k != 200}
    if bad:
        fig.note = f"non-200: {bad}"
    return HttpRun(fig, replies)


def measure_http(
    name: str,
    url: str,
    bodies: list[bytes],
    headers: dict[str, str],
    concurrency: int,
    budget_s: float,
    label: str,
) -> HttpResult:
    """Warm up, then concurrency 1 and ``concurrency``."""
    warm = http_run("warm-up", url, bodies[:WARMUP_SEQUENTIAL], headers, 1, budget_s)
    warm_c = http_run("warm-up", url, bodies[:WARMUP_CONCURRENT], headers, concurrency, budget_s)
    note(f"[{name}] warmed up ({warm.figure.statuses + warm_c.figure.statuses})")
    one = http_run(f"{label}, c=1", url, bodies, headers, 1, budget_s)
    note(f"[{name}] concurrency 1: {one.figure.n} requests in {one.figure.wall_s:.1f} s")
    many = http_run(f"{label}, c={concurrency}", url, bodies, headers, concurrency, budget_s)
    note(
        f"[{name}] concurrency {concurrency}: {many.figure.n} requests in {many.figure.wall_s:.1f} s"
    )
    return HttpResult(
        one=one,
        many=many,
        replies=warm.bodies + warm_c.bodies + one.bodies + many.bodies,
        sent=sum(sum(r.figure.statuses.values()) for r in (warm, warm_c, one, many)),
    )


@dataclass
class HttpResult:
    one: HttpRun
    many: HttpRun
    replies: list[bytes]  # every 200 body, warm-up included
    sent: int  # every request sent, warm-up included


def server_side(run: HttpRun, label: str) -> Figure:
    """The engine's own time per decision, from the ``latency_ms`` field of each reply."""
    fig = Figure(label, per_second=False)
    for content in run.bodies:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            fig.latencies_ms.append(float(json.loads(content)["latency_ms"]))
    return fig


def transport_floor(url: str, requests: int, budget_s: float) -> Figure:
    """GET /readyz at concurrency 1: client, HTTP server and gatekeeper, no decision."""
    import httpx

    fig = Figure("    GET /readyz on the same server, c=1", per_second=False)
    deadline = time.perf_counter() + budget_s
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client:
        for _ in range(min(requests, 200)):
            t = time.perf_counter()
            ok = client.get("/readyz").status_code == 200
            if ok:
                fig.latencies_ms.append((time.perf_counter() - t) * 1000)
            if time.perf_counter() > deadline:
                break
    return fig


# --------------------------------------------------------------------------------------
# the log check
# --------------------------------------------------------------------------------------


def check_log(setup: Setup, replies: list[bytes], attempted: int) -> list[str]:
    from serving.ledger import DecisionLog

    acknowledged = set()
    for content in replies:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            acknowledged.add(json.loads(content)["decision_id"])
    log = DecisionLog(setup.settings.database_url)
    try:
        logged = [e.subject_id for e in log.iter_entries() if e.kind == "decision"]
        result = log.verify()
    finally:
        log.close()
    missing = acknowledged - set(logged)
    return [
        f"decision log ({setup.settings.database_url}):",
        f"  Docket HTTP requests sent {attempted}, acknowledged (200) {len(replies)},"
        f" distinct decision ids acknowledged {len(acknowledged)}",
        f"  decision entries in the log {len(logged)};"
        f" acknowledged decisions missing from the log: {len(missing)}"
        + (
            "  -> every acknowledged decision is in the log"
            if not missing
            else "  -> LOST DECISIONS"
        ),
        f"  chain verify: {'ok' if result.ok else 'BROKEN'}, {result.entries_checked} entries checked"
        + ("" if result.ok else f" (first broken seq {result.first_broken_seq}: {result.problem})"),
    ]


# --------------------------------------------------------------------------------------
# the report
# --------------------------------------------------------------------------------------


def cpu_busy_share(seconds: float = 1.0) -> float | None:
    """Share of all cores busy over ``seconds`` (from /proc/stat), before anything starts."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return None if total1 == total0 else 1 - (idle1 - idle0) / (total1 - total0)


def versions() -> str:
    parts = [f"python {platform.python_version()}"]
    for dist in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{dist} {metadata.version(dist)}")
    parts.append(f"sqlite {sqlite3.sqlite_version}")
    return ", ".join(parts)


def table(rows: list[tuple[Figure, str, str]]) -> list[str]:
    head = f"{'measurement':<58} {'n':>5} {'p50 ms':>8} {'p99 ms':>8} {'dec/s':>8}  {'goal':<16} {'met':<4}"
    lines = [head, "-" * len(head)]
    for fig, goal, met in rows:
        tput = fig.throughput if fig.per_second else None
        lines.append(
            f"{fig.label:<58} {fig.n:>5} {_ms(fig.pct(50)):>8} {_ms(fig.pct(99)):>8}"
            f" {'-' if tput is None else f'{tput:.0f}':>8}  {goal:<16} {met:<4}"
            + (f"  {fig.note}" if fig.note else "")
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--use-case", default="credit-eligibility")
    parser.add_argument("--requests", type=int, default=400, help="requests per measurement")
    parser.add_argument(
        "--seconds",
        type=float,
        default=60.0,
        help="time budget of the eight timed phases together (each gets an equal share)",
    )
    parser.add_argument("--workers", type=int, default=1, help="Docket (and naive) server workers")
    parser.add_argument("--concurrency", type=int, default=8, help="client threads for throughput")
    parser.add_argument(
        "--omp-threads",
        type=int,
        default=None,
        help="set OMP_NUM_THREADS here and in both servers (diagnostic; default: leave unset)",
    )
    parser.add_argument(
        "--profile",
        choices=("auto", "on", "off"),
        default="auto",
        help="cProfile in-process decisions (auto: when p50 misses its goal)",
    )
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.seconds <= 0 or args.workers < 1 or args.concurrency < 1:
        parser.error("--requests, --seconds, --workers and --concurrency must be positive")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped
    if args.omp_threads is not None:
        os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)  # before lightgbm loads
    omp_env = {} if args.omp_threads is None else {"OMP_NUM_THREADS": str(args.omp_threads)}
    budget = args.seconds / TIMED_PHASES
    t_start = time.perf_counter()

    tmp = Path(tempfile.mkdtemp(prefix="docket-bench-"))
    try:
        return run(args, tmp, budget, omp_env, t_start)
    finally:
        if args.keep:
            note(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(
    args: argparse.Namespace, tmp: Path, budget: float, omp_env: dict[str, str], t_start: float
) -> int:
    import warnings

    warnings.filterwarnings("ignore")  # third-party deprecation noise; results are unaffected
    os.environ["BENTOML_HOME"] = str(tmp / "bentoml")
    load_before = os.getloadavg()
    busy_before = cpu_busy_share()
    setup = prepare(tmp / "home", args.use_case, args.requests)
    spec = setup.spec
    note(f"[setup] done in {setup.seconds:.1f} s; {len(setup.records)} valid test rows")

    # (a) in-process
    a, outcomes, engine, batch = measure_in_process(setup, args.requests, budget)
    note(f"[in-process] {a.n} decisions, p50 {_ms(a.pct(50))} ms; outcomes {dict(outcomes)}")
    model = engine.served(spec.name).model
    profile_lines: list[str] = []
    p50 = a.pct(50)
    if args.profile == "on" or (
        args.profile == "auto" and p50 is not None and p50 > GOALS["inprocess_p50_ms"]
    ):
        profile_lines = profile_decide(engine, batch, min(PROFILE_DECISIONS, len(batch)))
    # (e) the receipt's cost, on the same engine and requests
    receipt_figs = measure_receipt_cost(engine, batch, budget)
    with_r, without_r = receipt_figs[0], receipt_figs[1]
    note(
        f"[receipt] p50 {_ms(with_r.pct(50))} ms with, {_ms(without_r.pct(50))} ms without;"
        f" p99 {_ms(with_r.pct(99))} / {_ms(without_r.pct(99))} ms"
    )
    # (d) the floor
    floors = measure_floor(setup, model, args.requests)
    engine.log.close()

    # (b) Docket over HTTP
    docket_bodies = [
        json.dumps({"use_case": spec.name, "features": f, "application_ref": f"bench-{i}"}).encode()
        for i, f in enumerate(cycle(setup.records, args.requests))
    ]
    headers = {"Authorization": f"Bearer {setup.key}", "Content-Type": "application/json"}
    port = free_port()
    docket_args = [
        str(BIN / "docket"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    env = server_env(setup, tmp, omp_env)
    with server("docket", docket_args, env, port, tmp / "docket-serve.log") as url:
        docket = measure_http(
            "docket",
            url,
            docket_bodies,
            headers,
            args.concurrency,
            budget,
            "(b) Docket POST /decide",
        )
        readyz = transport_floor(url, args.requests, budget)
    b1, bn = docket.one.figure, docket.many.figure
    b1_engine = server_side(docket.one, "    of which engine.decide in the server, c=1")
    bn_engine = server_side(
        docket.many, f"    of which engine.decide in the server, c={args.concurrency}"
    )
    log_lines = check_log(setup, docket.replies, docket.sent)

    # (c) the trivial BentoML endpoint: the same bodies as the naive one, same workers
    trivial_bodies = [
        json.dumps({"use_case": spec.name, "features": f}).encode()
        for f in cycle(setup.records, args.requests)
    ]
    port = free_port()
    trivial_args = [
        str(BIN / "bentoml"),
        "serve",
        "trivial_service:TrivialDecide",
        "--working-dir",
        str(HERE),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    trivial_env = server_env(
        setup,
        tmp,
        {**omp_env, "BENTOML_CONFIG_OPTIONS": f"services.TrivialDecide.workers={args.workers}"},
    )
    with server("trivial", trivial_args, trivial_env, port, tmp / "trivial-serve.log") as url:
        trivial = measure_http(
            "trivial",
            url,
            trivial_bodies,
            {"Content-Type": "application/json"},
            args.concurrency,
            budget,
            "(c) trivial BentoML POST /decide",
        )
    t1, tn = trivial.one.figure, trivial.many.figure
    share = (
        bn.throughput / tn.throughput
        if bn.throughput is not None and tn.throughput is not None
        else None
    )

    # (c') the naive baseline
    c1 = cn = None
    if not args.no_naive:
        naive_bodies = [
            json.dumps({"use_case": spec.name, "features": f}).encode()
            for f in cycle(setup.records, args.requests)
        ]
        port = free_port()
        naive_args = [
            str(BIN / "bentoml"),
            "serve",
            "naive_service:NaiveDecide",
            "--working-dir",
            str(HERE),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        naive_env = server_env(
            setup,
            tmp,
            {
                **omp_env,
                "NAIVE_USE_CASE": spec.name,
                "BENTOML_CONFIG_OPTIONS": f"services.NaiveDecide.workers={args.workers}",
            },
        )
        with server("naive", naive_args, naive_env, port, tmp / "naive-serve.log") as url:
            naive = measure_http(
                "naive",
                url,
                naive_bodies,
                {"Content-Type": "application/json"},
                args.concurrency,
                budget,
                "(c') naive BentoML POST /decide",
            )
        c1, cn = naive.one.figure, naive.many.figure

    # the report
    load_after = os.getloadavg()
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    rows: list[tuple[Figure, str, str]] = [
        (
            a,
            f"p50 <= {GOALS['inprocess_p50_ms']:g} ms",
            _check(p50, GOALS["inprocess_p50_ms"], at_most=True),
        ),
        (
            b1,
            f"p99 <= {GOALS['http_p99_c1_ms']:g} ms",
            _check(b1.pct(99), GOALS["http_p99_c1_ms"], at_most=True),
        ),
        (b1_engine, "", ""),
        (readyz, "", ""),
        (
            bn,
            f">= {GOALS['throughput_share_c8']:.0%} of trivial"
            + ("" if args.concurrency == 8 else " at c=8"),
            _check(share, GOALS["throughput_share_c8"], at_most=False)
            if args.concurrency == 8
            else "n/a",
        ),
        (bn_engine, "", ""),
        (t1, "", ""),
        (tn, f"Docket: {_share(share)}", ""),
    ]
    if c1 is not None and cn is not None:
        rows += [(c1, "(baseline)", ""), (cn, "(baseline)", "")]
    rows += [(f, "(floor)", "") for f in floors]
    rows += [(f, "", "") for f in receipt_figs]

    family = spec.model.family
    out = [
        "",
        f"Docket decide latency: use case {spec.name} (version {setup.version}, family {family},"
        f" {len(spec.feature_names)} features)",
        f"machine: {cores} cores ({usable} usable), {platform.machine()}, {platform.system()}"
        f" {platform.release()}; before the run {_share(busy_before)} of the CPU was busy with other"
        f" work, load average {load_before[0]:.2f} (after the run {load_after[0]:.2f})",
        f"versions: {versions()}",
        f"servers: docket serve --workers {args.workers}; trivial and naive bentoml serve with"
        f" {args.workers} worker(s) each; OMP_NUM_THREADS="
        + (omp_env.get("OMP_NUM_THREADS") or "(unset)"),
        f"audit: {setup.audit_outcome}"
        + (
            f" ({len(setup.failing)} failing checks: {', '.join(setup.failing[:3])}"
            + (", ..." if len(setup.failing) > 3 else "")
            + ") -> promoted with a BENCHMARK-ONLY waiver (temporary registry, never for real"
            " decisions)"
            if setup.waived
            else " -> promoted"
        ),
        f"requests: real test rows of the use case ({len(setup.records)} valid of"
        f" {setup.n_test_rows}), cycled in a fixed shuffled order; in-process outcomes:"
        f" {', '.join(f'{k} {v}' for k, v in sorted(outcomes.items()))}",
        f"each measurement: at most {args.requests} requests or {budget:.0f} s; warm-up first;"
        f" the load generator runs on the same machine",
        "",
        *table(rows),
        "c=N: N concurrent client threads; dec/s: HTTP 200 responses (or decisions) per second",
        "'of which engine.decide in the server': the latency_ms each reply reports (the engine's"
        " own time); the rest of (b) is HTTP, BentoML, the API-key check and the client;"
        " GET /readyz: the same server and client without a decision or key check",
        "(c) trivial: a BentoML endpoint that parses the same body and answers at once (no"
        " model, no key check, no log); Docket's c=N dec/s as a share of its dec/s",
        "(c') naive: one-row pandas DataFrame -> predict_proba -> new SHAP explainer per request"
        " (TreeExplainer on the booster for gbm); no validation, policy, reasons or log",
        "(d) floor: the bare model's margin on one encoded NumPy row (booster.predict(x,"
        " raw_score=True) for gbm); 'after 1 ms work' keeps the thread busy 1 ms before each"
        " (untimed) call, as decide does between its model calls",
        "(e) receipt: in-process decisions with the JSON the service returns; each request is"
        " decided with the receipt and without it (the engine's pending_receipt replaced),"
        " the order swapped every other request; 'alone' is one receipt built from a written"
        " entry and serialised",
        "",
        *log_lines,
    ]
    if profile_lines:
        out += ["", *profile_lines]
    out += ["", f"total run time {time.perf_counter() - t_start:.0f} s"]
    print("\n".join(out), flush=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ServerFailed as exc:
        note(f"error: {exc}")
        sys.exit(1)
