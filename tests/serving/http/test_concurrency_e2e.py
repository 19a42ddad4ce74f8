"""Two workers, hundreds of concurrent requests: every acknowledged decision is in the log,
the chain verifies; then tampering with the database is caught by `docket log verify`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from models.settings import Settings
from serving.access.keys import create_key
from serving.decisions.engine import DecisionEngine
from serving.ledger import DecisionLog

from ..paths import rows_by_path
from ..server import docket_server

pytestmark = pytest.mark.e2e

REQUESTS = 300
THREADS = 12
TIME_LIMIT_S = 120


def test_two_workers_concurrent_decisions_then_tampering(
    served_settings: Settings, engine: DecisionEngine, tmp_path: Path
) -> None:
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    key = create_key(log.engine, "application", "load test")[0]
    rows = [f for fs in rows_by_path(engine, "credit-eligibility", per_path=5).values() for f in fs]
    rows += [
        f for fs in rows_by_path(engine, "retention-propensity", per_path=5).values() for f in fs
    ]
    use_cases = ["credit-eligibility"] * 15 + ["retention-propensity"] * 15

    with docket_server(settings, tmp_path, workers=2) as url:
        deadline = time.monotonic() + TIME_LIMIT_S
        client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=60)

        def one(i: int) -> tuple[int, str | None]:
            if time.monotonic() > deadline:
                return 0, None
            j = i % len(rows)
            r = client.post(f"{url}/decide", json={"use_case": use_cases[j], "features": rows[j]})
            return r.status_code, r.json().get("decision_id") if r.status_code == 200 else None

        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(one, range(REQUESTS)))
        client.close()

    acknowledged = [d for status, d in results if status == 200 and d]
    assert len(acknowledged) == REQUESTS, {s for s, _ in results}
    logged = {e.subject_id for e in log.iter_entries() if e.kind == "decision"}
    assert set(acknowledged) <= logged
    result = log.verify()
    assert result.ok and result.entries_checked == log.head().seq >= REQUESTS

    # tampering: change a row, then `docket log verify` names it
    exe = str(Path(sys.executable).with_name("docket"))
    env = {**os.environ, **settings.as_env()}
    with log.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE log_entries SET use_case = 'other' WHERE seq = 57")
    out = subprocess.run(
        [exe, "log", "verify"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 1 and "BROKEN at seq 57" in out.stdout, out.stdout + out.stderr
