"""Many kill -9s under load: `docket serve --workers 2` on SQLite and/or PostgreSQL; counts.

The long version of tests/reliability/test_kill_under_load.py. For each backend it
builds one served synthetic use case with its ledger (a SQLite file, or a fresh
schema on $DOCKET_TEST_POSTGRES_URL), then does ``--runs`` runs with seeds
``--seed``, ``--seed + 1``, ...: each run starts the server, sends decisions from
four application clients while two reviewers claim, open and resolve referred
cases, kills a worker or the whole server ``--kills`` times at random moments,
and then checks the ledger (every decision and resolution answered 200 is on
record, no gap in seq, no entry without its payload, no referred decision
without its case, `docket ledger verify` passes). The ledger grows across runs,
so later runs also restart on a larger, already crashed-into ledger.

    .venv/bin/python benchmarks/crash_runs.py [--backend sqlite|postgres|both]
        [--runs 3] [--kills 5] [--seed 100] [--keep]

Progress goes to stderr, one line per run and the totals to stdout. All traffic
stays on 127.0.0.1; every loop is bounded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import types
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the repository's tests/ folder has no __init__.py, and an installed package named
# "tests" would otherwise win the import: name the folder explicitly
_tests = types.ModuleType("tests")
_tests.__path__ = [str(ROOT / "tests")]
sys.modules.setdefault("tests", _tests)

from tests.reliability.crash_run import CrashReport, crash_run, kill_plan  # noqa: E402
from tests.reliability.stack import Stack, build_stack  # noqa: E402
from tests.serving.postgres import POSTGRES_URL_ENV, postgres_schema  # noqa: E402


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def _stack(backend: str, home: Path) -> Iterator[Stack]:
    if backend == "sqlite":
        yield build_stack(home)
        return
    if not os.environ.get(POSTGRES_URL_ENV):
        raise SystemExit(f"--backend {backend} needs {POSTGRES_URL_ENV} (a PostgreSQL URL)")
    schemas = postgres_schema()  # a fresh schema, dropped when the generator closes
    try:
        yield build_stack(home, next(schemas))
    finally:
        schemas.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=3, help="runs per backend")
    parser.add_argument("--kills", type=int, default=5, help="kills per run")
    parser.add_argument("--seed", type=int, default=100, help="seed of the first run")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.kills < 1:
        raise SystemExit(f"--runs and --kills must be >= 1; got {args.runs} and {args.kills}")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if args.backend == "both" and not os.environ.get(POSTGRES_URL_ENV):
        _log(f"{POSTGRES_URL_ENV} is not set: SQLite only")
        backends = ["sqlite"]
    root = Path(tempfile.mkdtemp(prefix="docket-crash-runs-"))
    reports: dict[str, list[CrashReport]] = {}
    t0 = time.monotonic()
    try:
        for backend in backends:
            _log(f"{backend}: building the served use case in {root / backend}")
            with _stack(backend, root / backend / "home") as stack:
                for run in range(args.runs):
                    seed = args.seed + run
                    workdir = root / backend / f"run-{seed}"
                    workdir.mkdir(parents=True)
                    plan = kill_plan(seed, args.kills)
                    _log(f"{backend} run {run + 1}/{args.runs}, seed {seed}: kills {plan}")
                    report = crash_run(stack, workdir, seed, plan, progress=_log)
                    print(f"{backend} {report.line()}", flush=True)
                    reports.setdefault(backend, []).append(report)
    finally:
        if args.keep:
            _log(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(
        "| backend | runs | kills (worker/server) | requests | 200 | 503 | no answer | other "
        "| decisions verified | resolutions verified |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for backend, done in reports.items():
        answers: Counter[str] = Counter()
        for r in done:
            answers.update(r.counts.answers)
        kills = [k for r in done for k in r.kills]
        requests = sum(answers.values())
        other = requests - answers["200"] - answers["503"] - answers["no answer"]
        print(
            f"| {backend} | {len(done)} | {len(kills)} ({kills.count('worker')}/"
            f"{kills.count('server')}) | {requests} | {answers['200']} | {answers['503']} "
            f"| {answers['no answer']} | {other} | {sum(r.facts.decided_found for r in done)} "
            f"| {sum(r.facts.resolutions_found for r in done)} |"
        )
    print(f"\nall checks passed; {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
