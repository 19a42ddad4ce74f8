"""Workers for the group-commit tests, importable by spawned processes (not a test module)."""

from __future__ import annotations

import os
import threading
from multiprocessing.synchronize import Barrier

from serving.ledger import DecisionLog
from serving.ledger.group_commit import GroupCommitSettings

START_TIMEOUT_S = 30.0
#: a worker left running by a failed test stops by itself
MAX_APPENDS = 100_000


def _append_loop(log: DecisionLog, name: str, count: int, ack_fd: int | None) -> None:
    for index in range(count):
        entry = log.append(
            "decision",
            "credit-eligibility",
            {"writer": name, "index": index, "score": index / 7},
            payload={"applicant_ref": f"{name}-{index}", "income": 1000 + index},
            subject_id=f"{name}-{index}",
        )
        if ack_fd is not None:
            # one write() of one line on an O_APPEND file: whole once it returns, even if
            # the process is killed right after (the kernel holds it, not this process)
            os.write(ack_fd, f"{entry.entry_id}\n".encode())


def append_in_threads(url: str, worker: int, threads: int, count: int, start: Barrier) -> None:
    """``threads`` threads of this process append ``count`` entries each, grouped."""
    log = DecisionLog(url, group_commit=GroupCommitSettings(enabled=True))
    try:
        log.head()
        start.wait(START_TIMEOUT_S)
        pool = [
            threading.Thread(target=_append_loop, args=(log, f"p{worker}t{t}", count, None))
            for t in range(threads)
        ]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
        committer = log.group_committer
        assert committer is not None and committer.grouped == threads * count
    finally:
        log.close()


def append_until_killed(url: str, threads: int, ack_path: str) -> None:
    """Append from ``threads`` threads until killed; each acknowledged entry id to ``ack_path``."""
    log = DecisionLog(url, group_commit=GroupCommitSettings(enabled=True))
    fd = os.open(ack_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    pool = [
        threading.Thread(target=_append_loop, args=(log, f"t{t}", MAX_APPENDS, fd), daemon=True)
        for t in range(threads)
    ]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
