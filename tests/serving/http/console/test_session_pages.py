"""Signing in and out of the console, CSRF, headers: in process, through the real gatekeeper."""

from __future__ import annotations

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
