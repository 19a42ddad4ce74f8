"""kill -9 under load, on SQLite and PostgreSQL: nothing acknowledged is lost, nothing is half-written.

`docket serve --workers 2` takes decisions from four application clients while
two reviewers claim, open and resolve the referred cases. At random moments
(seeded) one worker, or the whole server, is killed with SIGKILL; a killed
worker is replaced by BentoML's arbiter, a killed server is started again on the
same state. Afterwards every decision and resolution answered 200 is in the
ledger, the ledger has no half-written entry, and `docket ledger verify` passes
(see tests/reliability/checks.py). Four runs, three kills each: twelve kills.

The module is not named ``*_e2e.py`` on purpose: its tests share no server, so
pytest-xdist may hand them to different workers (tests/scheduling.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.crash_run import crash_run, kill_plan
from tests.reliability.stack import Stack

pytestmark = pytest.mark.e2e

KILLS_PER_RUN = 3


def _run(stack: Stack, workdir: Path, seed: int) -> None:
    plan = kill_plan(seed, KILLS_PER_RUN)
    assert sorted(set(plan)) == ["server", "worker"]
    report = crash_run(stack, workdir, seed, plan, progress=print)
    print(report.line())
    assert report.counts.decided, "no decision was acknowledged"
    assert report.answered_after_last_restart > 0, "nothing answered after the last restart"
    # a 500 would be a failure the service did not handle; the clients only see 200s,
    # 503s (database busy while a writer died) or lost connections (the process died)
    assert "500" not in report.counts.answers, report.counts.answers


@pytest.mark.parametrize("seed", [11, 12])
def test_kill_under_load_on_sqlite(sqlite_stack: Stack, tmp_path: Path, seed: int) -> None:
    _run(sqlite_stack, tmp_path, seed)


@pytest.mark.postgres
@pytest.mark.parametrize("seed", [21, 22])
def test_kill_under_load_on_postgres(postgres_stack: Stack, tmp_path: Path, seed: int) -> None:
    _run(postgres_stack, tmp_path, seed)
