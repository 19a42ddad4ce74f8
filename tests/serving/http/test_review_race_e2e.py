"""Review under contention and over time, through a real `docket serve` (issue 8).

Three servers, one per review spec: the 50-reviewer race (on SQLite and on
PostgreSQL), a three-second lease that runs out, and a seven-second review
deadline that the running service's periodic check escalates. Each waits on
real time with a bounded loop, never on a fixed sleep it hopes is long enough.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.settings import Settings
from serving.access.keys import create_key
from serving.access.people import add_person
from serving.ledger import DecisionLog
from tests.serving.http.review_setup import (
    Service,
    build_registry,
    case_id_of,
    data_rows,
    ok,
    ok_list,
)
from tests.serving.postgres import postgres_schema
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

MIN_REVIEW_SECONDS = 1
REVIEWERS = 50
CASES = 20
# an uncertain referral has no model recommendation, and a high-debt one would be
# declined: a code that may justify an override, with a note, resolves either
RESOLUTION = {"outcome": "approved", "reason_code": "income_verified", "note": "Payslips seen."}
LEASE_MINUTES = 0.05
LEASE_SECONDS = LEASE_MINUTES * 60  # 3 s, by hand
DEADLINE_HOURS = 0.002
DEADLINE_SECONDS = DEADLINE_HOURS * 3600  # 7.2 s, by hand
PERIOD_SECONDS = 1
MAX_WAIT_SECONDS = 20


def _start(
    home: Path,
    settings: Settings,
    data_csv: Path,
    people: dict[str, list[str]],
    env: dict[str, str] | None = None,
) -> Iterator[Service]:
    """A migrated log with an application key and ``people``; a server over it."""
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {"app": create_key(log.engine, "application", "lending app")[0]}
    ids = {}
    for who, roles in people.items():
        token, person = add_person(log.engine, f"Reviewer {who}", roles, "test setup")
        tokens[who], ids[who] = token, person.person_id
    log.engine.dispose()
    with docket_server(settings, home, env=env) as url:
        yield Service(url, settings, data_rows(data_csv), tokens, ids)


def _history_actions(svc: Service, decision_id: str) -> list[str]:
    read = ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))
    return [h["action"] for h in read["history"] if h["kind"] == "review_action"]


def _wait_for(what: str, check: Any) -> Any:
    """``check()`` once it returns something truthy, polled for at most MAX_WAIT_SECONDS."""
    deadline = time.monotonic() + MAX_WAIT_SECONDS
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {MAX_WAIT_SECONDS} s")
        time.sleep(0.25)


# ---------------------------------------------------------------- the race


@pytest.fixture(scope="module")
def race_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    return build_registry(tmp_path_factory.mktemp("race-registry"), MIN_REVIEW_SECONDS)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def race_svc(
    request: pytest.FixtureRequest,
    race_registry: tuple[Settings, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    settings, data_csv = race_registry
    home = tmp_path_factory.mktemp(f"race-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'decisions.db'}"
    else:
        schema = postgres_schema()
        url = next(schema)  # skips, with a printed reason, when no server is reachable
        request.addfinalizer(lambda: next(schema, None))
    served = settings.model_copy(update={"database_url": url})
    people = {"auditor": ["auditor"], **{f"R{i:02d}": ["reviewer"] for i in range(REVIEWERS)}}
    yield from _start(home, served, data_csv, people)


@dataclass
class _Tally:
    """Every answer of the race, by case and by what was tried (lists append atomically)."""

    claims: list[tuple[str, str, int]] = field(default_factory=list)
    resolves: list[tuple[str, str, int]] = field(default_factory=list)
    opens: list[tuple[str, str, int]] = field(default_factory=list)


def _reviewer(
    svc: Service, who: str, cases: list[str], start: threading.Barrier, tally: _Tally
) -> None:
    """Claim every case; open the ones won, wait the minimum time, then resolve every case."""
    order = list(cases)
    random.Random(who).shuffle(order)
    headers = {"Authorization": f"Bearer {svc.tokens[who]}"}
    with httpx.Client(base_url=svc.url, headers=headers, timeout=120) as client:
        start.wait()
        for case_id in order:
            status = client.post(f"/cases/{case_id}/claim").status_code
            tally.claims.append((case_id, who, status))
        won = [c for c, w, s in tally.claims if w == who and s == 200]
        for case_id in won:
            tally.opens.append((case_id, who, client.get(f"/cases/{case_id}").status_code))
        time.sleep(MIN_REVIEW_SECONDS + 0.2)
        for case_id in order:
            status = client.post(f"/cases/{case_id}/resolve", json=RESOLUTION).status_code
            tally.resolves.append((case_id, who, status))


def test_fifty_reviewers_racing_for_twenty_cases_claim_and_resolve_each_once(
    race_svc: Service,
) -> None:
    # given: twenty referred decisions waiting in the queue, fifty reviewers
    svc = race_svc
    made = [svc.referred() for _ in range(CASES)]
    decision_of = {case_id_of(m): m["decision_id"] for m in made}
    cases = list(decision_of)
    queued = {c["case_id"] for c in ok_list(svc.call("GET", "/cases", "auditor", status="open"))}
    assert set(cases) <= queued
    reviewers = [who for who in svc.tokens if who.startswith("R")]
    assert len(reviewers) == REVIEWERS

    # when: every reviewer, each with its own connection, claims and resolves every case
    tally = _Tally()
    start = threading.Barrier(REVIEWERS)
    threads = [
        threading.Thread(target=_reviewer, args=(svc, who, cases, start, tally))
        for who in reviewers
    ]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    wall = time.monotonic() - began
    assert not any(t.is_alive() for t in threads)

    # then: every answer was a win or a refusal, never an error
    attempts = len(tally.claims) + len(tally.resolves)
    assert len(tally.claims) == len(tally.resolves) == REVIEWERS * CASES
    assert {s for _, _, s in tally.claims} <= {200, 409}, Counter(s for _, _, s in tally.claims)
    assert {s for _, _, s in tally.resolves} <= {200, 403, 409}, Counter(
        s for _, _, s in tally.resolves
    )
    assert all(s == 200 for _, _, s in tally.opens), tally.opens
    # each case claimed by exactly one person, and resolved exactly once, by that person
    claimed_by = {c: [w for c2, w, s in tally.claims if c2 == c and s == 200] for c in cases}
    resolved_by = {c: [w for c2, w, s in tally.resolves if c2 == c and s == 200] for c in cases}
    assert all(len(w) == 1 for w in claimed_by.values()), claimed_by
    assert resolved_by == claimed_by
    conflicts = Counter(s for _, _, s in tally.claims + tally.resolves if s != 200)
    claim_refusals = Counter(s for _, _, s in tally.claims if s != 200)
    print(
        f"\nrace on {svc.settings.database_url.split(':')[0]}: {REVIEWERS} reviewers,"
        f" {CASES} cases, {attempts} claim/resolve attempts ({len(tally.opens)} openings),"
        f" refusals {dict(conflicts)} ({dict(claim_refusals)} of claims), {len({w[0] for w in claimed_by.values()})} distinct"
        f" winners, wall time {wall:.1f} s ({attempts / wall:.0f} attempts/s)"
    )
    assert sum(conflicts.values()) == attempts - 2 * CASES

    # and: each decision's final outcome is the resolution, by its winner
    for case_id, decision_id in decision_of.items():
        read = ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))
        final = read["final"]
        assert read["status"] == "final", read
        assert (final["outcome"], final["decided_by"], final["case_id"]) == (
            "approved",
            "review",
            case_id,
        )
        assert final["decided_by_id"] == svc.ids[claimed_by[case_id][0]]
        actions = [h["action"] for h in read["history"] if h["kind"] == "review_action"]
        assert actions == ["claimed", "opened", "resolved"]
    assert ok(svc.call("GET", "/log/verify", "auditor"))["ok"] is True


# ---------------------------------------------------------------- lease expiry


@pytest.fixture(scope="module")
def lease_svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("lease-e2e")
    settings, data_csv = build_registry(
        home / "registry", MIN_REVIEW_SECONDS, lease_minutes=LEASE_MINUTES
    )
    people = {"A": ["reviewer"], "B": ["reviewer"], "auditor": ["auditor"]}
    yield from _start(home, settings, data_csv, people)


def test_an_expired_lease_returns_the_case_to_the_queue_for_another_reviewer(
    lease_svc: Service,
) -> None:
    # given: A claims and opens a referred case; B is refused while A holds it
    svc = lease_svc
    made = svc.referred()
    case_id = case_id_of(made)
    claimed = ok(svc.call("POST", f"/cases/{case_id}/claim", "A"))
    claimed_at = time.monotonic()
    held_until = datetime.fromisoformat(claimed["case"]["lease_until"].replace("Z", "+00:00"))
    ok(svc.call("GET", f"/cases/{case_id}", "A"))
    refused = svc.call("POST", f"/cases/{case_id}/claim", "B")
    assert refused.status_code == 409 and "is claimed by Reviewer A" in refused.text
    # the lease is the spec's 0.05 minutes
    lease = (held_until - datetime.now(UTC)).total_seconds()
    assert 0 < lease <= LEASE_SECONDS

    # when: the lease runs out (nobody releases the case)
    def back_in_queue() -> bool:
        queue = ok_list(svc.call("GET", "/cases", "B", status="open"))
        return case_id in {c["case_id"] for c in queue}

    _wait_for("the case back in the open queue", back_in_queue)
    waited = time.monotonic() - claimed_at

    # then: it came back only after the lease, A's claim is gone, and B can take it
    assert waited >= LEASE_SECONDS - 0.5, waited
    lapsed = svc.call("POST", f"/cases/{case_id}/resolve", "A", RESOLUTION)
    assert lapsed.status_code == 409 and "your claim expired" in lapsed.text
    taken = ok(svc.call("POST", f"/cases/{case_id}/claim", "B"))
    assert taken["case"]["claimed_by_id"] == svc.ids["B"]
    late = svc.call("POST", f"/cases/{case_id}/resolve", "A", RESOLUTION)
    assert late.status_code == 409 and "is claimed by Reviewer B" in late.text
    assert _history_actions(svc, made["decision_id"]) == ["claimed", "opened", "claimed"]
    entries = DecisionLog(svc.settings.database_url).entries_for(made["decision_id"])
    second_claim = [e.digest for e in entries if e.kind == "review_action"][-1]
    assert (second_claim["person_id"], second_claim.get("took_over_from_id")) == (
        svc.ids["B"],
        svc.ids["A"],
    )


# ---------------------------------------------------------------- escalation


@pytest.fixture(scope="module")
def deadline_svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("deadline-e2e")
    settings, data_csv = build_registry(
        home / "registry", MIN_REVIEW_SECONDS, review_deadline_hours=DEADLINE_HOURS
    )
    people = {"A": ["reviewer"], "auditor": ["auditor"]}
    env = {"DOCKET_RELOAD_SECONDS": str(PERIOD_SECONDS)}
    yield from _start(home, settings, data_csv, people, env)


def test_the_running_service_escalates_an_overdue_case_exactly_once(
    deadline_svc: Service,
) -> None:
    # given: a fresh referred case, due 7.2 s after it was made
    svc = deadline_svc
    made = svc.referred()
    decision_id, case_id = made["decision_id"], case_id_of(made)
    fresh = {c["case_id"]: c for c in ok_list(svc.call("GET", "/cases", "auditor"))}[case_id]
    created = datetime.fromisoformat(fresh["created_at"].replace("Z", "+00:00"))
    due = datetime.fromisoformat(fresh["deadline"].replace("Z", "+00:00"))
    assert (due - created).total_seconds() == pytest.approx(DEADLINE_SECONDS, abs=0.5)
    assert (fresh["status"], fresh["overdue"], fresh["escalated_at"]) == ("open", False, None)

    # when: the deadline passes while the service runs its check every second
    def escalated() -> dict[str, Any] | None:
        queue = ok_list(svc.call("GET", "/cases", "A", status="escalated"))
        return {c["case_id"]: c for c in queue}.get(case_id)

    seen = _wait_for("the case escalated", escalated)
    read_at = datetime.now(UTC)

    # then: escalated, overdue by about the time since its deadline
    assert seen["overdue"] is True and seen["escalated_at"] is not None
    since_due = (read_at - due).total_seconds()
    assert 0 < seen["overdue_seconds"] <= since_due + 0.5, (seen["overdue_seconds"], since_due)
    assert datetime.fromisoformat(seen["escalated_at"].replace("Z", "+00:00")) >= due
    overdue = {c["case_id"]: c for c in ok_list(svc.call("GET", "/review/overdue", "auditor"))}
    assert overdue[case_id]["overdue"] is True and overdue[case_id]["overdue_seconds"] > 0

    # and: several more periods later, the ledger still holds exactly one escalation
    time.sleep(4 * PERIOD_SECONDS)
    assert _history_actions(svc, decision_id) == ["escalated"]
    entries = DecisionLog(svc.settings.database_url).entries_for(decision_id)
    escalations = [
        e for e in entries if e.kind == "review_action" and e.digest["action"] == "escalated"
    ]
    assert len(escalations) == 1
    still = {c["case_id"]: c for c in ok_list(svc.call("GET", "/cases", "auditor"))}[case_id]
    assert still["status"] == "escalated" and still["escalated_at"] == seen["escalated_at"]
