"""No secret ever reaches the service's log or an answer's body, on a real ``docket serve``.

Every kind of credential is used, good and bad (an application key, a person's
token, a console sign-in and its session cookie, unknown tokens, a bad key in
X-API-Key, a sign-in form that does not validate, a decision request that does
not validate); then the captured serve log and every response body are searched
for each secret, whole and for its secret part.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from models.settings import Settings
from serving.access.keys import create_key, split_token
from serving.access.people import add_person
from serving.decisions.engine import DecisionEngine
from serving.ledger import DecisionLog

from ..paths import rows_by_path
from ..server import docket_server

pytestmark = pytest.mark.e2e

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def _parts(token: str) -> list[str]:
    """The token whole and its secret part (what follows ``<prefix>_<id>_``)."""
    split = split_token(token, token.split("_", 1)[0])
    assert split is not None, token
    return [token, split[1]]


def test_no_secret_reaches_the_log_or_a_response_body(
    served_settings: Settings, engine: DecisionEngine, tmp_path: Path
) -> None:
    # given: a private ledger with an application key and two people
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    app_key = create_key(log.engine, "application", "intake app")[0]
    admin_token = add_person(log.engine, "Adi Admin", ["admin"], "test setup")[0]
    reviewer_token = add_person(log.engine, "Rae Reviewer", ["reviewer"], "test setup")[0]
    log.close()
    features = rows_by_path(engine, "credit-eligibility", per_path=1)["approve"][0]
    bad_key = f"dk_{secrets.token_hex(6)}_{secrets.token_urlsafe(32)}"
    bad_person = f"dp_{secrets.token_hex(8)}_{secrets.token_urlsafe(32)}"
    garbage = f"not-a-token-{secrets.token_urlsafe(24)}"
    # a value in a body that does not validate: BentoML's log must not quote it either
    marker = f"personal-{secrets.token_hex(8)}"
    session_key = secrets.token_hex(32)
    responses: list[httpx.Response] = []

    with docket_server(settings, tmp_path, env={"DOCKET_SESSION_KEY": session_key}) as url:
        api = httpx.Client(base_url=url, timeout=30)

        def call(method: str, path: str, token: str | None = None, **kw: object) -> httpx.Response:
            headers = dict(kw.pop("headers", {}) or {})  # type: ignore[call-overload]
            if token is not None:
                headers["Authorization"] = f"Bearer {token}"
            got = api.request(method, path, headers=headers, **kw)  # type: ignore[arg-type]
            responses.append(got)
            return got

        # when: good credentials
        decided = call(
            "POST",
            "/decide",
            app_key,
            json={"use_case": "credit-eligibility", "features": features},
        )
        by_admin = call("GET", "/cases", admin_token)
        # bad ones, in both headers, and a garbled header
        refused = [
            call("GET", "/cases", bad_key),
            call("GET", "/cases", bad_person),
            call("GET", "/cases", garbage),
            call("GET", "/cases", headers={"X-API-Key": bad_key}),
            call("GET", "/cases", headers={"X-API-Key": app_key + "x"}),
            call("GET", "/cases", headers={"Authorization": f"Basic {admin_token}"}),
        ]
        # requests that fail validation, made with good credentials
        invalid = [
            call(
                "POST", "/decide", app_key, json={"use_case": "credit-eligibility", "features": {}}
            ),
            call(
                "POST",
                "/decide",
                app_key,
                content=b"{not json",
                headers={"content-type": "application/json"},
            ),
            call("POST", "/decide", admin_token, json={"use_case": 7, "features": [marker]}),
        ]
        # the console: refused sign-ins (unknown, too long, wrong field), then a good one
        browser = httpx.Client(base_url=url, timeout=30, follow_redirects=False)

        def sign_in(**form: str) -> httpx.Response:
            page = browser.get("/console/login")
            responses.append(page)
            found = CSRF.search(page.text)
            assert found is not None
            got = browser.post("/console/login", data={"csrf_token": found.group(1), **form})
            responses.append(got)
            return got

        console_refused = [
            sign_in(token=bad_person),
            sign_in(token=reviewer_token + "x" * 400),
            sign_in(token="dp_x", password=reviewer_token),
            sign_in(token=app_key),
        ]
        signed = sign_in(token=reviewer_token, next="/console/queue")
        session_cookie = signed.cookies.get("docket_session")
        queue = browser.get("/console/queue")
        responses.append(queue)
        api.close()
        browser.close()
        time.sleep(0.5)  # let the access log reach the file

    # then: everything was answered as expected (the log below covers real work)
    assert decided.status_code == 200, decided.text
    assert by_admin.status_code == 200
    assert [r.status_code for r in refused] == [401] * len(refused)
    assert [r.status_code for r in invalid] == [400, 400, 400], [r.text[:200] for r in invalid]
    assert [r.status_code for r in console_refused] == [401, 400, 400, 401]
    assert signed.status_code == 303 and session_cookie and queue.status_code == 200

    port = urlsplit(url).port
    served_log = (tmp_path / f"serve-{port}.log").read_text()
    assert "/decide" in served_log, "the access log is not in the captured output"
    secrets_used = {
        "application key": _parts(app_key),
        "admin token": _parts(admin_token),
        "reviewer token": _parts(reviewer_token),
        "unknown key": _parts(bad_key),
        "unknown person token": _parts(bad_person),
        "garbage token": [garbage],
        "session cookie": [session_cookie, session_cookie.split(".")[0]],
        "session key": [session_key],
    }
    assert "Exception on /decide" in served_log, "the refused bodies were not logged at all"
    assert marker not in served_log and "input_value" not in served_log
    for what, values in secrets_used.items():
        for value in values:
            assert value not in served_log, f"the {what} is in the serve log"
            for response in responses:
                assert value not in response.text, (
                    f"the {what} is in the answer to {response.request.method}"
                    f" {response.request.url.path}: {response.text[:300]}"
                )
