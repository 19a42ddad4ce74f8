"""Idempotency keys: the store (SQLite and PostgreSQL) and the ASGI layer around a small app."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from serving.access import Principal
from serving.access.idempotency import (
    Answer,
    BadIdempotencyKey,
    Busy,
    Claim,
    ClaimLost,
    IdempotencyLayer,
    IdempotencyStore,
    KeyedRequest,
    Mismatch,
    Replay,
    check_key,
    fingerprint,
    idempotency_hours,
)
from serving.access.schema import IdempotencyKeyRow
from serving.ledger import DecisionLog

START = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
OK = Answer(200, b'{"decision_id": "d1"}', "application/json")


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def log(db_url: str) -> Iterator[DecisionLog]:
    with DecisionLog(db_url) as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(log: DecisionLog, clock: Clock) -> IdempotencyStore:
    return IdempotencyStore(log.engine, hours=24, clock=clock)


def keyed(body: bytes = b'{"a": 1}', caller: str = "k1", key: str = "key-1") -> KeyedRequest:
    return KeyedRequest(caller, "POST", "/decide", key, fingerprint("POST", "/decide", b"", body))


def rows(log: DecisionLog) -> int:
    with Session(log.engine) as session:
        return int(session.scalar(select(func.count()).select_from(IdempotencyKeyRow)) or 0)


# -- the header and the fingerprint ---------------------------------------------------------


@pytest.mark.parametrize("value", [b"a", b"x" * 255, b"0f3c-AZ_~!", b"order:42/retry"])
def test_a_key_of_1_to_255_visible_ascii_characters_is_accepted(value: bytes) -> None:
    assert check_key([value]) == value.decode()


@pytest.mark.parametrize(
    ("values", "said"),
    [
        ([b""], "(0 characters)"),
        ([b"x" * 256], "(256 characters)"),
        ([b"has space"], "'has space' (9 characters)"),
        ([b"tab\there"], "(8 characters)"),
        (["caf\u00e9".encode()], "(5 characters)"),
        ([b"a", b"b"], "send one 'Idempotency-Key' header; got 2"),
    ],
)
def test_a_bad_key_is_refused_naming_the_header_the_rule_and_the_value(
    values: list[bytes], said: str
) -> None:
    with pytest.raises(BadIdempotencyKey) as caught:
        check_key(values)
    message = str(caught.value)
    assert "'Idempotency-Key'" in message and said in message
    if len(values) == 1:
        assert "1 to 255 visible ASCII characters" in message


def test_a_long_bad_key_is_echoed_truncated() -> None:
    with pytest.raises(BadIdempotencyKey) as caught:
        check_key([b" " + b"y" * 1000])
    assert "y" * 39 + "'…" in str(caught.value) and "y" * 41 not in str(caught.value)


def test_the_fingerprint_covers_method_path_query_and_exact_bytes() -> None:
    base = fingerprint("POST", "/decide", b"", b'{"a": 1}')
    assert base == fingerprint("POST", "/decide", b"", b'{"a": 1}')
    others = {
        fingerprint("POST", "/appeals", b"", b'{"a": 1}'),
        fingerprint("POST", "/decide", b"x=1", b'{"a": 1}'),
        fingerprint("POST", "/decide", b"", b'{"a":1}'),  # same JSON, other bytes
        fingerprint("PUT", "/decide", b"", b'{"a": 1}'),
        # framing: moving bytes between parts is another request
        fingerprint("POST", "/decid", b"", b'e{"a": 1}'),
    }
    assert base not in others and len(others) == 5


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "inf"])
def test_a_bad_lifetime_is_refused_saying_what_is_allowed(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKET_IDEMPOTENCY_HOURS", raw)
    with pytest.raises(ValueError, match=f"above 0; got '{raw}'"):
        idempotency_hours()


def test_the_lifetime_defaults_to_24_hours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_IDEMPOTENCY_HOURS", raising=False)
    assert idempotency_hours() == 24
    monkeypatch.setenv("DOCKET_IDEMPOTENCY_HOURS", "0.5")
    assert idempotency_hours() == 0.5


# -- the store --------------------------------------------------------------------------------


def test_a_claimed_and_answered_key_replays_the_answer(
    store: IdempotencyStore, log: DecisionLog
) -> None:
    # given
    claim = store.begin(keyed())
    assert isinstance(claim, Claim)

    # when
    assert store.finish(claim, OK)

    # then: the same request, twice more, gets the answer; one row
    assert store.begin(keyed()) == Replay(OK)
    assert store.begin(keyed()) == Replay(OK)
    assert rows(log) == 1


def test_the_same_key_with_another_body_is_a_mismatch_answered_or_not(
    store: IdempotencyStore,
) -> None:
    claim = store.begin(keyed(b'{"a": 1}'))
    assert isinstance(claim, Claim)
    assert store.begin(keyed(b'{"a": 2}')) == Mismatch()
    store.finish(claim, OK)
    assert store.begin(keyed(b'{"a": 2}')) == Mismatch()


def test_keys_belong_to_their_caller_and_route(store: IdempotencyStore) -> None:
    first = store.begin(keyed(caller="k1"))
    second = store.begin(keyed(caller="person:p1"))
    elsewhere = store.begin(
        KeyedRequest(
            "k1", "POST", "/appeals", "key-1", fingerprint("POST", "/appeals", b"", b'{"a": 1}')
        )
    )
    assert isinstance(first, Claim) and isinstance(second, Claim)
    assert isinstance(elsewhere, Claim)
    assert len({first.slot, second.slot, elsewhere.slot}) == 3


def test_a_claimed_key_without_an_answer_is_busy_until_released(
    store: IdempotencyStore, log: DecisionLog
) -> None:
    claim = store.begin(keyed())
    assert isinstance(claim, Claim)
    assert store.begin(keyed()) == Busy()

    store.release(claim)

    assert rows(log) == 0
    again = store.begin(keyed())
    assert isinstance(again, Claim) and again.token != claim.token


def test_release_never_removes_a_stored_answer(store: IdempotencyStore) -> None:
    claim = store.begin(keyed())
    assert isinstance(claim, Claim)
    store.finish(claim, OK)
    store.release(claim)
    assert store.begin(keyed()) == Replay(OK)


def test_keys_expire_after_their_lifetime_and_are_purged(
    store: IdempotencyStore, log: DecisionLog, clock: Clock
) -> None:
    # given: two answered keys
    for key in ("old-1", "old-2"):
        claim = store.begin(keyed(key=key))
        assert isinstance(claim, Claim)
        store.finish(claim, OK)

    # when: just under 24 hours, still kept; just over, gone
    clock.now = START + timedelta(hours=24) - timedelta(seconds=1)
    assert store.begin(keyed(key="old-1")) == Replay(OK)
    clock.now = START + timedelta(hours=24, seconds=1)

    # then: the key is free again, even for another body
    reused = store.begin(keyed(b'{"other": true}', key="old-1"))
    assert isinstance(reused, Claim)
    assert store.purge() == 1  # old-2; old-1 was claimed again just now
    assert rows(log) == 1


def test_an_abandoned_claim_is_taken_over_and_its_holder_can_no_longer_answer(
    store: IdempotencyStore, clock: Clock
) -> None:
    # given: a claim with no answer
    first = store.begin(keyed())
    assert isinstance(first, Claim)

    # when: 29 s later it is still busy; 31 s later a retry takes it over
    clock.now = START + timedelta(seconds=29)
    assert store.begin(keyed()) == Busy()
    clock.now = START + timedelta(seconds=31)
    second = store.begin(keyed())

    # then
    assert isinstance(second, Claim) and second.taken_over
    assert not store.finish(first, Answer(200, b"late", "text/plain"))
    assert store.begin(keyed()) == Busy()
    assert store.finish(second, OK)
    assert store.begin(keyed()) == Replay(OK)


def test_the_answer_is_written_with_the_ledger_entry_or_neither_is(
    store: IdempotencyStore, log: DecisionLog, clock: Clock
) -> None:
    # given: a claim taken over while its first holder was still running
    first = store.begin(keyed())
    assert isinstance(first, Claim)
    clock.now = START + timedelta(seconds=31)
    second = store.begin(keyed())
    assert isinstance(second, Claim)
    head = log.head().seq

    # when: the first holder tries to record its decision with its answer
    with pytest.raises(ClaimLost):
        log.append(
            "decision",
            "credit-eligibility",
            {"outcome": "approved"},
            also=lambda session, _entry: store.record(session, first, OK),
        )

    # then: nothing was written; the holder of the claim records both
    assert log.head().seq == head
    entry = log.append(
        "decision",
        "credit-eligibility",
        {"outcome": "approved"},
        also=lambda session, _entry: store.record(session, second, OK),
    )
    assert entry.seq == head + 1
    assert store.begin(keyed()) == Replay(OK)


def test_concurrent_claims_of_one_key_have_exactly_one_winner(log: DecisionLog) -> None:
    # given: eight threads, each with its own store (as separate workers would be)
    threads = 8
    stores = [IdempotencyStore(log.engine, hours=24) for _ in range(threads)]
    barrier = threading.Barrier(threads, timeout=30)
    outcomes: list[object] = [None] * threads

    def one(i: int) -> None:
        barrier.wait()
        outcomes[i] = stores[i].begin(keyed())

    # when
    workers = [threading.Thread(target=one, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)

    # then
    assert all(not worker.is_alive() for worker in workers)
    winners = [o for o in outcomes if isinstance(o, Claim)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, Busy) for o in outcomes if o is not winners[0])
    assert rows(log) == 1


# -- the ASGI layer ---------------------------------------------------------------------------


class Counting:
    """A small app: POST /act answers with the status it is told to, counting its runs."""

    def __init__(self) -> None:
        self.runs = 0
        self.statuses: list[int] = []
        self.bodies: list[bytes] = []

    async def act(self, request: Request) -> Response:
        self.runs += 1
        self.bodies.append(await request.body())
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 0:
            raise RuntimeError("the route failed")
        return JSONResponse({"run": self.runs}, status_code=status)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/act", self.act, methods=["POST", "GET"]),
                Route("/console/act", self.act, methods=["POST"]),
            ]
        )


class AsPrincipal:
    """What the gatekeeper does for the layer: the principal in ``scope["state"]``."""

    def __init__(self, app: Any, who: dict[str, Principal]) -> None:
        self.app, self.who = app, who

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            name = dict(scope["headers"]).get(b"x-who", b"").decode()
            if name in self.who:
                scope.setdefault("state", {})["principal"] = self.who[name]
        await self.app(scope, receive, send)


PEOPLE = {
    "app": Principal("k1", "app", frozenset({"application"}), "key"),
    "other": Principal("k2", "other app", frozenset({"application"}), "key"),
}


@pytest.fixture
def sqlite_log(tmp_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog(f"sqlite:///{tmp_path / 'layer.db'}") as opened:
        opened.migrate()
        yield opened


@pytest.fixture
def counted() -> Counting:
    return Counting()


@pytest.fixture
def layer_store(sqlite_log: DecisionLog) -> IdempotencyStore:
    return IdempotencyStore(sqlite_log.engine, hours=24)


@pytest.fixture
def client(counted: Counting, layer_store: IdempotencyStore) -> Iterator[TestClient]:
    layer = IdempotencyLayer(counted.app(), store=layer_store, wait_seconds=0.3)
    with TestClient(AsPrincipal(layer, PEOPLE), raise_server_exceptions=False) as test_client:
        yield test_client


def post(
    client: TestClient,
    key: str | None,
    body: str = '{"x": 1}',
    who: str = "app",
    path: str = "/act",
) -> Any:
    headers = {"x-who": who, "content-type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(path, content=body.encode(), headers=headers)


def test_layer_replays_a_2xx_with_the_replayed_header(
    client: TestClient, counted: Counting
) -> None:
    first = post(client, "k-1")
    second = post(client, "k-1")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content == b'{"run":1}'
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert second.headers["content-type"] == first.headers["content-type"]
    assert counted.runs == 1 and counted.bodies == [b'{"x": 1}']


def test_layer_stores_a_4xx_but_not_a_5xx(client: TestClient, counted: Counting) -> None:
    # a 503 is released: the retry runs, and its 409 is kept
    counted.statuses = [503, 409]
    assert post(client, "k-5").status_code == 503
    retried = post(client, "k-5")
    assert retried.status_code == 409 and retried.json() == {"run": 2}
    replayed = post(client, "k-5")
    assert replayed.status_code == 409 and replayed.json() == {"run": 2}
    assert replayed.headers["idempotent-replayed"] == "true"
    assert counted.runs == 2


def test_layer_releases_the_key_when_the_route_raises(
    client: TestClient, counted: Counting
) -> None:
    counted.statuses = [0]
    assert post(client, "k-e").status_code == 500
    assert post(client, "k-e").json() == {"run": 2}
    assert counted.runs == 2


def test_layer_refuses_another_body_with_the_same_key(
    client: TestClient, counted: Counting
) -> None:
    assert post(client, "k-m", '{"x": 1}').status_code == 200
    refused = post(client, "k-m", '{"x": 2}')
    assert refused.status_code == 409
    assert "'Idempotency-Key' 'k-m' was already used" in refused.json()["error"]
    assert counted.runs == 1


def test_layer_refuses_a_bad_key_before_the_route(client: TestClient, counted: Counting) -> None:
    refused = post(client, "with space")
    assert refused.status_code == 400
    assert "'Idempotency-Key'" in refused.json()["error"]
    assert counted.runs == 0


def test_layer_keeps_callers_apart(client: TestClient, counted: Counting) -> None:
    assert post(client, "shared", who="app").json() == {"run": 1}
    assert post(client, "shared", who="other").json() == {"run": 2}
    assert post(client, "shared", who="app").json() == {"run": 1}
    assert counted.runs == 2


def test_layer_ignores_the_key_without_a_principal_on_the_console_and_on_get(
    client: TestClient, counted: Counting
) -> None:
    post(client, "k-n", who="nobody")
    post(client, "k-n", who="nobody")
    post(client, "k-c", path="/console/act")
    post(client, "k-c", path="/console/act")
    client.get("/act", headers={"x-who": "app", "Idempotency-Key": "k-g"})
    client.get("/act", headers={"x-who": "app", "Idempotency-Key": "k-g"})
    assert counted.runs == 6


def test_layer_answers_busy_after_waiting_for_a_claim_that_never_answers(
    client: TestClient, counted: Counting, layer_store: IdempotencyStore
) -> None:
    # given: another request holds the key (claimed through the store directly)
    held = layer_store.begin(
        KeyedRequest("k1", "POST", "/act", "k-b", fingerprint("POST", "/act", b"", b'{"x": 1}'))
    )
    assert isinstance(held, Claim)

    # when
    refused = post(client, "k-b")

    # then
    assert refused.status_code == 409
    assert refused.json() == {
        "error": "a request with this Idempotency-Key is still in progress; retry later"
    }
    assert counted.runs == 0


def test_layer_waits_for_the_holder_and_returns_its_answer(
    counted: Counting, layer_store: IdempotencyStore
) -> None:
    # given: another request holds the key and answers 0.5 s later
    held = layer_store.begin(
        KeyedRequest("k1", "POST", "/act", "k-w", fingerprint("POST", "/act", b"", b'{"x": 1}'))
    )
    assert isinstance(held, Claim)
    answer = Answer(201, json.dumps({"from": "holder"}).encode(), "application/json")
    timer = threading.Timer(0.5, layer_store.finish, args=(held, answer))
    layer = IdempotencyLayer(counted.app(), store=layer_store, wait_seconds=10)

    # when
    timer.start()
    with TestClient(AsPrincipal(layer, PEOPLE)) as patient:
        got = post(patient, "k-w")
    timer.join()

    # then
    assert got.status_code == 201 and got.json() == {"from": "holder"}
    assert got.headers["idempotent-replayed"] == "true"
    assert counted.runs == 0


def test_layer_releases_the_key_of_a_request_cancelled_while_it_runs(
    counted: Counting, layer_store: IdempotencyStore, sqlite_log: DecisionLog
) -> None:
    # given: a route that never answers, as one cut off by the service's timeout
    started = asyncio.Event()

    async def stuck(scope: Any, receive: Any, send: Any) -> None:
        started.set()
        await asyncio.sleep(3600)

    layer = IdempotencyLayer(stuck, store=layer_store)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/act",
        "query_string": b"",
        "headers": [(b"idempotency-key", b"k-t")],
        "state": {"principal": PEOPLE["app"]},
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        raise AssertionError(f"nothing is sent: {message}")

    async def cut_off() -> None:
        task = asyncio.ensure_future(layer(scope, receive, send))
        await asyncio.wait_for(started.wait(), timeout=10)
        assert rows(sqlite_log) == 1  # claimed while running
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    # when
    asyncio.run(cut_off())

    # then
    assert rows(sqlite_log) == 0
