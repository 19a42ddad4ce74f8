"""``Idempotency-Key`` end to end: a real `docket serve` with two workers.

Retried decisions, review actions and appeals with the same key get the first
answer again and write nothing twice: the ledger's entries are counted by
reading the database directly, not through the service. Concurrent retries
(eight at once, spread over both workers) record exactly one decision.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from serving.access.idempotency import KeyedRequest, fingerprint
from serving.access.keys import create_key
from serving.access.people import add_person
from serving.access.schema import IdempotencyKeyRow
from serving.ledger import DecisionLog
from serving.ledger.times import stamp
from tests.serving.http.review_setup import (
    USE_CASE,
    Service,
    build_registry,
    case_id_of,
    data_rows,
    ok,
)
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

MIN_REVIEW_SECONDS = 1
CONCURRENT = 8


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("idempotency-e2e")
    settings, data_csv = build_registry(home / "registry", MIN_REVIEW_SECONDS)
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {
        "app": create_key(log.engine, "application", "lending app")[0],
        "other app": create_key(log.engine, "application", "another app")[0],
    }
    ids = {}
    token, person = add_person(log.engine, "Reviewer A", ["reviewer"], "test setup")
    tokens["A"], ids["A"] = token, person.person_id
    log.close()
    with docket_server(settings, home, workers=2) as url:
        yield Service(url, settings, data_rows(data_csv), tokens, ids)


def send(svc: Service, path: str, who: str | None, body: object, key: str | None) -> httpx.Response:
    """POST ``body`` as fixed bytes (a retry resends the same bytes), with the key if any."""
    headers = {"content-type": "application/json"}
    if who is not None:
        headers["Authorization"] = f"Bearer {svc.tokens[who]}"
    if key is not None:
        headers["Idempotency-Key"] = key
    return httpx.post(
        f"{svc.url}{path}", content=json.dumps(body).encode(), headers=headers, timeout=60
    )


def decision_entries(svc: Service, decision_id: str | None = None) -> list[str]:
    """Subject ids of the ledger's decision entries, read from the database itself."""
    with DecisionLog(svc.settings.database_url) as log:
        return [
            e.subject_id or ""
            for e in log.iter_entries()
            if e.kind == "decision" and (decision_id is None or e.subject_id == decision_id)
        ]


def entries_about(svc: Service, decision_id: str) -> list[tuple[str, str]]:
    """(kind, entry id) of every ledger entry about ``decision_id``."""
    with DecisionLog(svc.settings.database_url) as log:
        return [(e.kind, e.entry_id) for e in log.entries_for(decision_id)]


def a_body(svc: Service) -> dict[str, Any]:
    features = svc.rows[svc.cursor % len(svc.rows)]
    svc.cursor += 1
    return {"use_case": USE_CASE, "features": features}


def test_a_retried_decision_gets_the_same_answer_and_is_recorded_once(svc: Service) -> None:
    # given
    body = a_body(svc)
    before = len(decision_entries(svc))

    # when
    first = send(svc, "/decide", "app", body, "decide-retry-1")
    retried = send(svc, "/decide", "app", body, "decide-retry-1")
    again = send(svc, "/decide", "app", body, "decide-retry-1")

    # then: the same bytes, marked as replayed; one decision in the ledger
    assert first.status_code == 200, first.text
    assert retried.status_code == again.status_code == 200
    assert retried.content == again.content == first.content
    assert "idempotent-replayed" not in first.headers
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.headers["content-type"] == "application/json"
    decision_id = first.json()["decision_id"]
    assert decision_entries(svc, decision_id) == [decision_id]
    assert len(decision_entries(svc)) == before + 1

    # without a key, the same body is another decision
    fresh = send(svc, "/decide", "app", body, None)
    assert fresh.status_code == 200 and fresh.json()["decision_id"] != decision_id
    assert len(decision_entries(svc)) == before + 2


def test_the_same_key_with_another_body_is_refused_and_writes_nothing(svc: Service) -> None:
    # given
    first = send(svc, "/decide", "app", a_body(svc), "decide-mismatch-1")
    assert first.status_code == 200, first.text
    before = len(decision_entries(svc))

    # when
    refused = send(svc, "/decide", "app", a_body(svc), "decide-mismatch-1")

    # then
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert "'Idempotency-Key' 'decide-mismatch-1' was already used" in error
    assert "different request to POST /decide" in error
    assert len(decision_entries(svc)) == before


def test_concurrent_retries_with_one_key_record_one_decision(svc: Service) -> None:
    # given: eight clients ready to send the same request with the same key at once
    body = a_body(svc)
    before = len(decision_entries(svc))
    barrier = threading.Barrier(CONCURRENT, timeout=30)
    answers: list[httpx.Response | None] = [None] * CONCURRENT

    def one(i: int) -> None:
        barrier.wait()
        answers[i] = send(svc, "/decide", "app", body, "decide-concurrent-1")

    # when
    threads = [threading.Thread(target=one, args=(i,)) for i in range(CONCURRENT)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)

    # then: every answer is the one decision (the wait of 10 s is far above a decision's
    # time, so none should have given up with 409 "in progress"); the ledger holds one
    assert all(not t.is_alive() for t in threads)
    got = [a for a in answers if a is not None]
    assert len(got) == CONCURRENT
    assert [a.status_code for a in got] == [200] * CONCURRENT, [a.text for a in got]
    assert len({a.content for a in got}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in got) == CONCURRENT - 1
    decision_id = got[0].json()["decision_id"]
    assert decision_entries(svc, decision_id) == [decision_id]
    assert len(decision_entries(svc)) == before + 1


def test_two_callers_with_the_same_key_get_their_own_decisions(svc: Service) -> None:
    body = a_body(svc)
    mine = send(svc, "/decide", "app", body, "shared-key")
    theirs = send(svc, "/decide", "other app", body, "shared-key")
    assert mine.status_code == theirs.status_code == 200
    assert mine.json()["decision_id"] != theirs.json()["decision_id"]
    assert send(svc, "/decide", "app", body, "shared-key").content == mine.content
    assert send(svc, "/decide", "other app", body, "shared-key").content == theirs.content
    for made in (mine, theirs):
        decision_id = made.json()["decision_id"]
        assert decision_entries(svc, decision_id) == [decision_id]


def test_a_bad_key_is_refused_after_authentication(svc: Service) -> None:
    body = a_body(svc)
    before = len(decision_entries(svc))
    refused = send(svc, "/decide", "app", body, "x" * 256)
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert "'Idempotency-Key' must be 1 to 255 visible ASCII characters" in error
    assert "(256 characters)" in error and "x" * 41 not in error
    # the gatekeeper runs first: without a token the answer is 401, whatever the key
    assert send(svc, "/decide", None, body, "has space").status_code == 401
    assert len(decision_entries(svc)) == before


def _referred_and_opened(svc: Service) -> tuple[str, str]:
    made = svc.referred()
    case_id = case_id_of(made)
    ok(svc.call("POST", f"/cases/{case_id}/claim", "A"))
    ok(svc.call("GET", f"/cases/{case_id}", "A"))
    time.sleep(MIN_REVIEW_SECONDS + 0.3)
    return made["decision_id"], case_id


RESOLUTION = {"outcome": "approved", "reason_code": "model_reasons_confirmed", "note": "Checked."}


def test_a_retried_resolution_writes_nothing_twice(svc: Service) -> None:
    # given: a referred case, claimed and opened by A
    decision_id, case_id = _referred_and_opened(svc)

    # when
    first = send(svc, f"/cases/{case_id}/resolve", "A", RESOLUTION, "resolve-1")
    after_first = entries_about(svc, decision_id)
    retried = send(svc, f"/cases/{case_id}/resolve", "A", RESOLUTION, "resolve-1")

    # then
    assert first.status_code == 200, first.text
    assert first.json()["case"]["status"] == "resolved"
    assert retried.status_code == 200 and retried.content == first.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert entries_about(svc, decision_id) == after_first


def test_a_resolution_retried_after_a_crash_before_its_answer_was_stored_is_a_conflict(
    svc: Service,
) -> None:
    # given: a resolution done, whose key's answer was then lost as if the process had
    # died before storing it (the row is back in progress, claimed 31 s ago)
    decision_id, case_id = _referred_and_opened(svc)
    path = f"/cases/{case_id}/resolve"
    first = send(svc, path, "A", RESOLUTION, "resolve-crash-1")
    assert first.status_code == 200, first.text
    slot = KeyedRequest(
        f"person:{svc.ids['A']}",
        "POST",
        path,
        "resolve-crash-1",
        fingerprint("POST", path, b"", json.dumps(RESOLUTION).encode()),
    ).slot
    with DecisionLog(svc.settings.database_url) as log, log.engine.begin() as connection:
        changed = connection.execute(
            update(IdempotencyKeyRow)
            .where(IdempotencyKeyRow.slot == slot)
            .values(
                state="in_progress",
                status=None,
                body=None,
                created_at=stamp(datetime.now(UTC) - timedelta(seconds=31)),
            )
        ).rowcount
    assert changed == 1
    after_first = entries_about(svc, decision_id)

    # when: the client retries with the same key
    retried = send(svc, path, "A", RESOLUTION, "resolve-crash-1")

    # then: the claim is taken over, the resolution runs again and is refused; nothing written
    assert retried.status_code == 409 and "resolved" in retried.text
    assert "idempotent-replayed" not in retried.headers
    assert entries_about(svc, decision_id) == after_first
    # and the refusal is now the key's answer
    replayed = send(svc, path, "A", RESOLUTION, "resolve-crash-1")
    assert replayed.status_code == 409 and replayed.content == retried.content


def test_a_retried_appeal_writes_nothing_twice(svc: Service) -> None:
    # given: a final decision made without review
    for _ in range(200):
        made = svc.decide(a_body(svc)["features"])
        if made["outcome"] != "referred":
            break
    else:
        raise AssertionError("no final decision among 200 rows")
    decision_id = made["decision_id"]
    appeal = {"decision_id": decision_id, "statement": "My income rose last month."}

    # when
    first = send(svc, "/appeals", "app", appeal, "appeal-1")
    after_first = entries_about(svc, decision_id)
    retried = send(svc, "/appeals", "app", appeal, "appeal-1")

    # then
    assert first.status_code == 200, first.text
    assert first.json()["case"]["kind"] == "appeal"
    assert retried.status_code == 200 and retried.content == first.content
    assert retried.headers["idempotent-replayed"] == "true"
    assert entries_about(svc, decision_id) == after_first
    # a new key is a new request: the review desk refuses a second appeal
    second = send(svc, "/appeals", "app", appeal, "appeal-2")
    assert second.status_code == 409 and "was already appealed" in second.text
    assert entries_about(svc, decision_id) == after_first


def test_a_decision_whose_answer_cannot_be_stored_is_not_recorded_and_its_503_not_kept(
    svc: Service,
) -> None:
    # given: the database refuses to store this key's answer (a trigger stands in for a
    # failing write inside the decision's transaction)
    body = a_body(svc)
    before = len(decision_entries(svc))
    with DecisionLog(svc.settings.database_url) as log, log.engine.begin() as connection:
        connection.exec_driver_sql(
            "CREATE TRIGGER refuse_answer BEFORE UPDATE ON access_idempotency_keys"
            " WHEN NEW.state = 'done' AND NEW.idempotency_key = 'decide-503'"
            " BEGIN SELECT RAISE(ABORT, 'test: this answer cannot be stored'); END"
        )

    # when: the request fails, and so does its retry: a 503 is not replayed
    failed = send(svc, "/decide", "app", body, "decide-503")
    failed_again = send(svc, "/decide", "app", body, "decide-503")

    # then: no decision without its answer
    assert failed.status_code == failed_again.status_code == 503, failed.text
    assert "could not be recorded" in failed.json()["error"]
    assert "idempotent-replayed" not in failed_again.headers
    assert len(decision_entries(svc)) == before

    # when: the database works again, the retry with the same key really runs
    with DecisionLog(svc.settings.database_url) as log, log.engine.begin() as connection:
        connection.exec_driver_sql("DROP TRIGGER refuse_answer")
    done = send(svc, "/decide", "app", body, "decide-503")
    replayed = send(svc, "/decide", "app", body, "decide-503")

    # then
    assert done.status_code == 200, done.text
    assert "idempotent-replayed" not in done.headers
    assert replayed.content == done.content
    decision_id = done.json()["decision_id"]
    assert decision_entries(svc, decision_id) == [decision_id]
    assert len(decision_entries(svc)) == before + 1
