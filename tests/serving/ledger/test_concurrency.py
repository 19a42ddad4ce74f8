"""Several processes appending at once never fork the chain (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from serving.ledger import DecisionLog

WORKERS = 4
APPENDS = 50
JOIN_TIMEOUT_S = 60.0


def test_concurrent_processes_append_a_gap_free_chain(
    log: DecisionLog, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    import _decision_log_worker as worker_module

    context = multiprocessing.get_context("spawn")
    start = context.Barrier(WORKERS)
    workers = [
        context.Process(target=worker_module.append_many, args=(db_url, w, APPENDS, start))
        for w in range(WORKERS)
    ]

    # when
    for process in workers:
        process.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
    stuck = [process for process in workers if process.is_alive()]
    for process in stuck:
        process.kill()
        process.join()

    # then
    assert not stuck, f"{len(stuck)} workers still running after {JOIN_TIMEOUT_S} s"
    assert [process.exitcode for process in workers] == [0] * WORKERS
    entries = list(log.iter_entries())
    assert [entry.seq for entry in entries] == list(range(1, WORKERS * APPENDS + 1))
    assert len({entry.subject_id for entry in entries}) == WORKERS * APPENDS
    result = log.verify()
    assert result.ok, result.detail
    assert result.entries_checked == WORKERS * APPENDS
