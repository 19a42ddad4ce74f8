"""The console's admin pages: stop switches, people and API keys, in process."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from serving.access.keys import authenticate, list_keys
from serving.access.people import list_people

from .conftest import Console, csrf_of, sign_in

SWITCHES = "/console/admin/switches"
PEOPLE = "/console/admin/people"
SHOWN = re.compile(r'<p class="token">([^<]+)</p>')


def _csrf(client: TestClient, path: str) -> str:
    found = client.get(path)
    assert found.status_code == 200, found.text
    return csrf_of(found.text)


def _switch_entries(console: Console, use_case: str) -> list[dict[str, object]]:
    return [e.digest for e in console.engine.log.entries_for(f"switch:{use_case}")]


def test_an_admin_stops_then_resumes_a_use_case(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    csrf = _csrf(admin, SWITCHES)

    # when: stop
    stopped = admin.post(
        f"{SWITCHES}/credit-eligibility/stop",
        data={"csrf_token": csrf, "reason": "drift alarm on income"},
    )
    page = admin.get(stopped.headers["location"])

    # then
    assert stopped.status_code == 303
    assert console.engine.status()["stopped"] == {"credit-eligibility": True}
    assert "The stop switch of credit-eligibility is on" in page.text
    assert "drift alarm on income" in page.text
    assert ">Resume</button>" in page.text

    # when: resume
    resumed = admin.post(
        f"{SWITCHES}/credit-eligibility/resume",
        data={"csrf_token": csrf, "reason": "income feature fixed"},
    )

    # then: the switch is off, and the ledger holds both changes, attributed to Ada
    assert resumed.status_code == 303
    assert console.engine.status()["stopped"] == {"credit-eligibility": False}
    entries = _switch_entries(console, "credit-eligibility")
    assert [(e["action"], e["by"], e["reason"]) for e in entries] == [
        ("stop", "Ada Admin", "drift alarm on income"),
        ("resume", "Ada Admin", "income feature fixed"),
    ]


@pytest.mark.parametrize("reason", ["four", "x" * 2001])
def test_a_reason_outside_5_to_2000_characters_is_refused(console: Console, reason: str) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    csrf = _csrf(admin, SWITCHES)

    # when
    refused = admin.post(
        f"{SWITCHES}/credit-eligibility/stop", data={"csrf_token": csrf, "reason": reason}
    )

    # then
    assert refused.status_code == 400
    assert "reason" in refused.text
    assert console.engine.status()["stopped"] == {}
    assert _switch_entries(console, "credit-eligibility") == []


def test_stopping_an_unknown_use_case_changes_nothing(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    csrf = _csrf(admin, SWITCHES)

    # when
    refused = admin.post(
        f"{SWITCHES}/no-such-use-case/stop", data={"csrf_token": csrf, "reason": "typo test"}
    )

    # then
    assert refused.status_code == 404
    assert console.engine.status()["stopped"] == {}


def test_a_new_persons_token_is_shown_once_and_signs_them_in(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    csrf = _csrf(admin, PEOPLE)

    # when
    added = admin.post(
        PEOPLE, data={"csrf_token": csrf, "name": "Bea Reviewer", "roles": ["reviewer", "auditor"]}
    )
    found = SHOWN.search(added.text)

    # then: the token is on the answer to the POST itself, with the warning
    assert added.status_code == 200
    assert found is not None
    token = found.group(1)
    assert token.startswith("dp_")
    assert "will not be shown again" in added.text

    # when: Bea signs in with it, and the admin reloads the page
    bea = console.client()
    sign_in(bea, token)
    reloaded = admin.get(PEOPLE)

    # then
    assert bea.get("/console/queue").status_code == 200
    assert reloaded.status_code == 200 and "Bea Reviewer" in reloaded.text
    assert token not in reloaded.text and SHOWN.search(reloaded.text) is None
    bea_person = next(p for p in list_people(console.engine.log.engine) if p.name == "Bea Reviewer")
    assert bea_person.roles == ("auditor", "reviewer") and bea_person.created_by == "Ada Admin"
    digests = [e.digest for e in console.engine.log.entries_for(f"person:{bea_person.person_id}")]
    assert [(d["action"], d["by"]) for d in digests] == [("person_added", "Ada Admin")]


def test_disabling_a_person_signs_them_out_at_their_next_request(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    bea = console.signed_in("Bea Reviewer", "reviewer")
    assert bea.get("/console/queue").status_code == 200
    bea_id = next(
        p.person_id for p in list_people(console.engine.log.engine) if p.name == "Bea Reviewer"
    )

    # when
    done = admin.post(f"{PEOPLE}/{bea_id}/disable", data={"csrf_token": _csrf(admin, PEOPLE)})
    after = bea.get("/console/queue")

    # then
    assert done.status_code == 303 and done.headers["location"].startswith(PEOPLE)
    assert after.status_code == 303 and after.headers["location"].startswith("/console/login")
    digests = [e.digest for e in console.engine.log.entries_for(f"person:{bea_id}")]
    assert [(d["action"], d["by"]) for d in digests] == [
        ("person_added", "test"),
        ("person_disabled", "Ada Admin"),
    ]


@pytest.mark.parametrize(
    ("name", "roles", "field"),
    [
        ("ada   ADMIN", ["reviewer"], "name"),  # the admin's own name, in another spelling
        ("Cy Nobody", [], "role"),
        ("Cy Nobody", ["application"], "role"),
    ],
)
def test_a_refused_person_comes_back_as_400_naming_the_field(
    console: Console, name: str, roles: list[str], field: str
) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    csrf = _csrf(admin, PEOPLE)

    # when
    refused = admin.post(PEOPLE, data={"csrf_token": csrf, "name": name, "roles": roles})

    # then: the message names the field, the form is kept, nobody was added
    assert refused.status_code == 400
    problem = re.search(r'class="problem" role="alert">([^<]+)<', refused.text)
    assert problem is not None
    assert re.search(rf"\b{field}\b", problem.group(1)) and "got" in problem.group(1)
    assert 'action="/console/admin/people"' in refused.text
    assert SHOWN.search(refused.text) is None
    assert [p.name for p in list_people(console.engine.log.engine)] == ["Ada Admin"]


def test_an_admin_creates_and_revokes_a_key(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    csrf = _csrf(admin, PEOPLE)

    # when
    made = admin.post(
        "/console/admin/keys",
        data={"csrf_token": csrf, "name": "scoring app", "role": "application"},
    )
    found = SHOWN.search(made.text)

    # then
    assert made.status_code == 200 and found is not None
    key = found.group(1)
    who = authenticate(console.engine.log.engine, key)
    assert who is not None and who.name == "scoring app" and who.roles == {"application"}

    # when
    revoked = admin.post(f"/console/admin/keys/{who.key_id}/revoke", data={"csrf_token": csrf})
    page = admin.get(revoked.headers["location"])

    # then
    assert revoked.status_code == 303
    assert authenticate(console.engine.log.engine, key) is None
    assert "Revoked" in page.text and key not in page.text


def test_an_unknown_key_role_is_refused_naming_the_field(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")

    # when
    refused = admin.post(
        "/console/admin/keys",
        data={"csrf_token": _csrf(admin, PEOPLE), "name": "x", "role": "senior_reviewer"},
    )

    # then
    assert refused.status_code == 400
    assert "role must be one of" in refused.text and "senior_reviewer" in refused.text
    assert SHOWN.search(refused.text) is None


@pytest.mark.parametrize("path", [SWITCHES, PEOPLE])
def test_a_reviewer_may_not_open_the_admin_pages(console: Console, path: str) -> None:
    # given
    reviewer = console.signed_in("Rita Reviewer", "reviewer")
    csrf = _csrf(reviewer, "/console/queue")

    # when
    opened = reviewer.get(path)
    posted = reviewer.post(
        f"{SWITCHES}/credit-eligibility/stop", data={"csrf_token": csrf, "reason": "not mine"}
    )

    # then
    assert opened.status_code == 403
    assert posted.status_code == 403
    assert console.engine.status()["stopped"] == {}


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    ledger_before = console.engine.log.head()

    # when
    stop = admin.post(f"{SWITCHES}/credit-eligibility/stop", data={"reason": "no token here"})
    add = admin.post(PEOPLE, data={"name": "Eve Intruder", "roles": "admin"})
    key = admin.post("/console/admin/keys", data={"name": "eve", "role": "admin"})

    # then
    assert (stop.status_code, add.status_code, key.status_code) == (403, 403, 403)
    assert console.engine.status()["stopped"] == {}
    assert [p.name for p in list_people(console.engine.log.engine)] == ["Ada Admin"]
    assert list_keys(console.engine.log.engine) == []
    assert console.engine.log.head() == ledger_before
