"""How fast are a reviewer's claim and resolve over HTTP, next to ``GET /readyz``?

Usage::

    .venv/bin/python benchmarks/review_latency.py [--cases 200] [--seconds 120] [--keep]

On a fresh temporary ``DOCKET_HOME`` it writes the synthetic use case (seed 3,
2,000 rows), patches its ``[review]`` section (``min_review_seconds = 0``, no
four-eyes rule, so every resolution is final at once), trains it with
reweighing, audits it (it must PASS) and promotes it. It then starts
``docket serve`` on a free 127.0.0.1 port, sends real rows of the synthetic data
to ``POST /decide`` until ``--cases`` decisions are referred, and for one
reviewer (a person's token) times ``POST /cases/{id}/claim`` and
``POST /cases/{id}/resolve`` on each case; the case is opened
(``GET /cases/{id}``) between the two, untimed, because resolving needs it.
``GET /readyz`` on the same server, as many times, is the baseline: the client,
HTTP and BentoML cost with no work. Each phase stops at its count or at its
share of ``--seconds``, whichever comes first. At the end the ledger's hash
chain must verify. Only loopback traffic.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import numpy as np

BIN = Path(sys.executable).parent
USE_CASE = "synthetic-eligibility"
FEATURES = ("income", "debt", "years_employed", "employment", "postcode_score")
READY_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0
REQUEST_TIMEOUT_S = 30.0
ROWS_PER_CASE = 20  # bound on the rows sent to find each referred decision
PHASES = 3  # making referred decisions, readyz, claim+resolve
_SHIPPED_SECOND_REVIEW = """\
[[review.second_review]]
outcome = "approved"
model_recommendation = "decline"
feature = "debt"
above = 40000
reason = "Approving debt above 40,000 against the model needs a senior reviewer."
"""


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _patch_review(spec_path: Path) -> None:
    text = spec_path.read_text(encoding="utf-8")
    patched = text.replace("min_review_seconds = 30", "min_review_seconds = 0").replace(
        _SHIPPED_SECOND_REVIEW, ""
    )
    if patched.count("min_review_seconds = 0") != 1 or "second_review" in patched:
        raise SystemExit(f"the synthetic spec's [review] section changed; cannot patch {spec_path}")
    spec_path.write_text(patched, encoding="utf-8")


def _build(home: Path) -> tuple[Any, list[dict[str, Any]], str, str]:
    """Settings, request rows, an application key and a reviewer's token."""
    from audits.audit import run_audit
    from audits.promotion import promote
    from models.settings import Settings
    from models.spec import load_spec
    from serving.access.keys import create_key
    from serving.access.people import add_person
    from serving.ledger import DecisionLog
    from training.synthetic import write_synthetic
    from training.train import train_use_case

    settings = Settings.local(home)
    spec_path = write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3)
    _patch_review(spec_path)
    spec = load_spec(spec_path)
    trained = train_use_case(spec, settings, mitigation="reweighing")
    audit = run_audit(spec, settings, version=trained.version)
    if audit.outcome != "PASS":
        raise SystemExit(f"the mitigated synthetic model must PASS its audit; got {audit.outcome}")
    promote(spec, settings, trained.version, requested_by="benchmark-runner")
    log = DecisionLog(settings.database_url)
    log.migrate()
    app_key = create_key(log.engine, "application", "benchmark app")[0]
    token = add_person(log.engine, "Benchmark Reviewer", ["reviewer"], "benchmark-runner")[0]
    with (spec_path.parent / "data.csv").open(newline="", encoding="utf-8") as f:
        rows = [
            {k: (r[k] if k == "employment" else float(r[k])) for k in FEATURES}
            for r in csv.DictReader(f)
        ]
    return settings, rows, app_key, token


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(settings: Any, home: Path) -> Iterator[str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **settings.as_env(),
        "BENTOML_HOME": str(home / "bentoml"),
        "DOCKET_RELOAD_SECONDS": "0",
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
        yield url
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_TIMEOUT_S)


def _referred(
    client: httpx.Client, rows: list[dict[str, Any]], key: str, wanted: int, budget_s: float
) -> list[str]:
    """Case ids of up to ``wanted`` referred decisions, sending rows in order."""
    headers = {"Authorization": f"Bearer {key}"}
    cases: list[str] = []
    stop = time.monotonic() + budget_s
    for i in range(min(len(rows), wanted * ROWS_PER_CASE)):
        if len(cases) == wanted or time.monotonic() > stop:
            break
        made = client.post(
            "/decide", json={"use_case": USE_CASE, "features": rows[i]}, headers=headers
        )
        made.raise_for_status()
        body = made.json()
        if body["outcome"] == "referred":
            cases.append(body["case_id"])
    return cases


def _timed(call: Callable[[], httpx.Response], expect: int = 200) -> float:
    start = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != expect:
        raise SystemExit(f"unexpected {response.status_code}: {response.text[:500]}")
    return elapsed


def _row(name: str, times: list[float]) -> str:
    if not times:
        return f"| {name} | 0 | - | - |"
    p50, p99 = np.percentile(np.array(times), [50, 99])
    return f"| {name} | {len(times)} | {p50:.2f} | {p99:.2f} |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200, help="referred cases to work")
    parser.add_argument("--seconds", type=float, default=120.0, help="time bound of the phases")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.cases < 1 or args.seconds <= 0:
        raise SystemExit(
            f"--cases must be >= 1 and --seconds > 0; got {args.cases} and {args.seconds}"
        )
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    home = Path(tempfile.mkdtemp(prefix="docket-review-bench-"))
    share = args.seconds / PHASES
    try:
        _log(f"setup in {home}: synthetic use case, train, audit, promote")
        settings, rows, app_key, token = _build(home)
        reviewer = {"Authorization": f"Bearer {token}"}
        with (
            _server(settings, home) as url,
            httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S, trust_env=False) as client,
        ):
            _log(f"docket serve ready at {url}; making {args.cases} referred decisions")
            cases = _referred(client, rows, app_key, args.cases, share)
            _log(f"{len(cases)} referred cases; timing")
            for _ in range(10):  # warm-up of the connection and the route
                client.get("/readyz")
            readyz: list[float] = []
            stop = time.monotonic() + share
            while len(readyz) < len(cases) and time.monotonic() < stop:
                readyz.append(_timed(partial(client.get, "/readyz")))
            claims: list[float] = []
            resolves: list[float] = []
            stop = time.monotonic() + share
            resolution = {"outcome": "approved", "reason_code": "model_reasons_confirmed"}
            for case_id in cases:
                if time.monotonic() > stop:
                    break
                claims.append(
                    _timed(partial(client.post, f"/cases/{case_id}/claim", headers=reviewer))
                )
                opened = client.get(f"/cases/{case_id}", headers=reviewer)
                opened.raise_for_status()
                resolve = partial(
                    client.post, f"/cases/{case_id}/resolve", json=resolution, headers=reviewer
                )
                resolves.append(_timed(resolve))
        from serving.ledger import DecisionLog

        verified = DecisionLog(settings.database_url).verify()
        print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.2f}")
        print("| request | n | p50 ms | p99 ms |")
        print("|---|---|---|---|")
        print(_row("GET /readyz (baseline)", readyz))
        print(_row("POST /cases/{id}/claim", claims))
        print(_row("POST /cases/{id}/resolve", resolves))
        print(f"ledger verifies: {verified.ok}")
        return 0 if verified.ok else 1
    finally:
        if args.keep:
            _log(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
