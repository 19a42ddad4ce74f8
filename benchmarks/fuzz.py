"""The long fuzz: at least 10,000 schemathesis-generated requests against a real `docket serve`.

Usage::

    .venv/bin/python benchmarks/fuzz.py [--examples 250] [--seed 7] [--keep]

It does what ``tests/serving/http/test_fuzz_e2e.py`` does, with many more
examples: in a temporary folder it builds the synthetic use case (audited PASS,
promoted), a ledger signing key, an application key, an admin key and people
with each role, starts ``docket serve`` on a free 127.0.0.1 port, makes 60 real
decisions, signs two people in to the console, and then, for every operation of
the service's OpenAPI document (``GET /docs.json`` plus the three BentoML routes
it leaves out), sends ``--examples`` schema-valid and ``--examples``
schema-violating requests, each with a credential holding one of the route's
roles. Every answer goes through schemathesis' checks: no 5xx; status code,
content type, headers and body as documented. Only loopback traffic.

It prints the requests sent, the statuses, the failures found (the first of each
kind in full), the known documentation gaps that matched (fixes outside the
test's files; see ``KNOWN_GAPS``) and the time. The exit status is 1 when any
request got a 5xx or a failure that is not a known gap, or fewer than 10,000
requests were sent.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
WANTED_REQUESTS = 10_000


def _load(name: str, relative: str) -> ModuleType:
    # the repository's tests folder is no importable package outside pytest
    spec = importlib.util.spec_from_file_location(name, ROOT / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=250, help="per operation and mode")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    server = _load("docket_bench_server", "tests/serving/server.py")
    review = _load("docket_bench_review_setup", "tests/serving/http/review_setup.py")
    fuzzing = _load("docket_bench_fuzz_setup", "tests/serving/http/fuzz_setup.py")
    from serving.http.service import ROUTES

    work = Path(tempfile.mkdtemp(prefix="docket-fuzz-"))
    print(f"setup in {work} ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    try:
        with fuzzing.fuzz_service(
            work, server.docket_server, review.build_registry, review.data_rows
        ) as svc:
            setup_s = time.monotonic() - started
            print(f"fuzzing {svc.url} ...", file=sys.stderr, flush=True)
            tally = fuzzing.fuzz(svc, list(ROUTES.rules), examples=args.examples, seed=args.seed)
    finally:
        if args.keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)

    server_errors = sum(n for code, n in tally.statuses.items() if code >= 500)
    print(f"routes in the table:   {len(ROUTES.rules)} (all fuzzed: {len(tally.by_operation)})")
    print(f"requests:              {tally.requests:,} (seed {args.seed}, {args.examples} per")
    print("                       operation and mode, schema-valid and schema-violating)")
    print(f"time:                  {tally.seconds:.0f} s fuzzing, {setup_s:.0f} s setup")
    print(f"rate:                  {tally.requests / max(tally.seconds, 1e-9):.0f} requests/s")
    print(f"statuses:              {dict(sorted(tally.statuses.items()))}")
    print(f"server errors (5xx):   {server_errors}")
    print(f"failures (not known):  {sum(tally.failure_kinds.values())}")
    for text in tally.failures:
        print(f"  - {text}")
    print(f"known gaps matched:    {sum(tally.known.values())}")
    for (label, title, status), count in sorted(tally.known.items()):
        print(f"  - {count:5d}  {label} -> {status}: {title}")
    if tally.no_negative:
        print(f"no invalid request possible: {', '.join(sorted(set(tally.no_negative)))}")
    bad = server_errors or tally.failures or tally.requests < WANTED_REQUESTS
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
