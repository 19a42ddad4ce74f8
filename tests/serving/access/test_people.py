"""People: personal tokens stored hashed, one person per name, roles checked, disabling at once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from serving.access import (
    Gatekeeper,
    PersonAdminError,
    RouteRule,
    RouteTable,
    add_person,
    authenticate_person,
    create_key,
    disable_person,
    list_people,
    name_key,
    revoke_key,
)
from serving.access.people import LEDGER_SCOPE
from serving.ledger import DecisionLog


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    store = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    store.migrate()
    return store


def test_token_is_shown_once_and_only_its_sha256_is_stored(log: DecisionLog) -> None:
    # when
    token, ann = add_person(log.engine, "Ann Lee", ["reviewer"], "ops")

    # then: dp_<person id>_<secret>, and the table holds the SHA-256 of the secret only
    prefix, person_id, secret = token.split("_", 2)
    assert (prefix, person_id) == ("dp", ann.person_id)
    with log.engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM access_people")).mappings().one()
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in str(value) for value in row.values())
    assert (row["name"], row["name_key"], row["roles"]) == ("Ann Lee", "ann lee", "reviewer")


def test_a_token_authenticates_its_person_with_all_their_roles(log: DecisionLog) -> None:
    # given
    token, ann = add_person(log.engine, "Ann Lee", ["senior_reviewer", "auditor"], "ops")

    # when
    who = authenticate_person(log.engine, token)

    # then
    assert who is not None
    assert (who.key_id, who.name, who.kind) == (f"person:{ann.person_id}", "Ann Lee", "person")
    assert who.roles == {"auditor", "senior_reviewer"} and who.person_id == ann.person_id
    assert who.has_any({"admin", "auditor"}) and not who.has_any({"admin"})
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert authenticate_person(log.engine, tampered) is None
    assert authenticate_person(log.engine, f"dp_{ann.person_id}") is None
    assert authenticate_person(log.engine, token.replace("dp_", "dk_", 1)) is None


@pytest.mark.parametrize("spelling", ["ann lee", "  Ann   Lee ", "ANN\u00a0LEE", "Ａｎｎ Ｌｅｅ"])
def test_one_name_is_one_person_under_any_spelling(log: DecisionLog, spelling: str) -> None:
    # given
    _, ann = add_person(log.engine, "Ann  Lee", ["reviewer"], "ops")

    # then
    expected = (
        f"name must be unique: 'Ann Lee' is already the name of person {ann.person_id}"
        " (names are compared without case, extra spaces or width);"
        f" got {spelling!r} instead"
    )
    with pytest.raises(PersonAdminError, match=re.escape(expected)):
        add_person(log.engine, spelling, ["auditor"], "ops")
    assert [p.name for p in list_people(log.engine)] == ["Ann Lee"]


def test_name_key_folds_case_width_and_white_space_but_not_letters() -> None:
    # hand-written pairs: same person, and different people
    assert name_key("Ann\tLee") == name_key("ann lee") == "ann lee"
    assert name_key("STRASSE") == name_key("straße")  # case folding, not lower()
    assert name_key("Ann Lee") != name_key("Anne Lee")
    assert name_key("Ann Lee") != name_key("AnnLee")


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (
            ["application"],
            "role must be one of ['reviewer', 'senior_reviewer', 'auditor', 'admin'];"
            " got 'application' instead",
        ),
        (
            ["reviewer", "boss"],
            "role must be one of ['reviewer', 'senior_reviewer', 'auditor', 'admin'];"
            " got 'boss' instead",
        ),
        (
            [],
            "a person needs at least one role among"
            " ['reviewer', 'senior_reviewer', 'auditor', 'admin']; got none instead",
        ),
    ],
)
def test_roles_are_checked(log: DecisionLog, roles: list[str], message: str) -> None:
    with pytest.raises(PersonAdminError, match=re.escape(message)):
        add_person(log.engine, "Ann Lee", roles, "ops")
    assert list_people(log.engine) == []


def test_names_are_checked(log: DecisionLog) -> None:
    with pytest.raises(PersonAdminError, match=re.escape("got '  \\u200b ' instead")):
        add_person(log.engine, "  \u200b ", ["reviewer"], "ops")
    with pytest.raises(PersonAdminError, match="name must be 1-200 characters"):
        add_person(log.engine, "x" * 201, ["reviewer"], "ops")
    with pytest.raises(PersonAdminError, match="created_by must name who adds the person"):
        add_person(log.engine, "Ann Lee", ["reviewer"], " ")
    add_person(log.engine, "Ann Lee", ["reviewer"], "ops")
    with pytest.raises(PersonAdminError, match="by must name who disables the person"):
        disable_person(log.engine, "Ann Lee", by="\t")


def test_duplicate_roles_are_kept_once_and_sorted(log: DecisionLog) -> None:
    _, ann = add_person(log.engine, "Ann Lee", ["reviewer", "admin", "reviewer"], "ops")
    assert ann.roles == ("admin", "reviewer")


def test_disable_by_any_spelling_stops_the_token(log: DecisionLog) -> None:
    # given
    token, ann = add_person(log.engine, "Ann Lee", ["reviewer"], "ops")
    other_token, _ = add_person(log.engine, "Bo Chen", ["reviewer"], "ops")

    # when
    disabled = disable_person(log.engine, "ANN  lee", by="ops")

    # then
    assert disabled.person_id == ann.person_id and disabled.disabled
    assert authenticate_person(log.engine, token) is None
    assert authenticate_person(log.engine, other_token) is not None
    assert [p.disabled for p in list_people(log.engine)] == [True, False]
    with pytest.raises(PersonAdminError, match="person 'Ann Lee' is already disabled"):
        disable_person(log.engine, "Ann Lee", by="ops")
    with pytest.raises(PersonAdminError, match="no person is named 'Nobody'"):
        disable_person(log.engine, "Nobody", by="ops")


def test_additions_and_disablings_are_ledger_entries_without_secrets(log: DecisionLog) -> None:
    # when: an addition, a refused duplicate, a disabling and a refused second disabling
    token, ann = add_person(log.engine, "Ann Lee", ["auditor", "reviewer"], "ops", log=log)
    with pytest.raises(PersonAdminError, match="name must be unique"):
        add_person(log.engine, "ANN LEE", ["admin"], "ops", log=log)
    disable_person(log.engine, "ann lee", by="root", log=log)
    with pytest.raises(PersonAdminError, match="already disabled"):
        disable_person(log.engine, "Ann Lee", by="root", log=log)

    # then: one entry per change made, none for the refusals
    entries = list(log.iter_entries())
    assert [(str(e.kind), e.use_case, e.subject_id) for e in entries] == [
        ("admin", LEDGER_SCOPE, f"person:{ann.person_id}"),
        ("admin", LEDGER_SCOPE, f"person:{ann.person_id}"),
    ]
    assert [e.digest for e in entries] == [
        {
            "action": "person_added",
            "person_id": ann.person_id,
            "name": "Ann Lee",
            "roles": ["auditor", "reviewer"],
            "by": "ops",
        },
        {
            "action": "person_disabled",
            "person_id": ann.person_id,
            "name": "Ann Lee",
            "roles": ["auditor", "reviewer"],
            "by": "root",
        },
    ]
    secret = token.split("_", 2)[2]
    stored_hash = hashlib.sha256(secret.encode()).hexdigest()
    assert all(secret not in json.dumps(e.digest) for e in entries)
    assert all(stored_hash not in json.dumps(e.digest) for e in entries)
    assert log.verify().ok


# ---- through the gatekeeper -----------------------------------------------------------------


async def _hello(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    who = scope["state"]["principal"]
    body = json.dumps({"name": who.name, "kind": who.kind}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


TABLE = RouteTable(
    [
        RouteRule("GET", "/cases", frozenset({"reviewer", "application"})),
        RouteRule("POST", "/waivers", frozenset({"senior_reviewer", "admin"})),
    ]
)


class Client:
    """Requests straight into the ASGI app (no server): one event loop per request."""

    def __init__(self, app: Gatekeeper) -> None:
        self.transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]

    def request(self, method: str, path: str, headers: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            async with httpx.AsyncClient(
                transport=self.transport, base_url="http://docket.test"
            ) as client:
                return await client.request(method, path, headers=headers)

        return asyncio.run(send())

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return self.request("GET", path, headers)

    def post(self, path: str, headers: dict[str, str]) -> httpx.Response:
        return self.request("POST", path, headers)


@pytest.fixture
def client(log: DecisionLog, monkeypatch: pytest.MonkeyPatch) -> Client:
    # keys are cached for a minute: what the person test shows is not a short cache
    monkeypatch.setenv("DOCKET_KEY_CACHE_SECONDS", "60")
    return Client(Gatekeeper(_hello, TABLE, engine=log.engine))


def _get(client: Client, token: str) -> httpx.Response:
    return client.get("/cases", headers={"Authorization": f"Bearer {token}"})


def test_a_disabled_person_is_refused_on_the_very_next_request(
    client: Client, log: DecisionLog
) -> None:
    # given: a person and an application key, both answered once
    token, _ = add_person(log.engine, "Ann Lee", ["reviewer"], "ops")
    key, app_key = create_key(log.engine, "application", "intake app")
    assert _get(client, token).json() == {"name": "Ann Lee", "kind": "person"}
    assert _get(client, key).json() == {"name": "intake app", "kind": "key"}

    # when: both are withdrawn
    disable_person(log.engine, "Ann Lee", by="ops")
    assert revoke_key(log.engine, app_key.key_id)

    # then: the person is refused at once; the key is still in the (60 s) key cache
    refused = _get(client, token)
    assert refused.status_code == 401
    assert "unknown or revoked, or its person is disabled" in refused.json()["error"]
    assert _get(client, key).status_code == 200
    by_header = client.get("/cases", headers={"X-API-Key": token})
    assert by_header.status_code == 401


def test_a_person_with_several_roles_passes_on_any_and_is_told_all_of_them(
    client: Client, log: DecisionLog
) -> None:
    # given
    token, _ = add_person(log.engine, "Ann Lee", ["reviewer", "auditor"], "ops")
    senior, _ = add_person(log.engine, "Bo Chen", ["auditor", "senior_reviewer"], "ops")

    # then: reviewer opens /cases; neither of Ann's roles may POST /waivers
    assert _get(client, token).status_code == 200
    denied = client.post("/waivers", headers={"Authorization": f"Bearer {token}"})
    assert denied.status_code == 403
    assert denied.json()["error"] == (
        "roles ['auditor', 'reviewer'] may not POST /waivers; allowed roles: ['admin', 'senior_reviewer']"
    )
    allowed = client.post("/waivers", headers={"Authorization": f"Bearer {senior}"})
    assert allowed.status_code == 200
