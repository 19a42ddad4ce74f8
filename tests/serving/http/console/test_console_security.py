"""The console against hostile browsers and sites: session fixation, CSRF, framing, cookies.

In process, through the real gatekeeper (see conftest). A real browser refusing
to frame the console from another origin is shown in tests/console/test_clickjacking_browser.py.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.access import Gatekeeper, list_people
from serving.access.console_gate import LOGIN_CSRF_COOKIE
from serving.access.schema import ConsoleSessionRow
from serving.access.sessions import COOKIE_NAME
from serving.access.throttle import Throttle
from serving.ledger import DecisionLog, create_log_engine

from .conftest import Console, csrf_of


def _set_cookies(response: httpx.Response) -> dict[str, SimpleCookie]:
    found: dict[str, SimpleCookie] = {}
    for header in response.headers.get_list("set-cookie"):
        jar: SimpleCookie = SimpleCookie()
        jar.load(header)
        for name in jar:
            found[name] = jar
    return found


def _signed_in_as(console: Console, cookie: str) -> str | None:
    """Whose console a bare browser holding only ``cookie`` sees (None: sent to sign in)."""
    page = console.client().get("/console/queue", headers={"cookie": f"{COOKIE_NAME}={cookie}"})
    if page.status_code == 303 and "/console/login" in page.headers["location"]:
        return None
    found = re.search(r"Signed in as <strong>([^<]+)</strong>", page.text)
    assert found is not None, page.text[:500]
    return found.group(1)


def _login(client: TestClient, token: str) -> httpx.Response:
    form = client.get("/console/login")
    return client.post(
        "/console/login",
        data={"token": token, "csrf_token": csrf_of(form.text), "next": "/console/"},
    )


def _session_ids(console: Console) -> set[str]:
    with Session(console.engine.log.engine) as session:
        return set(session.scalars(select(ConsoleSessionRow.session_id)))


# --------------------------------------------------------------------------------------
# Session fixation
# --------------------------------------------------------------------------------------


def test_a_session_cookie_planted_before_sign_in_is_never_adopted(console: Console) -> None:
    # given: the attacker's own live session cookie, planted in the victim's browser
    attacker = console.client()
    signed = _login(attacker, console.person("Mal Attacker", "reviewer"))
    planted = _set_cookies(signed)[COOKIE_NAME][COOKIE_NAME].value
    victim = console.client()
    victim.cookies.set(COOKIE_NAME, planted, domain="127.0.0.1", path="/console")
    # and a made-up session id an attacker might try instead
    made_up = "f" * 64 + ".9999999999.bogus"

    # when: the victim signs in in that browser, then another browser with the made-up one
    done = _login(victim, console.person("Vic Victim", "reviewer"))
    other = console.client()
    other.cookies.set(COOKIE_NAME, made_up, domain="127.0.0.1", path="/console")
    other_done = _login(other, console.person("Oda Other", "reviewer"))

    # then: each sign-in set a new cookie; the planted one still belongs to the attacker only
    fresh = _set_cookies(done)[COOKIE_NAME][COOKIE_NAME].value
    assert done.status_code == 303 and fresh != planted
    assert fresh.split(".")[0] != planted.split(".")[0]
    assert _signed_in_as(console, fresh) == "Vic Victim"
    assert _signed_in_as(console, planted) == "Mal Attacker"
    assert other_done.status_code == 303
    assert _set_cookies(other_done)[COOKIE_NAME][COOKIE_NAME].value.split(".")[0] != "f" * 64
    assert "f" * 64 not in _session_ids(console)
    assert _signed_in_as(console, made_up) is None


def test_after_logout_the_old_cookie_is_refused_and_a_new_sign_in_gets_a_new_id(
    console: Console,
) -> None:
    # given
    token = console.person("Rita Reviewer", "reviewer")
    browser = console.client()
    first = _set_cookies(_login(browser, token))[COOKIE_NAME][COOKIE_NAME].value
    queue = browser.get("/console/queue")

    # when: sign out, replay the old cookie, sign in again
    out = browser.post("/console/logout", data={"csrf_token": csrf_of(queue.text)})
    replayed = console.client().get("/console/queue", headers={"cookie": f"{COOKIE_NAME}={first}"})
    again = _set_cookies(_login(console.client(), token))[COOKIE_NAME][COOKIE_NAME].value

    # then
    assert out.status_code == 303
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/console/login")
    assert _signed_in_as(console, first) is None
    assert again.split(".")[0] != first.split(".")[0]
    assert _signed_in_as(console, again) == "Rita Reviewer"


# --------------------------------------------------------------------------------------
# CSRF
# --------------------------------------------------------------------------------------


def _disabled(console: Console, person_id: str) -> bool:
    return next(
        p.disabled_at is not None
        for p in list_people(console.engine.log.engine)
        if p.person_id == person_id
    )


def test_a_form_without_this_sessions_token_is_refused_and_changes_nothing(
    console: Console,
) -> None:
    # given: an admin, another admin, another browser's sign-in token, and a person to disable
    admin = console.signed_in("Ada Admin", "admin")
    other_admin = console.signed_in("Oli Admin", "admin")
    other_csrf = csrf_of(other_admin.get("/console/admin/people").text)
    stranger = console.client()
    stranger.get("/console/login")
    stranger_login_csrf = stranger.cookies.get(LOGIN_CSRF_COOKIE)
    assert stranger_login_csrf
    console.person("Pat Person", "reviewer")
    pat = next(p for p in list_people(console.engine.log.engine) if p.name == "Pat Person")
    own_csrf = csrf_of(admin.get("/console/admin/people").text)
    target = f"/console/admin/people/{pat.person_id}/disable"

    # when: without a token, with another session's, with another browser's sign-in token
    attempts = {
        "none": admin.post(target, data={}),
        "empty": admin.post(target, data={"csrf_token": ""}),
        "other session": admin.post(target, data={"csrf_token": other_csrf}),
        "sign-in cookie of another browser": admin.post(
            target, data={"csrf_token": stranger_login_csrf}
        ),
        "token in a header only": admin.post(target, headers={"x-csrf-token": own_csrf}),
    }

    # then: every one refused, Pat still enabled
    assert {name: r.status_code for name, r in attempts.items()} == dict.fromkeys(attempts, 403)
    assert all("csrf_token" in r.text for r in attempts.values())
    assert not _disabled(console, pat.person_id)

    # and the same form with this session's own token does disable Pat (the check can pass)
    done = admin.post(target, data={"csrf_token": own_csrf})
    assert done.status_code == 303 and _disabled(console, pat.person_id)


def test_the_sign_in_form_needs_the_token_of_its_own_browser(console: Console) -> None:
    # given: a victim's browser with its own sign-in form, and the attacker's form token
    token = console.person("Mal Attacker", "reviewer")
    attacker = console.client()
    attacker_csrf = csrf_of(attacker.get("/console/login").text)
    victim = console.client()
    victim.get("/console/login")
    before = _session_ids(console)

    # when: a cross-site form signs the victim in as the attacker (login CSRF)
    forced = victim.post(
        "/console/login",
        data={"token": token, "csrf_token": attacker_csrf, "next": "/console/"},
    )

    # then: refused, no session made, no cookie set
    assert forced.status_code == 403
    assert COOKIE_NAME not in _set_cookies(forced)
    assert _session_ids(console) == before


# --------------------------------------------------------------------------------------
# Clickjacking: every console answer forbids framing by other sites
# --------------------------------------------------------------------------------------


def _forbids_other_framers(response: httpx.Response) -> None:
    assert response.headers["x-frame-options"] == "SAMEORIGIN", response.request.url
    policy = response.headers["content-security-policy"]
    ancestors = [d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors")]
    assert ancestors in (["frame-ancestors 'self'"], ["frame-ancestors 'none'"]), policy


def test_every_kind_of_console_answer_forbids_framing_by_other_origins(console: Console) -> None:
    # given
    admin = console.signed_in("Ada Admin", "admin")
    reviewer = console.signed_in("Rita Reviewer", "reviewer")
    anonymous = console.client()
    base = "/console/use-cases/synthetic-eligibility/versions/1"

    # when: pages, an embedded document with its own policy, errors, redirects, refusals
    answers = [
        anonymous.get("/console/login"),
        anonymous.get("/console/queue"),  # 303 to sign in
        anonymous.get("/console"),  # 307
        anonymous.post("/console/queue", data={}),  # 401
        anonymous.post("/console/login", data={"token": "x"}),  # 403 CSRF
        anonymous.get("/console/static/console.css"),
        anonymous.get("/console/static/missing.js"),  # 404
        admin.get("/console/admin/people"),
        admin.get(f"{base}/card"),
        admin.get(f"{base}/audit"),
        admin.get("/console/no-such-page"),  # 404 from the app
        reviewer.get("/console/admin/people"),  # 403 roles
    ]

    # then
    assert {a.status_code for a in answers} >= {200, 303, 307, 401, 403, 404}
    for answer in answers:
        _forbids_other_framers(answer)


# --------------------------------------------------------------------------------------
# Cookies
# --------------------------------------------------------------------------------------


def _sign_in_cookies(console: Console, base_url: str) -> tuple[SimpleCookie, SimpleCookie]:
    client = TestClient(console.app, base_url=base_url, follow_redirects=False)
    form = client.get("/console/login")
    login_jar = _set_cookies(form)[LOGIN_CSRF_COOKIE]
    done = client.post(
        "/console/login",
        data={
            "token": console.person(f"Sam {base_url[:5]}", "reviewer"),
            "csrf_token": csrf_of(form.text),
            "next": "/console/",
        },
    )
    assert done.status_code == 303, done.text
    return login_jar, _set_cookies(done)[COOKIE_NAME]


def test_cookies_are_httponly_strict_scoped_and_secure_only_over_tls(console: Console) -> None:
    # when: signing in over plain HTTP, and over HTTPS (the ASGI scope's scheme)
    plain = _sign_in_cookies(console, "http://127.0.0.1")
    tls = _sign_in_cookies(console, "https://127.0.0.1")

    # then
    for (login_jar, session_jar), secure in ((plain, False), (tls, True)):
        session = session_jar[COOKIE_NAME]
        login = login_jar[LOGIN_CSRF_COOKIE]
        assert session["httponly"] is True and login["httponly"] is True
        assert session["samesite"] == "strict" and login["samesite"] == "strict"
        assert session["path"] == "/console" and login["path"] == "/console/login"
        assert bool(session["secure"]) is secure, (secure, session.output())
        assert bool(login["secure"]) is secure, (secure, login.output())
        assert session["expires"], "the session cookie expires"


def test_a_refused_sign_in_never_shows_the_token_typed(console: Console) -> None:
    # given: a real token pasted with text after it (too long), and into the wrong field
    token = console.person("Rita Reviewer", "reviewer")
    client = console.client()
    form = client.get("/console/login")
    csrf = csrf_of(form.text)

    # when
    too_long = client.post("/console/login", data={"token": token + "x" * 400, "csrf_token": csrf})
    wrong_field = client.post(
        "/console/login", data={"token": "dp_nope", "password": token, "csrf_token": csrf}
    )
    unknown = client.post("/console/login", data={"token": token + "0", "csrf_token": csrf})

    # then: each refused in words naming the field, never echoing what was typed
    assert too_long.status_code == 400 and "token:" in too_long.text
    assert wrong_field.status_code == 400 and "password:" in wrong_field.text
    assert unknown.status_code == 401
    secret = token.rsplit("_", 1)[1]
    for response in (too_long, wrong_field, unknown):
        assert secret not in response.text, response.text


# --------------------------------------------------------------------------------------
# The database lost while checking a session or signing in: 503, never 500
# --------------------------------------------------------------------------------------


def test_an_unreachable_database_gives_the_console_503_pages_without_the_url(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a signed-in reviewer, then the database gone (nothing listens on port 1)
    password = "pw-console-Secret-81"
    broken = create_log_engine(f"postgresql+psycopg://docket:{password}@127.0.0.1:1/docket")
    token = console.person("Rita Reviewer", "reviewer")
    browser = console.client()
    cookie = _set_cookies(_login(browser, token))[COOKIE_NAME][COOKIE_NAME].value
    form = console.client().get("/console/login")
    cut_off = Gatekeeper(
        console.app.app, table=console.app.table, engine=broken, throttle=Throttle()
    )
    monkeypatch.setattr(DecisionLog, "engine", property(lambda self: broken))
    client = TestClient(cut_off, base_url="http://127.0.0.1", follow_redirects=False)

    # when: a page read with the session, and a sign-in
    page = client.get("/console/queue", headers={"cookie": f"{COOKIE_NAME}={cookie}"})
    login = client.post(
        "/console/login",
        data={"token": token, "csrf_token": csrf_of(form.text)},
        headers={"cookie": f"{LOGIN_CSRF_COOKIE}={form.cookies[LOGIN_CSRF_COOKIE]}"},
    )

    # then
    for response in (page, login):
        assert response.status_code == 503, response.text[:300]
        assert "database cannot be reached" in response.text
        assert password not in response.text and "127.0.0.1:1" not in response.text
    assert page.headers["retry-after"] == "5"
