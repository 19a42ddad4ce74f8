"""Schema-driven fuzzing of a running ``docket serve`` with schemathesis, for the test and benchmark.

:func:`fuzz_service` builds a small registry (the synthetic use case, audited PASS
and promoted; :mod:`tests.serving.http.review_setup`), creates an application
key, an admin key and people with each role, starts the service on a loopback
port, makes a few real decisions (so path parameters can name things that exist)
and signs two people in to the console.

:func:`fuzz` reads the service's own OpenAPI document (``GET /docs.json``), adds
the three BentoML routes that BentoML leaves out of it (``/``, ``/docs.json``,
``/static_content/{asset}``), checks that every route of
:data:`serving.http.service.ROUTES` is an operation of it, and runs every
operation on generated requests (schema-valid and schema-violating ones, a fixed
seed, a bounded count). Each request carries a credential holding one of the
route's roles (console routes a session cookie and its CSRF token), so the
requests reach the route code; each response goes through schemathesis' checks
(no 5xx; status code, content type, headers and body as documented). Failures
are collected, not raised, so one run reports all of them.

The benchmark (``benchmarks/fuzz.py``) loads this file by its path: the
repository's ``tests`` folder is not an importable package outside pytest.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from serving.access.keys import create_key
from serving.access.people import add_person
from serving.access.roles import RouteRule
from serving.ledger import DecisionLog
from serving.ledger.signing import generate_key, key_file_path

#: the checks every response goes through
CHECKS = (
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)
USE_CASE = "synthetic-eligibility"
CONSOLE = "/console"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
REQUEST_TIMEOUT_S = 30.0
#: BentoML serves these (open) routes but leaves them out of its own document
BENTOML_UNDOCUMENTED: dict[str, dict[str, Any]] = {
    "/": {
        "get": {
            "summary": "the interactive API documentation (Swagger UI)",
            "responses": {"200": {"description": "the page", "content": {"text/html": {}}}},
        }
    },
    "/docs.json": {
        "get": {
            "summary": "the OpenAPI document",
            "responses": {
                "200": {
                    "description": "the document",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        }
    },
    "/static_content/{asset}": {
        "get": {
            "summary": "files of the documentation page",
            "parameters": [
                {"name": "asset", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {"description": "the file"},
                "404": {"description": "no such file"},
            },
        }
    },
}


#: documentation gaps found by the fuzz whose fix lies in files this suite's authors do
#: not own; each is (operation label pattern, schemathesis failure title, status code or
#: 0 for any): why. A server
#: error is never on this list. The test fails on any failure not matched here, and
#: says which entries matched nothing (fixed: remove them).
#: documentation gaps the fuzz tolerates, each with why (none left: each one found was fixed)
KNOWN_GAPS: dict[tuple[str, str, int], str] = {}


def known_gap(label: str, title: str, status: int) -> str | None:
    """Why a failure is a known documentation gap, or None."""
    for (pattern, known_title, known_status), why in KNOWN_GAPS.items():
        if known_title == title and known_status in (0, status) and re.fullmatch(pattern, label):
            return why
    return None


@dataclass
class FuzzService:
    """A running service with a credential for every role, and ids of things that exist."""

    url: str
    tokens: dict[str, str]  # credential name -> bearer token
    sessions: dict[str, tuple[str, str]]  # person -> (session cookie, csrf token)
    known: dict[str, list[str]]  # path parameter name -> ids that exist
    login_token: str  # a person's token, for sign-ins the fuzz makes itself

    def headers_for(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def _people() -> dict[str, list[str]]:
    return {
        "reviewer": ["reviewer", "senior_reviewer"],
        "auditor": ["auditor"],
        "admin": ["admin", "auditor"],
        "login": ["reviewer"],
    }


def sign_in(url: str, token: str) -> tuple[str, str]:
    """Sign in as a browser does: the session cookie and the session's CSRF token."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        form = client.get(f"{CONSOLE}/login")
        found = CSRF.search(form.text)
        assert form.status_code == 200 and found, form.text
        done = client.post(
            f"{CONSOLE}/login",
            data={"token": token, "csrf_token": found.group(1), "next": f"{CONSOLE}/"},
        )
        assert done.status_code == 303, done.text
        home = client.get(f"{CONSOLE}/", follow_redirects=True)
        csrf = CSRF.search(home.text)
        assert home.status_code == 200 and csrf, home.text
        cookie = next(c for c in client.cookies.jar if c.name == "docket_session")
        assert cookie.value is not None
        return cookie.value, csrf.group(1)


@contextmanager
def fuzz_service(
    home: Path,
    serve: Callable[..., Any],
    build_registry: Callable[..., Any],
    data_rows: Callable[[Path], list[dict[str, Any]]],
) -> Iterator[FuzzService]:
    """Build a registry, credentials and a few decisions; serve them; yield the service.

    ``serve`` is :func:`tests.serving.server.docket_server`, ``build_registry`` and
    ``data_rows`` those of :mod:`tests.serving.http.review_setup`, passed in so that
    the benchmark can hand over the same functions loaded by path.
    """
    settings, data_csv = build_registry(home / "registry", 0)
    # a ledger key, so receipts get covered and the public key is served
    generate_key(key_file_path(settings.home))
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {
        "application": create_key(log.engine, "application", "fuzz app")[0],
        "admin_key": create_key(log.engine, "admin", "fuzz admin")[0],
    }
    person_ids = {}
    for who, roles in _people().items():
        token, person = add_person(log.engine, f"Fuzz {who}", roles, "fuzz setup")
        tokens[who], person_ids[who] = token, person.person_id
    # ids the fuzz may name and change at will: a decoy person and key to disable and
    # revoke, never the ones it acts as
    decoy = add_person(log.engine, "Fuzz decoy", ["reviewer"], "fuzz setup")[1].person_id
    decoy_key = create_key(log.engine, "application", "fuzz decoy")[1]
    log.close()
    rows = data_rows(data_csv)[:60]
    # the fuzz signs in with made-up tokens on purpose: not a guesser to lock out
    with serve(
        settings,
        home,
        env={"DOCKET_AUTH_MAX_FAILURES": "1000000", "DOCKET_CHECKPOINT_SECONDS": "2"},
    ) as url:
        known: dict[str, list[str]] = {
            "decision_id": [],
            "case_id": [],
            "entry_id": [],
            "use_case": [USE_CASE],
            "person_id": [decoy],
            "key_id": [decoy_key.key_id],
        }
        with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
            for features in rows:
                made = client.post(
                    "/decide",
                    json={"use_case": USE_CASE, "features": features},
                    headers={"Authorization": f"Bearer {tokens['application']}"},
                )
                assert made.status_code == 200, made.text
                body = made.json()
                known["decision_id"].append(body["decision_id"])
                if body.get("case_id"):
                    known["case_id"].append(body["case_id"])
                receipt = body.get("receipt") or {}
                if receipt.get("entry_id"):
                    known["entry_id"].append(receipt["entry_id"])
            status = client.get(
                "/admin/status", headers={"Authorization": f"Bearer {tokens['admin_key']}"}
            )
        known["version"] = sorted(
            {str(v) for v in re.findall(r'"version":\s*"?(\d+)', status.text)}
        ) or ["1"]
        sessions = {who: sign_in(url, tokens[who]) for who in ("reviewer", "admin")}
        yield FuzzService(url, tokens, sessions, known, tokens["login"])


def api_document(url: str) -> dict[str, Any]:
    """The service's OpenAPI document, with BentoML's undocumented open routes added."""
    doc = httpx.get(f"{url}/docs.json", timeout=REQUEST_TIMEOUT_S).json()
    assert isinstance(doc, dict)
    for path, item in BENTOML_UNDOCUMENTED.items():
        assert path not in doc["paths"], f"BentoML now documents {path}: drop it from the list"
        doc["paths"][path] = item
    return doc


def uncovered(doc: dict[str, Any], rules: list[RouteRule]) -> list[RouteRule]:
    """Routes of the table that are no operation of the document."""
    return [r for r in rules if r.method.lower() not in doc["paths"].get(r.path, {})]


def credential_for(rule: RouteRule) -> str | None:
    """Which of the fuzz's credentials holds one of the route's roles (None: open)."""
    if rule.open:
        return None
    for role, who in (
        ("application", "application"),
        ("reviewer", "reviewer"),
        ("senior_reviewer", "reviewer"),
        ("admin", "admin_key"),
        ("auditor", "auditor"),
    ):
        if role in rule.roles:
            if rule.path.startswith(CONSOLE) and who != "reviewer":
                return "admin"  # the console signs in people, never keys
            return who
    raise AssertionError(f"no fuzz credential holds a role of {rule}")


@dataclass
class Tally:
    """What a fuzz run sent and found."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    by_operation: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)  # not known gaps: first of each kind
    failure_kinds: Counter[str] = field(default_factory=Counter)
    known: Counter[tuple[str, str, int]] = field(default_factory=Counter)  # matched KNOWN_GAPS
    seconds: float = 0.0
    no_negative: list[str] = field(default_factory=list)  # nothing to make invalid


def _first_line(text: str, limit: int = 600) -> str:
    return text.strip()[:limit]


def fuzz(
    svc: FuzzService,
    rules: list[RouteRule],
    *,
    examples: int,
    seed: int,
    modes: tuple[GenerationMode, ...] = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE),
    only: Callable[[RouteRule], bool] = lambda _: True,
) -> Tally:
    """``examples`` generated requests per operation and mode; every response checked."""
    doc = api_document(svc.url)
    missing = uncovered(doc, rules)
    assert not missing, f"routes of the table the document lacks: {missing}"
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.update(base_url=svc.url)
    tally = Tally()
    started = time.monotonic()
    http = requests.Session()
    http.trust_env = False  # loopback only: never a proxy
    for rule in rules:
        if not only(rule):
            continue
        operation = schema[rule.path][rule.method]
        who = credential_for(rule)
        for mode in modes:
            _fuzz_operation(svc, rule, operation, who, mode, examples, seed, tally, http)
    tally.seconds = time.monotonic() - started
    return tally


def _fuzz_operation(
    svc: FuzzService,
    rule: RouteRule,
    operation: Any,
    who: str | None,
    mode: GenerationMode,
    examples: int,
    seed: int,
    tally: Tally,
    http: requests.Session,
) -> None:
    label = f"{rule.method} {rule.path}"
    names = re.findall(r"{(\w+)}", rule.path)
    strategy = operation.as_strategy(generation_mode=mode)

    @hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @hypothesis.seed(seed)
    @hypothesis.given(case=strategy, data=st.data())
    def one(case: Any, data: Any) -> None:
        # half the time a path parameter names something that exists, so the route does work
        for name in names:
            if svc.known.get(name) and data.draw(st.booleans()):
                case.path_parameters[name] = data.draw(st.sampled_from(svc.known[name]))
        headers: dict[str, str] = {}
        cookies: dict[str, str] = {}
        if rule.path.startswith(CONSOLE) and who is not None:
            person = who
            if rule.path == f"{CONSOLE}/logout":  # signs out: a session of its own each time
                cookie, csrf = sign_in(svc.url, svc.login_token)
            else:
                cookie, csrf = svc.sessions[person]
            cookies["docket_session"] = cookie
            if rule.method == "POST":
                _add_form_field(case, "csrf_token", csrf)
        elif rule.path == f"{CONSOLE}/login" and rule.method == "POST":
            cookies["docket_login_csrf"] = "fuzz-login-csrf"
            _add_form_field(case, "csrf_token", "fuzz-login-csrf")
        elif who is not None:
            headers.update(svc.headers_for(who))
        try:
            response = case.call(
                session=http,
                headers=headers,
                cookies=cookies,
                timeout=REQUEST_TIMEOUT_S,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            tally.requests += 1
            tally.failures.append(f"{label} [{mode}]: no answer: {exc!r}")
            tally.failure_kinds[f"{label}: no answer"] += 1
            return
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        tally.by_operation[label] += 1
        try:
            case.validate_response(response, checks=list(CHECKS), headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                if known_gap(label, failure.title, response.status_code) is not None:
                    tally.known[(label, failure.title, response.status_code)] += 1
                    continue
                kind = f"{label}: {failure.title}"
                if tally.failure_kinds[kind] == 0:
                    tally.failures.append(
                        f"{label} [{mode}] -> {response.status_code}: {failure.title}:"
                        f" {_first_line(failure.message)}\n  body: {_first_line(response.text, 300)}"
                        f"\n  {case.as_curl_command(headers=headers)}"
                    )
                tally.failure_kinds[kind] += 1

    try:
        one()
    except hypothesis.errors.Unsatisfiable:
        # nothing of this operation can be made invalid (no parameters, no body)
        if mode is GenerationMode.POSITIVE:
            raise
        tally.no_negative.append(label)


def _add_form_field(case: Any, name: str, value: str) -> None:
    """Put ``name=value`` into the case's form body (the console's CSRF field)."""
    if isinstance(case.body, dict):
        case.body[name] = value
    else:
        case.body = {name: value}
        case.media_type = "application/x-www-form-urlencoded"
