"""Fifty reviewers at once never double-claim or double-resolve a case (R21), on SQLite and PostgreSQL.

Each reviewer is a thread with its own decision log (its own engine and
connections). Every reviewer tries to claim every case, in its own order; on
a conflict it tries to resolve the case anyway (it must be refused); on a
win it opens and resolves the case, then tries to resolve it again (refused).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from serving.ledger import DecisionLog
from serving.review import CaseConflict, ReviewDesk
from tests.serving.review.helpers import USE_CASE, FakeClock, credit_spec, record_decision

REVIEWERS = 50
CASES = 20
JOIN_TIMEOUT_S = 240.0
RESOLUTION = {"outcome": "declined", "reason_code": "model_reasons_confirmed"}


def test_fifty_reviewers_never_double_claim_or_double_resolve(db_url: str) -> None:
    # given: CASES referred decisions, and a spec without a minimum review time
    spec_for = {USE_CASE: credit_spec(min_review_seconds=0)}.get
    with DecisionLog(db_url) as log:
        log.migrate()
        clock = FakeClock(datetime.now(UTC))
        case_ids = []
        for _ in range(CASES):
            record = record_decision(log, clock)
            assert record.case is not None
            case_ids.append(record.case.case_id)
    start = threading.Barrier(REVIEWERS)
    lock = threading.Lock()
    tally: Counter[str] = Counter()
    won: dict[str, list[str]] = {}
    errors: list[str] = []

    def reviewer(number: int) -> None:
        me = {
            "person_id": f"r{number:02d}",
            "person_name": f"Reviewer {number}",
            "roles": {"reviewer"},
        }
        mine: Counter[str] = Counter()
        wins: list[str] = []
        try:
            with DecisionLog(db_url) as own:
                desk = ReviewDesk(own, spec_for)
                start.wait()
                for case_id in random.Random(number).sample(case_ids, len(case_ids)):
                    mine["claim attempts"] += 1
                    try:
                        desk.claim(case_id, **me)
                    except CaseConflict:
                        mine["claim conflicts"] += 1
                        mine["resolve attempts"] += 1
                        try:
                            desk.resolve(case_id, **me, **RESOLUTION)
                            mine["resolved without holding"] += 1
                        except CaseConflict:
                            mine["resolve conflicts"] += 1
                        continue
                    desk.open(case_id, **me)
                    mine["resolve attempts"] += 1
                    desk.resolve(case_id, **me, **RESOLUTION)
                    wins.append(case_id)
                    mine["resolve attempts"] += 1
                    try:
                        desk.resolve(case_id, **me, **RESOLUTION)
                        mine["resolved twice"] += 1
                    except CaseConflict:
                        mine["resolve conflicts"] += 1
        except Exception as error:  # reported below with the thread that raised it
            with lock:
                errors.append(f"reviewer {number}: {type(error).__name__}: {error}")
        with lock:
            tally.update(mine)
            won[me["person_id"]] = wins

    threads = [threading.Thread(target=reviewer, args=(n,)) for n in range(REVIEWERS)]

    # when
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    wall = time.perf_counter() - began

    # then
    assert not [t for t in threads if t.is_alive()], (
        f"reviewers still running after {JOIN_TIMEOUT_S} s"
    )
    assert errors == []
    backend = db_url.split(":", 1)[0]
    print(f"\n{backend}: {REVIEWERS} reviewers, {CASES} cases, {dict(tally)}, wall {wall:.2f} s")
    assert tally["resolved without holding"] == 0 and tally["resolved twice"] == 0
    assert tally["claim attempts"] == REVIEWERS * CASES
    assert tally["claim conflicts"] == REVIEWERS * CASES - CASES
    assert sorted(c for wins in won.values() for c in wins) == sorted(case_ids)
    with DecisionLog(db_url) as log:
        actions = Counter(
            (e.digest["case_id"], e.digest["action"])
            for e in log.iter_entries()
            if e.kind == "review_action"
        )
        holders = {
            e.digest["case_id"]: e.digest["person_id"]
            for e in log.iter_entries()
            if e.digest.get("action") == "claimed"
        }
        assert all(actions[(c, "claimed")] == 1 for c in case_ids)
        assert all(actions[(c, "resolved")] == 1 for c in case_ids)
        desk = ReviewDesk(log, spec_for)
        resolved = desk.queue(status=["resolved"], limit=CASES + 1)
        assert len(resolved) == CASES
        assert all(c.resolved_by_id == holders[c.case_id] for c in resolved)
        result = log.verify()
        assert result.ok, result.detail
