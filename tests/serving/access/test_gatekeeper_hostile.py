"""The gatekeeper against hostile clients, in process: slow bodies, guessed tokens, a lost database."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from serving.access import Gatekeeper, RouteRule, RouteTable, add_person, create_key
from serving.access.throttle import Throttle, ThrottleSettings
from serving.ledger import DecisionLog, create_log_engine

TABLE = RouteTable(
    [
        RouteRule("GET", "/cases", frozenset({"reviewer", "application"})),
        RouteRule("POST", "/decide", frozenset({"application"})),
    ]
)
#: a password that must never show up in an answer or a log line
DB_PASSWORD = "pw-Zq81xT0pSecret"


async def _hello(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    body = json.dumps({"name": scope["state"]["principal"].name}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    store = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    store.migrate()
    return store


def _get(gate: Gatekeeper, token: str, client: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gate, client=(client, 40000))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://docket.test") as http:
            return await http.get("/cases", headers={"Authorization": f"Bearer {token}"})

    return asyncio.run(go())


def test_a_guessing_address_is_refused_even_with_a_good_key_and_others_are_served(
    log: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: 3 failures lock an address out for 60 s
    monkeypatch.setenv("DOCKET_KEY_CACHE_SECONDS", "0")
    good, _ = create_key(log.engine, "application", "intake app")
    throttle = Throttle(ThrottleSettings(max_failures=3, window_seconds=60, lockout_seconds=60))
    gate = Gatekeeper(_hello, TABLE, engine=log.engine, throttle=throttle)

    # when: 10.0.0.9 guesses three times, then uses the good key
    guesses = [_get(gate, f"dk_{i:012d}_guess", "10.0.0.9").status_code for i in range(3)]
    refused = _get(gate, good, "10.0.0.9")
    other = _get(gate, good, "10.0.0.10")

    # then
    assert guesses == [401, 401, 429]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "even with a correct token" in refused.json()["error"]
    assert other.status_code == 200 and other.json() == {"name": "intake app"}


def test_a_request_without_a_token_is_not_counted_as_a_guess(log: DecisionLog) -> None:
    # given
    throttle = Throttle(ThrottleSettings(max_failures=2, window_seconds=60, lockout_seconds=60))
    gate = Gatekeeper(_hello, TABLE, engine=log.engine, throttle=throttle)

    async def bare() -> int:
        transport = httpx.ASGITransport(app=gate, client=("10.0.0.9", 1))  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://docket.test") as http:
            return (await http.get("/cases")).status_code

    # when / then
    assert [asyncio.run(bare()) for _ in range(5)] == [401] * 5
    assert throttle.retry_after("10.0.0.9") is None


async def _slow_post(gate: Gatekeeper, key: str) -> list[MutableMapping[str, Any]]:
    """Headers with Content-Length 1000, 10 bytes of body, then nothing more."""
    sent: list[MutableMapping[str, Any]] = []
    first = True

    async def receive() -> MutableMapping[str, Any]:
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b'{"use_case"', "more_body": True}
        await asyncio.sleep(3600)  # the client stalls
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/decide",
        "client": ("10.0.0.9", 1),
        "headers": [
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", b"1000"),
        ],
    }
    await asyncio.wait_for(gate(scope, receive, send), timeout=10)
    return sent


def test_a_body_that_stalls_is_answered_408_within_the_limit_and_the_connection_closed(
    log: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a 0.3 s body limit
    monkeypatch.setenv("DOCKET_BODY_TIMEOUT_SECONDS", "0.3")
    key, _ = create_key(log.engine, "application", "intake app")
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    gate = Gatekeeper(app, TABLE, engine=log.engine)

    # when
    sent = asyncio.run(_slow_post(gate, key))

    # then: 408 naming the limit; the route never ran
    start, body = sent
    assert start["status"] == 408
    assert (b"connection", b"close") in start["headers"]
    assert json.loads(body["body"])["error"] == (
        "the request body did not arrive whole within 0.3 s (DOCKET_BODY_TIMEOUT_SECONDS);"
        " send the body at once with the headers"
    )
    assert reached == []


def test_a_bad_body_time_limit_is_named(monkeypatch: pytest.MonkeyPatch, log: DecisionLog) -> None:
    monkeypatch.setenv("DOCKET_BODY_TIMEOUT_SECONDS", "soon")
    with pytest.raises(
        ValueError,
        match="DOCKET_BODY_TIMEOUT_SECONDS must be a number of seconds above 0; got 'soon'",
    ):
        Gatekeeper(_hello, TABLE, engine=log.engine)


@pytest.mark.parametrize(
    "url",
    [
        # nothing listens on port 1: the connection is refused at once
        f"postgresql+psycopg://docket:{DB_PASSWORD}@127.0.0.1:1/docket",
        # a folder that does not exist: SQLite cannot open the file
        "sqlite:////nonexistent-docket-folder/{pw}/d.db".replace("{pw}", DB_PASSWORD),
    ],
    ids=["postgres-closed-port", "sqlite-unopenable"],
)
@pytest.mark.parametrize("token", ["dk_0123456789ab_secretpart", "dp_0123456789abcdef_secretpart"])
def test_an_unreachable_database_answers_503_without_the_url_or_password(
    url: str, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    # given
    gate = Gatekeeper(_hello, TABLE, engine=create_log_engine(url))

    # when
    with caplog.at_level(logging.DEBUG):
        got = _get(gate, token, "10.0.0.9")

    # then
    assert got.status_code == 503
    assert got.json() == {
        "error": "the service's database cannot be reached, so the credentials cannot be"
        " checked; try again shortly (the service answers 503 until its database is back)"
    }
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "database unreachable while authenticating GET /cases" in logged
    for secret in (DB_PASSWORD, token, "secretpart"):
        assert secret not in got.text and secret not in logged


def test_a_person_token_and_the_database_back_again_are_answered(
    log: DecisionLog, tmp_path: Path
) -> None:
    # given: a working database, and a gate whose throttle was not touched by the 503s
    token, _ = add_person(log.engine, "Ann Lee", ["reviewer"], "ops")
    gate = Gatekeeper(_hello, TABLE, engine=log.engine)

    # then: 503s are not failures of the client, so they never lock it out
    broken = Gatekeeper(
        _hello,
        TABLE,
        engine=create_log_engine("sqlite:////nonexistent-docket/d.db"),
        throttle=gate.throttle,
    )
    assert [_get(broken, token, "10.0.0.9").status_code for _ in range(12)] == [503] * 12
    assert _get(gate, token, "10.0.0.9").json() == {"name": "Ann Lee"}


@pytest.mark.parametrize("path", ["/cases/a\nb", "/cases/\tx", "/decide\x7f"])
def test_a_path_with_control_characters_is_a_json_404_naming_it(
    log: DecisionLog, path: str
) -> None:
    gate = Gatekeeper(_hello, TABLE, engine=log.engine)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gate)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://docket.test") as http:
            return await http.get(
                path.replace("\n", "%0A").replace("\t", "%09").replace("\x7f", "%7F")
            )

    answer = asyncio.run(go())
    assert answer.status_code == 404
    assert "control characters" in answer.json()["error"]


def test_a_console_path_with_control_characters_is_an_html_404_with_the_headers(
    log: DecisionLog,
) -> None:
    gate = Gatekeeper(_hello, TABLE, engine=log.engine)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=gate)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://docket.test") as http:
            return await http.get("/console/cases/a%0Ab")

    answer = asyncio.run(go())
    assert answer.status_code == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert "control characters" in answer.text
    assert answer.headers["x-frame-options"] == "SAMEORIGIN"
