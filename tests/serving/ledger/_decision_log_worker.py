"""Worker for the concurrency test, importable by spawned processes (not a test module)."""

from __future__ import annotations

from multiprocessing.synchronize import Barrier

from serving.ledger import DecisionLog

START_TIMEOUT_S = 30.0


def append_many(url: str, worker: int, count: int, start: Barrier) -> None:
    """Connect, wait until every worker has, then append ``count`` entries as fast as possible."""
    log = DecisionLog(url)
    try:
        log.head()
        start.wait(START_TIMEOUT_S)
        for index in range(count):
            log.append(
                "decision",
                "credit-eligibility",
                {"worker": worker, "index": index, "score": index / count},
                payload={"applicant_ref": f"w{worker}-{index}", "income": 1000 + index},
                subject_id=f"w{worker}-{index}",
            )
    finally:
        log.close()
