"""The ledger database goes away under load, then comes back: 503s, no unrecorded decision, recovery.

PostgreSQL: the service reaches the shared server through a test-owned
:class:`TcpProxy`; cutting it closes the service's connections and refuses new
ones (the server itself is never touched). SQLite: the test takes the write lock
(``BEGIN EXCLUSIVE``; in WAL mode readers go on, every writer waits) for longer
than the service's busy timeout (``SQLITE_BUSY_TIMEOUT_S``, 10 s, below BentoML's 30 s
request timeout), so every write in that time fails with a 503: as root, file permissions would not stop a write. In both, the
same `docket serve` (same worker processes: no restart) answers 200s again once
the database is back, and afterwards every decision answered 200 is in the ledger,
which verifies (tests/reliability/checks.py).

Each scenario runs once per module; its tests read what it saw.
"""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import make_url

from serving.ledger.engine import SQLITE_BUSY_TIMEOUT_S
from tests.reliability.checks import LedgerFacts, check_ledger, verify_command
from tests.reliability.load import Counts, Load
from tests.reliability.proxy import TcpProxy
from tests.reliability.served import KillableServer
from tests.reliability.stack import Stack, build_stack
from tests.serving.postgres import postgres_schema

pytestmark = pytest.mark.e2e

BEFORE_S = 3.0
PG_OUTAGE_S = 10.0
#: longer than the busy timeout, so that writers give up while the lock is held
SQLITE_LOCK_S = SQLITE_BUSY_TIMEOUT_S + 8.0
AFTER_S = 6.0
STATUS_CALLS = 4
UNKNOWN_SWITCHES = "unknown: the ledger database cannot be reached"
#: answers that carry no decision and say the service is unavailable: Docket's 503 (a 504
#: would mean a writer waited past BentoML's 30 s request timeout, longer than any bound)
REFUSALS = {"503"}
#: what a reviewer may get besides those: the case was taken meanwhile
REVIEW_CONFLICT = "409"


@dataclass(frozen=True)
class Outage:
    name: str
    phases: dict[str, Counter[str]]
    counts: Counts
    facts: LedgerFacts
    verify_output: str
    status_while_away: list[str]  # GET /admin/status answers during the outage

    def report(self) -> str:
        lines = [f"{self.name} {phase}: {dict(a)}" for phase, a in self.phases.items()]
        lines += [
            f"{self.name}: {len(took)} answers {status}, slowest {max(took):.2f} s"
            for status, took in sorted(self.counts.refusal_seconds.items())
        ]
        lines.append(f"{self.name} by route: {dict(self.counts.by_route)}")
        lines.append(f"{self.name}: decisions answered 200, found: {self.facts.decided_found}")
        return "\n".join(lines)


def _phase(load: Load, seconds: float) -> Counter[str]:
    before = load.snapshot()
    time.sleep(seconds)
    return load.snapshot() - before


def _status(url: str, stack: Stack) -> str:
    """``GET /admin/status``: its code, and what it says of the stop switches."""
    answer = httpx.get(
        f"{url}/admin/status", headers={"Authorization": f"Bearer {stack.admin_key}"}, timeout=60
    )
    if answer.status_code != 200:
        return str(answer.status_code)
    return f"200 stopped={answer.json()['stopped']}"


def _finish(
    name: str,
    stack: Stack,
    phases: dict[str, Counter[str]],
    counts: Counts,
    status: list[str] | None = None,
) -> Outage:
    facts = check_ledger(stack.settings.database_url, counts.decided, counts.resolved)
    verified = verify_command(stack.settings)
    outage = Outage(name, phases, counts, facts, verified, status or [])
    print(outage.report())
    return outage


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    yield from postgres_schema()


@pytest.fixture(scope="module")
def postgres_outage(module_postgres_url: str, tmp_path_factory: pytest.TempPathFactory) -> Outage:
    workdir = tmp_path_factory.mktemp("pg-outage")
    stack = build_stack(workdir / "home", module_postgres_url)
    direct = make_url(module_postgres_url)
    with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as proxy:
        proxied = direct.set(host="127.0.0.1", port=proxy.port)
        settings = stack.settings.model_copy(
            update={"database_url": proxied.render_as_string(hide_password=False)}
        )
        server = KillableServer(settings, workdir, workers=2)
        server.start()
        workers = server.worker_pids()
        load = Load(lambda: server.url, stack, seed=31).start()
        try:
            phases = {"before": _phase(load, BEFORE_S)}
            for _ in range(STATUS_CALLS):  # both workers have the admin key cached
                _status(server.url, stack)
            proxy.cut()
            before = load.snapshot()
            status = [_status(server.url, stack) for _ in range(STATUS_CALLS)]
            time.sleep(PG_OUTAGE_S)
            phases["outage"] = load.snapshot() - before
            proxy.restore()
            phases["after"] = _phase(load, AFTER_S)
            counts = load.stop()
            assert server.worker_pids() == workers, "a worker was restarted"
        finally:
            load.stop()
            server.stop()
        assert proxy.refused > 0, "the service never tried to reconnect while cut"
    print(f"GET /admin/status while cut: {status}")
    return _finish("postgres", stack, phases, counts, status)


@pytest.fixture(scope="module")
def sqlite_outage(tmp_path_factory: pytest.TempPathFactory) -> Outage:
    workdir = tmp_path_factory.mktemp("sqlite-outage")
    stack = build_stack(workdir / "home")
    path = make_url(stack.settings.database_url).database
    assert path is not None
    server = KillableServer(stack.settings, workdir, workers=2)
    server.start()
    workers = server.worker_pids()
    load = Load(lambda: server.url, stack, seed=32).start()
    try:
        phases = {"before": _phase(load, BEFORE_S)}
        with closing(sqlite3.connect(path, timeout=60, isolation_level=None)) as holder:
            holder.execute("BEGIN EXCLUSIVE")
            phases["outage"] = _phase(load, SQLITE_LOCK_S)
            holder.execute("ROLLBACK")
        phases["after"] = _phase(load, AFTER_S)
        counts = load.stop()
        assert server.worker_pids() == workers, "a worker was restarted"
    finally:
        load.stop()
        server.stop()
    return _finish("sqlite", stack, phases, counts)


def _recorded_refused_and_recovered(outage: Outage) -> None:
    phases, counts = outage.phases, outage.counts
    assert phases["before"]["200"] > 0, phases
    assert sum(phases["outage"][s] for s in REFUSALS) > 0, phases
    assert phases["after"]["200"] > 0, phases  # recovered, same processes
    assert "no answer" not in counts.answers, counts.answers  # the server stayed up
    # every 200 is on record (check_ledger ran in the fixture), and the ledger verifies
    assert outage.facts.decided_found == len(counts.decided) > 0
    assert outage.verify_output.startswith("ok:")


def _no_500(outage: Outage) -> None:
    allowed = REFUSALS | {"200", REVIEW_CONFLICT}
    unexpected = {k: n for k, n in outage.counts.by_route.items() if k.split()[-1] not in allowed}
    assert not unexpected, unexpected


@pytest.mark.postgres
def test_postgres_outage_gives_no_unrecorded_decision_and_recovers(
    postgres_outage: Outage,
) -> None:
    _recorded_refused_and_recovered(postgres_outage)


@pytest.mark.postgres
def test_postgres_outage_status_page_answers(postgres_outage: Outage) -> None:
    # 200 saying the switches are unknown, or 503 from the gatekeeper when this worker
    # had not cached the key: never a 500
    assert postgres_outage.status_while_away, "no status call made"
    for answer in postgres_outage.status_while_away:
        assert answer == "503" or answer == f"200 stopped={UNKNOWN_SWITCHES}", answer


@pytest.mark.postgres
def test_postgres_outage_answers_503_never_500(postgres_outage: Outage) -> None:
    _no_500(postgres_outage)


def test_sqlite_lock_gives_no_unrecorded_decision_and_recovers(sqlite_outage: Outage) -> None:
    _recorded_refused_and_recovered(sqlite_outage)


def test_sqlite_lock_answers_503_never_500_or_504(sqlite_outage: Outage) -> None:
    _no_500(sqlite_outage)
