"""End to end against a real `docket serve` (BentoML) process on a loopback port."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.settings import Settings
from serving.access.keys import create_key
from serving.access.people import add_person
from serving.decisions.engine import DecisionEngine
from serving.ledger import DecisionLog
from tests.conftest import SERVED_LEDGER

from ..paths import rows_by_path
from ..server import docket_server

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def service(
    served_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str], Settings]]:
    work = tmp_path_factory.mktemp("e2e")
    # the served registry's ledger, with its promotions: verify compares the two
    shutil.copyfile(served_settings.home / SERVED_LEDGER, work / "decisions.db")
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{work / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    keys = {
        role: create_key(log.engine, role, f"test {role}")[0]
        for role in ("application", "reviewer", "auditor", "admin")
    }
    keys["other application"] = create_key(log.engine, "application", "another app")[0]
    for role in ("reviewer", "senior_reviewer", "auditor", "admin"):
        keys[f"person {role}"] = add_person(log.engine, f"Test {role}", [role], "test setup")[0]
    with docket_server(settings, work) as url:
        yield url, keys, settings


def _post(url: str, key: str | None, body: object, path: str = "/decide") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.post(f"{url}{path}", json=body, headers=headers, timeout=30)


@pytest.mark.parametrize("use_case", ["credit-eligibility", "retention-propensity"])
def test_paths_over_http(service: tuple, engine: DecisionEngine, use_case: str) -> None:
    url, keys, _ = service
    paths = rows_by_path(engine, use_case, per_path=2)
    seen = {}
    for path, rows in paths.items():
        for features in rows:
            r = _post(url, keys["application"], {"use_case": use_case, "features": features})
            assert r.status_code == 200, r.text
            body = r.json()
            seen[path] = (body["outcome"], body["recommendation"])
            assert body["model_version"] and body["explainer_version"] and body["policy_version"]
            rationale = body["rationale"]
            total = rationale["base_value"] + sum(
                c["contribution"] for c in rationale["contributions"]
            )
            assert abs(total - rationale["log_odds"]) <= 1e-6
            assert "automated system" in body["notice"]
    assert seen["approve"] == ("approved", "approve")
    assert seen["decline"][1] == "decline" and seen["decline"][0] in ("declined", "referred")
    assert seen["uncertain"] == ("referred", "uncertain")


def test_bad_inputs_get_clear_errors(service: tuple, engine: DecisionEngine) -> None:
    url, keys, _ = service
    good = rows_by_path(engine, "credit-eligibility", per_path=1)["approve"][0]
    app = keys["application"]
    cases: list[tuple[object, int, list[str]]] = [
        ({"use_case": "credit-eligibility"}, 400, ["features: Field required"]),
        (
            {"use_case": "credit-eligibility", "features": good, "colour": "red"},
            400,
            ["colour: Extra inputs are not permitted; got 'red'"],
        ),
        (
            {
                "use_case": "credit-eligibility",
                "features": good,
                "automated_decision_consent": "perhaps",
            },
            400,
            ["automated_decision_consent", "'perhaps'"],
        ),
        (
            {"use_case": "credit-eligibility", "features": {**good, "Amount": "lots"}},
            400,
            ["must be a finite number; got 'lots'"],
        ),
        (
            {"use_case": "credit-eligibility", "features": {**good, "Amount": 99999}},
            400,
            ["must be between 100 and 5000; got 99999"],
        ),
        (
            {"use_case": "credit-eligibility", "features": {**good, "Home": "castle"}},
            400,
            [
                "unknown category 'castle'; allowed: ['owner', 'rent', 'parents', 'priv', 'other', 'ignore']"
            ],
        ),
        (
            {
                "use_case": "credit-eligibility",
                "features": {k: v for k, v in good.items() if k != "Debt"},
            },
            400,
            ["features", "Debt", "required feature is missing"],
        ),
        (
            {"use_case": "mortgage", "features": good},
            404,
            [
                "unknown use case 'mortgage'; served use cases: ['credit-eligibility', 'retention-propensity', 'synthetic-eligibility']"
            ],
        ),
    ]
    for body, status, fragments in cases:
        r = _post(url, app, body)
        assert r.status_code == status, (body, r.text)
        for fragment in fragments:
            assert fragment in r.text, (fragment, r.text)
    malformed = httpx.post(
        f"{url}/decide",
        content=b'{"use_case": "credit-eligibility", "features": ',
        headers={"Authorization": f"Bearer {app}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert malformed.status_code == 400 and "Invalid JSON" in malformed.text
    huge = _post(
        url,
        app,
        {"use_case": "credit-eligibility", "features": good, "application_ref": "x" * 100_000},
    )
    assert huge.status_code == 413 and "the limit is 65536 bytes" in huge.text
    # the same body sent in chunks, without Content-Length: refused too, not a 500
    body = json.dumps(
        {"use_case": "credit-eligibility", "features": good, "application_ref": "x" * 100_000}
    ).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    chunked = httpx.post(
        f"{url}/decide",
        headers={"Authorization": f"Bearer {app}", "Content-Type": "application/json"},
        content=chunks(),
        timeout=30,
    )
    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in chunked.request.headers
    assert chunked.status_code == 413, chunked.text
    assert "over the limit of 65536 bytes" in chunked.text
    # a small chunked body is decided as usual
    small = json.dumps({"use_case": "credit-eligibility", "features": good}).encode()
    fine = httpx.post(
        f"{url}/decide",
        headers={"Authorization": f"Bearer {app}", "Content-Type": "application/json"},
        content=iter([small[:10], small[10:]]),
        timeout=30,
    )
    assert fine.status_code == 200, fine.text


def test_hostile_bodies_get_clear_4xx_answers(service: tuple) -> None:
    url, keys, _ = service
    auth = {"Authorization": f"Bearer {keys['application']}"}
    as_json = {**auth, "Content-Type": "application/json"}
    decide = json.dumps({"use_case": "credit-eligibility", "features": {"Amount": 1}})

    def post(content: bytes | str, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{url}/decide", content=content, headers=headers, timeout=30)

    # a JSON body labelled otherwise, or not labelled, is refused naming the header
    for media in ("text/plain", "application/x-www-form-urlencoded"):
        wrong = post(decide, {**auth, "Content-Type": media})
        assert wrong.status_code == 415
        assert (
            f"'Content-Type' must be 'application/json' for a request body; got '{media}'"
            in (wrong.json()["error"])
        )
    unlabelled = post(decide.encode(), auth)
    assert unlabelled.status_code == 415 and "got '(none)'" in unlabelled.json()["error"]
    # deeply nested JSON and numbers too large for a float: 400 saying why, never 500
    nested = post("[" * 5000 + "]" * 5000, as_json)
    assert nested.status_code == 400 and "recursion limit exceeded" in nested.text
    huge_int = post(
        '{"use_case":"credit-eligibility","features":{"Amount":' + "9" * 5000 + "}}", as_json
    )
    assert huge_int.status_code == 400 and "number out of range" in huge_int.text
    huge_float = post('{"use_case":"credit-eligibility","features":{"Amount":1e400}}', as_json)
    assert huge_float.status_code == 400
    assert "must be a finite number; got inf" in huge_float.text
    assert any(
        d["loc"] == ["features", "Amount"] and "finite" in d["msg"]
        for d in huge_float.json()["detail"]
    )
    not_an_object = post("[1, 2]", as_json)
    assert not_an_object.status_code == 400 and "valid dictionary" in not_an_object.text


def test_keys_and_roles(service: tuple) -> None:
    url, keys, _ = service
    body = {"use_case": "credit-eligibility", "features": {}}
    assert _post(url, None, body).status_code == 401
    r = _post(url, "dk_000000000000_notarealsecret", body)
    assert r.status_code == 401 and "unknown or revoked" in r.text
    r = _post(url, keys["reviewer"], body)
    assert r.status_code == 403 and "role 'reviewer' may not POST /decide" in r.text
    r = _post(url, keys["application"], {}, path="/admin/reload")
    assert r.status_code == 403
    assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200


def test_read_back_and_personal_data_needs_a_purpose(
    service: tuple, engine: DecisionEngine
) -> None:
    url, keys, settings = service
    features = rows_by_path(engine, "credit-eligibility", per_path=1)["approve"][0]
    made = _post(
        url,
        keys["application"],
        {"use_case": "credit-eligibility", "features": features, "application_ref": "APP-9"},
    ).json()
    auditor = {"Authorization": f"Bearer {keys['auditor']}"}
    got = httpx.get(f"{url}/decisions/{made['decision_id']}", headers=auditor, timeout=30)
    assert got.status_code == 200 and got.json()["score"] == made["score"]
    assert "personal" not in got.json()
    refused = httpx.get(
        f"{url}/decisions/{made['decision_id']}?personal=true", headers=auditor, timeout=30
    )
    assert refused.status_code == 400 and "stated purpose" in refused.text
    ok = httpx.get(
        f"{url}/decisions/{made['decision_id']}",
        params={"personal": "true", "purpose": "quarterly fair-lending audit"},
        headers=auditor,
        timeout=30,
    )
    assert ok.status_code == 200 and ok.json()["personal"]["application_ref"] == "APP-9"
    log = DecisionLog(settings.database_url)
    access = [e for e in log.entries_for(made["decision_id"]) if e.kind == "access"]
    assert access and access[-1].digest["purpose"] == "quarterly fair-lending audit"
    assert httpx.get(f"{url}/decisions/nope", headers=auditor, timeout=30).status_code == 404


def test_stop_switch_and_reload_over_http(service: tuple, engine: DecisionEngine) -> None:
    url, keys, _ = service
    admin = keys["admin"]
    features = rows_by_path(engine, "synthetic-eligibility", per_path=1)["approve"][0]
    body = {"use_case": "synthetic-eligibility", "features": features}
    assert (
        _post(
            url,
            admin,
            {"use_case": "synthetic-eligibility", "reason": "drift alarm"},
            "/admin/stop",
        ).status_code
        == 200
    )
    stopped = _post(url, keys["application"], body).json()
    assert (
        stopped["outcome"] == "referred" and stopped["referral_reasons"][0]["rule"] == "stop_switch"
    )
    assert (
        _post(
            url,
            admin,
            {"use_case": "synthetic-eligibility", "reason": "drift cleared"},
            "/admin/resume",
        ).status_code
        == 200
    )
    assert _post(url, keys["application"], body).json()["outcome"] == "approved"
    reloaded = _post(url, admin, {}, "/admin/reload")
    assert reloaded.status_code == 200 and reloaded.json()["changed"] == {}
    verified = httpx.get(
        f"{url}/log/verify", headers={"Authorization": f"Bearer {keys['auditor']}"}, timeout=30
    )
    assert verified.json()["ok"] is True, json.dumps(verified.json())


def test_log_verify_and_replay_through_the_cli(
    service: tuple, engine: DecisionEngine, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    url, keys, settings = service
    features = rows_by_path(engine, "retention-propensity", per_path=1)["decline"][0]
    made = _post(
        url, keys["application"], {"use_case": "retention-propensity", "features": features}
    ).json()
    exe = str(Path(sys.executable).with_name("docket"))
    env = {**os.environ, **settings.as_env()}
    verify = subprocess.run(
        [exe, "log", "verify"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert verify.returncode == 0 and verify.stdout.startswith("ok:"), verify.stdout + verify.stderr
    replay = subprocess.run(
        [exe, "replay", made["decision_id"], "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert replay.returncode == 0, replay.stderr
    assert json.loads(replay.stdout)["identical"] is True


def _get(url: str, key: str | None, path: str, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}{path}", params=params, headers=headers, timeout=30)


def test_personal_data_by_role_and_every_read_is_logged(
    service: tuple, engine: DecisionEngine
) -> None:
    # given: a decision requested by one application key
    url, keys, settings = service
    features = rows_by_path(engine, "credit-eligibility", per_path=1)["approve"][0]
    made = _post(
        url,
        keys["application"],
        {"use_case": "credit-eligibility", "features": features, "application_ref": "APP-77"},
    ).json()
    path = f"/decisions/{made['decision_id']}"
    purpose = "complaint 4411 investigation"

    # then: the requesting application reads it back, and its own data when it asks
    own = _get(url, keys["application"], path)
    assert own.status_code == 200 and own.json()["decision_id"] == made["decision_id"]
    assert "personal" not in own.json() and "APP-77" not in own.text
    own_data = _get(url, keys["application"], path, personal="true")
    assert own_data.status_code == 200
    assert own_data.json()["personal"]["application_ref"] == "APP-77"
    # another application may not read it at all, with or without personal data
    for personal in ("false", "true"):
        other = _get(url, keys["other application"], path, personal=personal, purpose=purpose)
        assert other.status_code == 403 and "only the decisions it requested" in other.text
    # reviewers read personal data only through a case they claimed, never here
    for who in ("reviewer", "person reviewer", "person senior_reviewer"):
        refused = _get(url, keys[who], path, personal="true", purpose=purpose)
        assert refused.status_code == 403, (who, refused.text)
        assert "may not read a person's data" in refused.text
    short = _get(url, keys["auditor"], path, personal="true", purpose="audit")
    assert short.status_code == 400 and "got 'audit'" in short.text
    for role in ("auditor", "admin"):
        ok = _get(url, keys[role], path, personal="true", purpose=purpose)
        assert ok.status_code == 200 and ok.json()["personal"]["application_ref"] == "APP-77"
    # every read of the person's data is an access entry, with its purpose
    log = DecisionLog(settings.database_url)
    reads = [e.digest for e in log.entries_for(made["decision_id"]) if e.kind == "access"]
    assert [r["purpose"] for r in reads] == [
        "the requesting application reads back its own decision",
        purpose,
        purpose,
    ]
    log.close()


def _route_exists(response: httpx.Response) -> bool:
    """False for the framework's own 404 (no such route); a route's 'no such id' is fine."""
    return response.status_code != 404 or response.json() != {"detail": "Not Found"}


def _example_path(template: str, decision_id: str) -> str:
    """A concrete path for a route template (ids that do not exist still reach the route)."""
    path = (
        template.replace("{decision_id}", decision_id)
        .replace("{asset}", "index.css")
        .replace("{request_id}", "abcdef012345")
        .replace("{case_id}", "0123456789abcdef")
        .replace("{name}", "console.css")
        .replace("{use_case}", "credit-eligibility")
        .replace("{version}", "1")
        .replace("{person_id}", "0123456789abcdef")
        .replace("{key_id}", "0123456789ab")
        .replace("{entry_id}", "0123456789abcdef")
        .replace("{window}", "week")
    )
    assert "{" not in path, f"no example value for the parameter of {template}"
    return path


def test_every_route_answers_exactly_the_roles_the_table_names(
    service: tuple, engine: DecisionEngine
) -> None:
    # given: a real decision id for templated paths, and every role's key
    from serving.http.service import ROUTES

    url, keys, _ = service
    features = rows_by_path(engine, "credit-eligibility", per_path=1)["approve"][0]
    decision_id = _post(
        url, keys["application"], {"use_case": "credit-eligibility", "features": features}
    ).json()["decision_id"]
    # applications use keys; people (every other role) use their personal tokens
    callers = {"application": keys["application"]} | {
        role: keys[f"person {role}"] for role in ("reviewer", "senior_reviewer", "auditor", "admin")
    }
    for rule in ROUTES.rules:
        if rule.path.startswith("/console"):
            # the console signs people in with a session cookie, not a bearer token:
            # tests/serving/http/console/test_session_pages.py checks its roles
            continue
        path = _example_path(rule.path, decision_id)

        def call(key: str | None, rule_method: str = rule.method, p: str = path) -> httpx.Response:
            # POST bodies are empty: the routes answer 400, nothing is decided or switched
            headers = {"Authorization": f"Bearer {key}"} if key else {}
            return httpx.request(
                rule_method,
                f"{url}{p}",
                json={} if rule_method == "POST" else None,
                headers=headers,
                timeout=60,
            )

        # then: without a key, 401 unless the route is open
        anonymous = call(None)
        if rule.open:
            assert anonymous.status_code not in (401, 403, 404, 405), (rule, anonymous.status_code)
            continue
        assert anonymous.status_code == 401, (rule, anonymous.status_code)
        for role, token in callers.items():
            got = call(token)
            if role in rule.roles:
                assert got.status_code not in (401, 403, 405), (rule, role, got.text)
                assert _route_exists(got), (rule, role, got.text)
            else:
                assert got.status_code == 403, (rule, role, got.status_code)
                assert f"allowed roles: {sorted(rule.roles)}" in got.text


def test_docs_route_leads_to_the_api_documentation(service: tuple) -> None:
    url, _, _ = service
    docs = httpx.get(f"{url}/docs", timeout=30, follow_redirects=True)
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = httpx.get(f"{url}/docs.json", timeout=30).json()
    assert "/decide" in spec["paths"]


_ROUTE_MENTION = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE) (/[A-Za-z0-9_{}./-]*)")


def test_every_route_a_user_facing_message_names_answers(
    service: tuple, engine: DecisionEngine
) -> None:
    # given: what people read: decisions (notice, summary, recourse) on every path, the
    # errors of refused requests, and the README
    url, keys, _ = service
    texts = [Path(__file__).resolve().parents[3].joinpath("README.md").read_text()]
    decision_ids = []
    for use_case in ("credit-eligibility", "retention-propensity"):
        for rows in rows_by_path(engine, use_case, per_path=1).values():
            made = _post(url, keys["application"], {"use_case": use_case, "features": rows[0]})
            texts.append(made.text)
            decision_ids.append(made.json()["decision_id"])
    texts.append(_post(url, None, {}).text)
    texts.append(_post(url, keys["reviewer"], {"use_case": "x", "features": {}}).text)
    texts.append(_post(url, keys["application"], {"use_case": "x", "features": {}}).text)
    texts.append(_get(url, keys["reviewer"], f"/decisions/{decision_ids[0]}", personal="true").text)
    texts.append(_get(url, keys["auditor"], f"/decisions/{decision_ids[0]}", personal="true").text)
    mentioned = {m for text in texts for m in _ROUTE_MENTION.findall(text)}
    assert ("POST", "/decide") in mentioned  # the extraction finds routes at all

    # then: each answers (with the admin key, so roles do not hide a missing route)
    for method, path in sorted(mentioned):
        concrete = _example_path(path.rstrip("."), decision_ids[0])
        got = httpx.request(
            method,
            f"{url}{concrete}",
            json={} if method == "POST" else None,
            headers={"Authorization": f"Bearer {keys['admin']}"},
            timeout=60,
        )
        assert got.status_code != 405 and _route_exists(got), (method, path, got.text)


def test_outcome_labels_and_audit_attributes_over_http(
    service: tuple, engine: DecisionEngine
) -> None:
    url, keys, settings = service
    features = rows_by_path(engine, "credit-eligibility", per_path=1)["approve"][0]
    body = {"use_case": "credit-eligibility", "features": features}
    plain = _post(url, keys["application"], body).json()
    # audit attributes change nothing the model sees; a key outside the spec is refused
    grouped = _post(
        url, keys["application"], {**body, "audit_attributes": {"Age": 61, "Marital": "widow"}}
    )
    assert grouped.status_code == 200, grouped.text
    made = grouped.json()
    assert (made["score"], made["outcome"]) == (plain["score"], plain["outcome"])
    assert made["rationale"]["contributions"] == plain["rationale"]["contributions"]
    refused = _post(url, keys["application"], {**body, "audit_attributes": {"Postcode": "x"}})
    assert refused.status_code == 400, refused.text
    assert refused.json()["detail"][0]["loc"] == ["audit_attributes", "Postcode"]
    # labels: recorded once, unchanged the second time, another application's refused
    label = {"outcomes": [{"decision_id": made["decision_id"], "label": 1}]}
    first = _post(url, keys["application"], label, path="/outcomes")
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == ["recorded"]
    again = _post(url, keys["application"], label, path="/outcomes").json()
    assert [r["status"] for r in again["results"]] == ["unchanged"]
    other = _post(url, keys["other application"], label, path="/outcomes")
    assert [r["status"] for r in other.json()["results"]] == ["forbidden"]
    assert _post(url, keys["reviewer"], label, path="/outcomes").status_code == 403
    log = DecisionLog(settings.database_url)
    labels = [
        e
        for e in log.entries_for(made["decision_id"])
        if e.kind == "admin" and e.digest.get("label") == 1
    ]
    assert len(labels) == 1
