"""One crash run: serve with two workers, load it, kill -9 at random moments, check the ledger.

Shared by tests/reliability/test_kill_under_load.py (a few kills per test) and
benchmarks/crash_runs.py (many). The seed picks the moments, which worker dies,
and the clients' requests, so a failing run can be repeated.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.reliability.checks import LedgerFacts, check_ledger, verify_command
from tests.reliability.load import Counts, Load
from tests.reliability.served import KillableServer
from tests.reliability.stack import Stack

__all__ = ["CrashReport", "Kill", "crash_run", "kill_plan"]

Kill = Literal["worker", "server"]
#: a kill falls at a random moment this many seconds after the previous restart
KILL_AFTER_S = (0.5, 4.0)
#: load goes on this long after the last restart, to show the service recovered
SETTLE_S = 3.0


@dataclass(frozen=True)
class CrashReport:
    seed: int
    kills: list[Kill]
    counts: Counts
    facts: LedgerFacts
    answered_after_last_restart: int
    seconds: float

    def line(self) -> str:
        a = self.counts.answers
        return (
            f"seed {self.seed}: kills {len(self.kills)} ({self.kills.count('worker')} worker,"
            f" {self.kills.count('server')} server); requests {self.counts.requests}; 200s"
            f" {a['200']}; 503s {a['503']}; no answer {a['no answer']}; other"
            f" {self.counts.requests - a['200'] - a['503'] - a['no answer']} ({dict(a)});"
            f" decisions acknowledged and found {self.facts.decided_found}; resolutions"
            f" acknowledged and found {self.facts.resolutions_found}; ledger entries"
            f" {self.facts.entries}; {self.seconds:.0f} s"
        )


def kill_plan(seed: int, kills: int) -> list[Kill]:
    """``kills`` kills in a seeded order, with both kinds once there are two or more."""
    rng = random.Random(seed)
    plan: list[Kill] = ["worker", "server"][: min(kills, 2)]  # type: ignore[assignment]
    plan += [rng.choice(("worker", "server")) for _ in range(kills - len(plan))]
    rng.shuffle(plan)
    return plan


def crash_run(
    stack: Stack,
    workdir: Path,
    seed: int,
    kills: list[Kill],
    *,
    deciders: int = 4,
    progress: Callable[[str], None] = lambda _: None,
) -> CrashReport:
    t0 = time.monotonic()
    rng = random.Random(seed)
    server = KillableServer(stack.settings, workdir, workers=2)
    server.start()
    load = Load(lambda: server.url, stack, seed, deciders=deciders).start()
    try:
        for n, kind in enumerate(kills, 1):
            before = load.counts.requests
            time.sleep(rng.uniform(*KILL_AFTER_S))
            assert load.counts.requests > before, "no request was sent between two kills"
            if kind == "worker":
                pid = server.kill_worker(rng)
                progress(f"kill {n}/{len(kills)}: worker {pid}; replaced by the arbiter")
            else:
                server.kill_server()
                progress(f"kill {n}/{len(kills)}: whole server; started again")
        ok_before = load.counts.answers["200"]
        time.sleep(SETTLE_S)
        counts = load.stop()
        answered_after = counts.answers["200"] - ok_before
    finally:
        load.stop()
        server.stop()
    facts = check_ledger(stack.settings.database_url, counts.decided, counts.resolved)
    verify_command(stack.settings)
    return CrashReport(seed, kills, counts, facts, answered_after, round(time.monotonic() - t0, 1))
