"""The client's retry policy and error mapping, against ``httpx.MockTransport`` (no server).

What is retried (GETs and keyed POSTs, on connection errors, 429, 502, 503, 504), what
never is (any other 4xx, a 500, a POST without a key), how long it waits (exponential
backoff with jitter, never less than ``Retry-After``), and that every attempt of one
logical call sends the same ``Idempotency-Key`` and the same body bytes.
"""

from __future__ import annotations

import asyncio
import json
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from docket.client import (
    AsyncDocketClient,
    Call,
    Conflict,
    DocketClient,
    DocketError,
    Forbidden,
    InvalidRequest,
    NotFound,
    RateLimited,
    RetryPolicy,
    Unauthorized,
    Unavailable,
    Unreachable,
)

TOKEN = "dk_test_secret"
URL = "http://docket.test"


class Top(random.Random):
    """A draw that is always the top of its range: the backoff's upper bound shows."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Script:
    """A mock server answering from a list, recording every request it got."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    @property
    def keys(self) -> list[str | None]:
        return [r.headers.get("idempotency-key") for r in self.requests]


def refused(status: int, body: Any = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body or {"error": f"status {status}"}, headers=headers)


def client(script: Script, sleeps: list[float], **policy: Any) -> DocketClient:
    return DocketClient(
        URL,
        TOKEN,
        transport=httpx.MockTransport(script),
        retry=RetryPolicy(rng=Top(), **policy),
        sleep=sleeps.append,
    )


FEATURES = {"income": 1500.0, "debt": 200.0}


def test_a_get_is_retried_on_503_and_502_with_exponential_backoff() -> None:
    # given: two refusals, then the answer
    script = Script(refused(503), refused(502), httpx.Response(200, json=[]))
    sleeps: list[float] = []

    # when
    with client(script, sleeps) as docket:
        stats = docket.review_stats()

    # then: three attempts, waits of backoff * 2**n (the jitter at its top): 0.5, 1.0
    assert stats == []
    assert len(script.requests) == 3
    assert sleeps == [0.5, 1.0]
    assert {r.headers["authorization"] for r in script.requests} == {f"Bearer {TOKEN}"}
    assert script.keys == [None, None, None]  # a GET needs no key


def test_the_backoff_is_capped_and_the_attempts_are_bounded() -> None:
    script = Script(*[refused(504) for _ in range(5)])
    sleeps: list[float] = []

    policy: dict[str, Any] = {"attempts": 5, "backoff": 1.0, "max_backoff": 3.0}
    with client(script, sleeps, **policy) as docket, pytest.raises(Unavailable) as raised:
        docket.cases()

    # 1, 2, 4 -> 3 (capped), 8 -> 3; five attempts, then the last refusal is raised
    assert sleeps == [1.0, 2.0, 3.0, 3.0]
    assert len(script.requests) == 5
    assert raised.value.status_code == 504


def test_the_jitter_is_drawn_between_zero_and_the_backoff() -> None:
    # a real generator: each wait lies in [0, backoff * 2**n]
    script = Script(*[refused(503) for _ in range(4)])
    sleeps: list[float] = []
    docket = DocketClient(
        URL,
        TOKEN,
        transport=httpx.MockTransport(script),
        retry=RetryPolicy(attempts=4, backoff=0.5, rng=random.Random(7)),
        sleep=sleeps.append,
    )
    with pytest.raises(Unavailable):
        docket.cases()
    expected = random.Random(7)
    assert sleeps == [expected.uniform(0, 0.5), expected.uniform(0, 1.0), expected.uniform(0, 2.0)]


def test_audit_attributes_are_sent_only_when_given() -> None:
    # given: two refusals that end the call at once (nothing to retry)
    script = Script(
        refused(400, {"error": "invalid features", "detail": []}),
        refused(400, {"error": "invalid features", "detail": []}),
    )
    with client(script, [], attempts=1) as docket:
        # when: one decide with audit attributes, one without
        with pytest.raises(InvalidRequest):
            docket.decide("credit", FEATURES, audit_attributes={"Age": 61})
        with pytest.raises(InvalidRequest):
            docket.decide("credit", FEATURES)
    # then
    with_them, without = (json.loads(r.content) for r in script.requests)
    assert with_them["audit_attributes"] == {"Age": 61}
    assert "audit_attributes" not in without


def test_a_decide_is_retried_with_one_key_and_the_same_bytes_on_every_attempt() -> None:
    # given: refusals worth retrying, then a refusal that is not
    script = Script(
        refused(503),
        httpx.ConnectError("connection refused"),
        refused(429, **{"Retry-After": "7"}),
        refused(400, {"error": "invalid features", "detail": []}),
    )
    sleeps: list[float] = []

    # when
    with client(script, sleeps, attempts=6) as docket, pytest.raises(InvalidRequest):
        docket.decide("credit", FEATURES, application_ref="A-1")

    # then: four attempts, one key, one body; Retry-After honoured (7 s, above the backoff)
    assert len(script.requests) == 4
    assert len(set(script.keys)) == 1 and script.keys[0] is not None
    assert len({r.content for r in script.requests}) == 1
    assert json.loads(script.requests[0].content) == {
        "use_case": "credit",
        "features": FEATURES,
        "application_ref": "A-1",
        "automated_decision_consent": True,
        "training_data_consent": False,
    }
    assert {r.method for r in script.requests} == {"POST"}
    assert sleeps == [0.5, 1.0, 7.0]


def test_each_logical_call_gets_its_own_key_and_a_given_key_is_used() -> None:
    script = Script(*[refused(409) for _ in range(3)])
    sleeps: list[float] = []
    with client(script, sleeps) as docket:
        for _ in range(2):
            with pytest.raises(Conflict):
                docket.claim("case-1")
        with pytest.raises(Conflict):
            docket.claim("case-1", idempotency_key="mine-1")
    assert script.keys[0] != script.keys[1]
    assert script.keys[2] == "mine-1"
    assert sleeps == []


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, InvalidRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, InvalidRequest),
        (415, InvalidRequest),
        (422, InvalidRequest),
        (500, DocketError),
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_other_statuses_are_never_retried(
    status: int, kind: type[DocketError], method: str
) -> None:
    script = Script(refused(status, {"error": f"no: {status}"}), httpx.Response(200, json=[]))
    sleeps: list[float] = []
    with client(script, sleeps) as docket, pytest.raises(kind) as raised:
        if method == "GET":
            docket.cases()
        else:
            docket.claim("case-1")
    assert type(raised.value) is kind
    assert len(script.requests) == 1 and sleeps == []
    assert raised.value.status_code == status
    assert raised.value.message == f"no: {status}"
    assert raised.value.body == {"error": f"no: {status}"}


def test_a_post_without_a_key_is_never_retried() -> None:
    script = Script(refused(503), httpx.ConnectError("refused"))
    sleeps: list[float] = []
    unkeyed = Call("POST", "/admin/reload", lambda r: r.json(), body=b"{}")
    with client(script, sleeps) as docket:
        with pytest.raises(Unavailable):
            docket.send(unkeyed)
        with pytest.raises(Unreachable):
            docket.send(unkeyed)
    assert len(script.requests) == 2 and sleeps == []


def test_connection_errors_on_every_attempt_raise_unreachable() -> None:
    script = Script(*[httpx.ReadTimeout("slow") for _ in range(3)])
    sleeps: list[float] = []
    with client(script, sleeps, attempts=3) as docket, pytest.raises(Unreachable) as raised:
        docket.get_decision("d-1")
    assert len(script.requests) == 3 and sleeps == [0.5, 1.0]
    assert raised.value.status_code is None
    assert isinstance(raised.value.__cause__, httpx.ReadTimeout)
    assert isinstance(raised.value, Unavailable)


def test_a_retry_after_beyond_the_limit_is_raised_at_once() -> None:
    script = Script(refused(429, **{"Retry-After": "60"}))
    sleeps: list[float] = []
    with client(script, sleeps, max_retry_after=30) as docket, pytest.raises(RateLimited) as raised:
        docket.cases()
    assert len(script.requests) == 1 and sleeps == []
    assert raised.value.retry_after == 60.0


def test_a_retry_after_date_is_honoured() -> None:
    when = datetime.now(UTC) + timedelta(seconds=20)
    script = Script(refused(503, **{"Retry-After": format_datetime(when, usegmt=True)}))
    script.answers.append(httpx.Response(200, json=[]))
    sleeps: list[float] = []
    with client(script, sleeps) as docket:
        docket.cases()
    # an HTTP date has whole seconds: between 18 and 20 s from now
    assert len(sleeps) == 1 and 18.0 <= sleeps[0] <= 20.0


def test_field_problems_are_carried_by_the_error() -> None:
    body = {
        "error": "invalid features for use case 'credit'",
        "detail": [
            {"loc": ["features", "income"], "msg": "must be a finite number", "input": "lots"},
            {"loc": ["features", "debt"], "msg": "required feature is missing"},
        ],
    }
    script = Script(refused(400, body))
    with client(script, []) as docket, pytest.raises(InvalidRequest) as raised:
        docket.decide("credit", FEATURES)
    error = raised.value
    assert error.fields == ["features.income", "features.debt"]
    assert error.problems[0].input == "lots"
    assert error.message == "invalid features for use case 'credit'"
    assert "400" in str(error) and "/decide" in str(error)


def test_a_bad_token_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match=r"'dk_\.\.\.'") as raised:
        DocketClient(URL, "sk-live-very-secret")
    assert "very-secret" not in str(raised.value)
    with pytest.raises(ValueError, match="http"):
        DocketClient("docket.test", TOKEN)


def test_an_id_cannot_reach_another_route() -> None:
    script = Script()
    with client(script, []) as docket, pytest.raises(ValueError, match="without '/'"):
        docket.get_decision("../admin/status")
    assert script.requests == []


def test_the_async_client_retries_with_one_key() -> None:
    script = Script(refused(502), refused(503, **{"Retry-After": "3"}), refused(404))
    sleeps: list[float] = []

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async def run() -> None:
        async with AsyncDocketClient(
            URL,
            TOKEN,
            transport=httpx.MockTransport(script),
            retry=RetryPolicy(rng=Top()),
            sleep=record,
        ) as docket:
            with pytest.raises(NotFound):
                await docket.appeal("d-1", "My income rose last month.")

    asyncio.run(run())
    assert len(script.requests) == 3 and sleeps == [0.5, 3.0]
    assert len(set(script.keys)) == 1 and script.keys[0] is not None
