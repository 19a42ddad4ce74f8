"""Signing in and out of the console, CSRF, headers: in process, through the real gatekeeper."""

from __future__ import annotations

from serving.access.console_gate import CONTENT_SECURITY_POLICY

from .conftest import Console, csrf_of, sign_in


def test_a_reviewer_signs_in_sees_the_queue_and_signs_out(console: Console) -> None:
    # given
    client = console.client()
    token = console.person("Rita Reviewer", "reviewer")

    # when: an unsigned visit, then the sign-in form
    first = client.get("/console/queue")
    sign_in(client, token)
    queue = client.get("/console/queue")

    # then
    assert first.status_code == 303 and first.headers["location"].startswith("/console/login?next=")
    assert queue.status_code == 200 and "Review queue" in queue.text

    # when: sign out
    out = client.post("/console/logout", data={"csrf_token": csrf_of(queue.text)})
    after = client.get("/console/queue")

    # then
    assert out.status_code == 303 and after.status_code == 303


def _concrete(path: str) -> str:
    # ids that do not exist still reach the route (which answers 404 itself)
    for name, value in {
        "{case_id}": "0123456789abcdef",
        "{decision_id}": "0123456789abcdef",
        "{name}": "console.css",
        "{use_case}": "synthetic-eligibility",
        "{version}": "1",
        "{person_id}": "0123456789abcdef",
        "{key_id}": "0123456789ab",
        "{window}": "week",
    }.items():
        path = path.replace(name, value)
    assert "{" not in path, path
    return path


def test_every_console_route_answers_exactly_the_roles_the_table_names(console: Console) -> None:
    # given: one signed-in person per role, and an anonymous browser
    from serving.http.routers import ROUTERS
    from serving.http.routes import route_table
    from serving.http.service import DECIDE

    # signing out is checked above (it would end these sessions half way)
    rules = [
        r
        for r in route_table(ROUTERS, DECIDE).rules
        if r.path.startswith("/console") and r.path != "/console/logout"
    ]
    people = {
        role: console.signed_in(f"Person {role}", role)
        for role in ("reviewer", "senior_reviewer", "auditor", "admin")
    }
    tokens = {
        role: csrf_of(client.get("/console/", follow_redirects=True).text)
        for role, client in people.items()
    }
    anonymous = console.client()

    for rule in rules:
        path = _concrete(rule.path)
        # when / then: anonymous
        if rule.open:
            if rule.method == "GET":
                got = anonymous.get(path)
                assert got.status_code in (200, 303, 307), (rule, got.status_code)
            continue
        if rule.method == "GET":
            got = anonymous.get(path)
            assert got.status_code == 303 and "/console/login?next=" in got.headers["location"]
        else:
            assert anonymous.post(path, data={}).status_code == 401, rule
        # each role: allowed, or refused with the roles the page is for
        for role, client in people.items():
            if rule.method == "GET":
                got = client.get(path)
            else:
                got = client.post(path, data={"csrf_token": tokens[role]})
            if role in rule.roles:
                assert got.status_code not in (401, 403, 405), (rule, role, got.text[:300])
            else:
                assert got.status_code == 403, (rule, role, got.status_code)
                assert "this page is for" in got.text, (rule, role)


def test_console_pages_carry_the_security_headers(console: Console) -> None:
    # given
    client = console.signed_in("Rita", "reviewer")

    # when
    shown = client.get("/console/queue")
    login = console.client().get("/console/login")

    # then
    for response in (shown, login):
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
        assert response.headers["x-frame-options"] == "SAMEORIGIN"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cache-control"] == "no-store"
