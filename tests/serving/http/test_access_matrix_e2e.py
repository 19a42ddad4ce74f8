"""Route × role × credential: every route of the service's own table, called over HTTP.

The matrix is generated from :data:`serving.http.service.ROUTES` (the console's
pages are in the same table) and nothing else: for each route and each credential
the expected answer follows from the route's declared roles alone.

- an open route passes for everyone (neither 401 nor 403);
- no credential, an unknown token, a revoked application key or a disabled
  person's token: 401 on the API; on the console (a session cookie instead of a
  token) a page read is sent to the sign-in page (303) and a form post is refused
  (401);
- a principal holding none of the route's roles: 403 (an application key on the
  console is no principal there: the console signs in people, so it is treated as
  no credential);
- a principal holding one of them: neither 401 nor 403 (path parameters are
  made-up ids, so 400, 404, 409 or 422 are fine).

The module runs its own server: its many bad credentials would otherwise lock out
(429) the loopback address of every test sharing a server, so it raises the
failed-authentication limit (``DOCKET_AUTH_MAX_FAILURES``) for this server only;
the throttle has its own tests.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from serving.access.keys import create_key, revoke_key
from serving.access.people import add_person, disable_person
from serving.access.roles import RouteRule
from serving.http.service import ROUTES
from serving.ledger import DecisionLog
from tests.serving.http.fuzz_setup import sign_in
from tests.serving.http.review_setup import build_registry
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

CONSOLE = "/console"
ROLE_PEOPLE = ("reviewer", "senior_reviewer", "auditor", "admin")
#: roles only an API key holds (no person): an application, a Prometheus server
KEY_ONLY = ("application", "monitoring")
#: credentials that must never get past the door
REFUSED = ("none", "unknown", "revoked key", "disabled person")
MADE_UP_ID = "0123456789ab"
TIMEOUT_S = 60.0
LOGIN_CSRF = "matrix-login-csrf"


@dataclass
class Matrix:
    url: str
    tokens: dict[str, str]  # credential -> bearer token (absent for "none")
    roles: dict[str, frozenset[str]]  # credential -> its roles
    sessions: dict[str, tuple[str, str]]  # credential -> (session cookie, csrf token)
    login_token: str  # a valid person's token, for sign-ins the console checks need


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    home = tmp_path_factory.mktemp("access-matrix")
    settings, _ = build_registry(home / "registry", 0)
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {role: create_key(log.engine, role, f"matrix {role}")[0] for role in KEY_ONLY}
    roles = {role: frozenset({role}) for role in KEY_ONLY}
    revoked, revoked_key = create_key(log.engine, "application", "matrix revoked")
    assert revoke_key(log.engine, revoked_key.key_id)
    tokens["revoked key"] = revoked
    for role in ROLE_PEOPLE:
        tokens[role] = add_person(log.engine, f"Matrix {role}", [role], "matrix setup")[0]
        roles[role] = frozenset({role})
    # a person with every role, disabled below: nothing of theirs may pass
    tokens["disabled person"] = add_person(
        log.engine, "Matrix disabled", list(ROLE_PEOPLE), "matrix setup"
    )[0]
    tokens["unknown"] = "dp_0123456789ab_" + "x" * 43
    login = add_person(log.engine, "Matrix login", ["reviewer"], "matrix setup")[0]
    env = {"DOCKET_AUTH_MAX_FAILURES": "100000", "DOCKET_KEY_CACHE_SECONDS": "0"}
    with docket_server(settings, home, env=env) as url:
        sessions = {who: sign_in(url, tokens[who]) for who in (*ROLE_PEOPLE, "disabled person")}
        disable_person(log.engine, "Matrix disabled", "matrix setup")
        log.close()
        sessions["unknown"] = ("0" * 64 + ".1999999999.bogus", "bogus-csrf")
        yield Matrix(url, tokens, roles, sessions, login)


def _path(rule: RouteRule) -> str:
    return re.sub(r"{\w+}", MADE_UP_ID, rule.path)


def _call(m: Matrix, rule: RouteRule, who: str) -> httpx.Response:
    """Call the route as ``who``: a bearer token on the API, a session on the console."""
    headers: dict[str, str] = {}
    cookies: dict[str, str] = {}
    form: dict[str, str] | None = None
    console = rule.path == CONSOLE or rule.path.startswith(f"{CONSOLE}/")
    if console:
        if rule.path == f"{CONSOLE}/logout" and who in ROLE_PEOPLE:
            # signing out ends the session: a session of its own for this call
            session = sign_in(m.url, m.tokens[who])
        else:
            session = m.sessions.get(who, ("", ""))
        if session[0]:
            cookies["docket_session"] = session[0]
        if who in m.tokens and who not in ROLE_PEOPLE:
            headers["Authorization"] = f"Bearer {m.tokens[who]}"  # the console ignores it
        if rule.method == "POST":
            form = {"csrf_token": session[1]}
            if rule.path == f"{CONSOLE}/login":  # an open form: its own CSRF cookie, a good token
                cookies["docket_login_csrf"] = LOGIN_CSRF
                form = {"csrf_token": LOGIN_CSRF, "token": m.login_token, "next": "/console/"}
    elif who in m.tokens:
        headers["Authorization"] = f"Bearer {m.tokens[who]}"
    with httpx.Client(base_url=m.url, timeout=TIMEOUT_S, cookies=cookies, trust_env=False) as c:
        if rule.method == "GET":
            return c.get(_path(rule), headers=headers)
        if form is not None:
            return c.post(_path(rule), headers=headers, data=form)
        return c.request(rule.method, _path(rule), headers=headers, json={})


def _expected(m: Matrix, rule: RouteRule, who: str) -> str:
    """What the table alone says this credential gets: pass, 401, 303, 403."""
    if rule.open:
        return "pass"
    console = rule.path.startswith(f"{CONSOLE}/") or rule.path == CONSOLE
    # an API key signs no one in to the console: there it is as good as no credential
    if who in REFUSED or (console and who in KEY_ONLY):
        return ("303" if rule.method == "GET" else "401") if console else "401"
    return "pass" if m.roles[who] & rule.roles else "403"


CREDENTIALS = (*REFUSED, *KEY_ONLY, *ROLE_PEOPLE)


def test_every_route_answers_every_credential_as_its_declared_roles_say(matrix: Matrix) -> None:
    # given: the service's own route table
    rules = list(ROUTES.rules)
    checked: set[tuple[str, str]] = set()
    wrong: list[str] = []
    wanted: Counter[str] = Counter()

    # when: every route is called with every credential
    for rule in rules:
        for who in CREDENTIALS:
            got = _call(matrix, rule, who)
            want = _expected(matrix, rule, who)
            wanted[want] += 1
            checked.add((rule.method, rule.path))
            ok = {
                "pass": got.status_code not in (401, 403),
                "401": got.status_code == 401,
                "403": got.status_code == 403,
                "303": got.status_code == 303
                and got.headers.get("location", "").startswith(f"{CONSOLE}/login"),
            }[want]
            if not ok:
                wrong.append(
                    f"{rule.method} {rule.path} as {who}: expected {want}, got"
                    f" {got.status_code} {got.text[:200]!r}"
                )

    # then: every route of the table was checked, and each answered as its roles say
    assert checked == {(r.method, r.path) for r in rules}
    assert len(checked) == len(rules)
    assert wrong == [], "\n".join(wrong)
    # every kind of answer was expected somewhere (the matrix is no all-pass table)
    assert set(wanted) == {"pass", "401", "403", "303"}, wanted
    assert sum(wanted.values()) == len(rules) * len(CREDENTIALS)


def test_the_matrix_covers_console_pages_api_routes_and_open_routes() -> None:
    # the table the matrix is generated from holds each kind of route (a guard against
    # a table that silently lost the console or the API)
    rules = list(ROUTES.rules)
    assert any(r.path.startswith(f"{CONSOLE}/") and not r.open for r in rules)
    assert any(not r.path.startswith(CONSOLE) and not r.open for r in rules)
    assert any(r.open for r in rules)
    assert {role for r in rules for role in r.roles} == {*KEY_ONLY, *ROLE_PEOPLE}
