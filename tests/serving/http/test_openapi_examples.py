"""Every JSON route's OpenAPI operation carries a real example request and answers.

The examples (``serving/http/openapi_examples.json``) were recorded from a running
``docket serve`` by :func:`_exercise` below; run with
``DOCKET_WRITE_OPENAPI_EXAMPLES=1`` to record them again. The fast tests walk the
document ``GET /docs.json`` answers (``Docket.openapi_spec``) and check that each
JSON route has a request example (when it takes a body), a 200 example and a
refusal example, each validating against the schema the document declares (with
``jsonschema``) and, where the route answers a model's dump, through that model.
The end-to-end test serves a fresh registry, makes the same calls again and checks
that the real answers have the example's keys; it also reads ``/docs`` in order to
check that it leads to the Swagger UI page that reads ``/docs.json``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest
from pydantic import BaseModel

from audits.audit import run_audit
from models.spec import load_spec
from serving.access import add_person, authenticate_person, create_key
from serving.access.waivers import request_waiver_as
from serving.decisions.notice import Notice
from serving.http.examples import EXAMPLES_FILE, add_examples, examples, is_json_route
from serving.http.responses import ErrorBody
from serving.http.service import ROUTES, Docket
from serving.ledger import DecisionLog
from serving.ledger.checkpointing import NO_KEY_STATUS
from serving.ledger.receipts import PendingReceipt, Receipt
from serving.ledger.signing import generate_key, key_file_path
from serving.review.views import ActionResult, Case, OpenedCase, ReviewerStats
from tests.serving.http.review_setup import USE_CASE, build_registry, data_rows
from tests.serving.server import docket_server
from training.train import train_use_case

#: routes whose answer is a model's dump (a list: each item), validated through it too
MODELS: dict[str, tuple[type[BaseModel], ...]] = {
    "GET /decisions/{decision_id}/notice": (Notice,),
    "GET /cases": (Case,),
    "GET /cases/{case_id}": (OpenedCase,),
    "POST /cases/{case_id}/claim": (ActionResult,),
    "POST /cases/{case_id}/release": (ActionResult,),
    "POST /cases/{case_id}/resolve": (ActionResult,),
    "POST /cases/{case_id}/second-review": (ActionResult,),
    "GET /review/stats": (ReviewerStats,),
    "GET /review/overdue": (Case,),
    "GET /ledger/receipts/{entry_id}": (Receipt, PendingReceipt),
}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = Docket.openapi_spec.asdict()  # type: ignore[attr-defined]
    return document


def _json_operations() -> list[tuple[str, str]]:
    """(method, path) of every JSON route of the route table."""
    return sorted((r.method, r.path) for r in ROUTES.rules if is_json_route(r.path))


def _valid(schema: dict[str, Any], value: Any, components: dict[str, Any]) -> str | None:
    # the schema's $refs point into the document's components: resolve them from a root
    root = {**schema, "components": components}
    try:
        jsonschema.validate(value, root)
    except jsonschema.ValidationError as exc:
        return exc.message
    return None


def _through_models(label: str, value: Any) -> str | None:
    models = ErrorBody if label.endswith(" refusal") else MODELS.get(label.split(" (")[0])
    if models is None:
        return None
    candidates = models if isinstance(models, tuple) else (models,)
    items = value if isinstance(value, list) else [value]
    for item in items:
        problems = []
        for model in candidates:
            try:
                model.model_validate(item)
                break
            except ValueError as exc:
                problems.append(str(exc))
        else:
            return f"{label}: not a {[m.__name__ for m in candidates]}: {problems}"
    return None


def _example_values(media: dict[str, Any]) -> list[Any]:
    found = [e["value"] for e in media.get("examples", {}).values()]
    if "example" in media:
        found.append(media["example"])
    return found


def problems_of(document: dict[str, Any]) -> list[str]:
    """What is missing or invalid in the examples of the document's JSON routes."""
    components = document.get("components", {})
    problems: list[str] = []
    for method, path in _json_operations():
        label = f"{method} {path}"
        operation = document["paths"][path][method.lower()]
        if "requestBody" in operation:
            media = operation["requestBody"]["content"]["application/json"]
            bodies = _example_values(media)
            if not bodies:
                problems.append(f"{label}: no request example")
            for body in bodies:
                why = _valid(media.get("schema", {}), body, components)
                if why:
                    problems.append(f"{label}: request example invalid: {why}")
        refusals = 0
        for status, entry in operation["responses"].items():
            media = entry.get("content", {}).get("application/json")
            values = [] if media is None else _example_values(media)
            if str(status) == "200" and not values:
                problems.append(f"{label}: no 200 example")
            if str(status).startswith("4") or str(status).startswith("5"):
                refusals += len(values)
            for value in values:
                why = _valid(media.get("schema", {}), value, components)
                if why:
                    problems.append(f"{label}: {status} example invalid: {why}")
                kind = "refusal" if not str(status).startswith("2") else "answer"
                why = _through_models(f"{label} ({status}) {kind}", value)
                if why:
                    problems.append(why)
        if not refusals:
            problems.append(f"{label}: no refusal example")
    return problems


def test_every_json_route_has_examples_that_validate_against_its_schemas() -> None:
    # given: the document the service answers at GET /docs.json
    document = _document()
    # then: every JSON route has its examples, each valid
    assert problems_of(document) == []
    # and: the JSON routes are what the rule says: every API route, no console page
    labels = {f"{m} {p}" for m, p in _json_operations()}
    assert "POST /decide" in labels and "GET /ledger/public-key" in labels
    assert not [label for label in labels if " /console" in label]
    # and: every recorded example is of a JSON route (none left over)
    assert set(examples()) == labels


def test_a_missing_or_invalid_example_is_named() -> None:
    # given: the document with one route's 200 example taken away ...
    document = _document()
    claim = document["paths"]["/cases/{case_id}/claim"]["post"]
    del claim["responses"]["200"]["content"]["application/json"]["examples"]
    # ... one request example broken (a field the schema forbids)
    stop = document["paths"]["/admin/stop"]["post"]["requestBody"]["content"]["application/json"]
    stop["examples"]["recorded"]["value"] = {"use_case": "x", "reason": "a reason", "extra": 1}
    # ... and one answer that no longer fits the model the route dumps
    opened = document["paths"]["/cases/{case_id}"]["get"]["responses"]["200"]["content"]
    opened["application/json"]["examples"]["recorded"]["value"] = {"case": "not a case"}
    # when / then: each is named
    found = problems_of(document)
    assert "POST /cases/{case_id}/claim: no 200 example" in found
    assert any(p.startswith("POST /admin/stop: request example invalid") for p in found)
    assert any(p.startswith("GET /cases/{case_id} (200) answer: not a") for p in found)
    assert len(found) == 3, found


def test_an_example_of_a_status_the_route_does_not_declare_fails_loudly() -> None:
    paths = {"/appeals": {"post": {"responses": {"200": {}}, "requestBody": _json_body()}}}
    with pytest.raises(AssertionError, match="declares no"):
        _add_only("POST /appeals", paths)


def _json_body() -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"type": "object"}}}}


def _add_only(label: str, paths: dict[str, Any]) -> None:
    # add_examples over all recorded routes needs every path: give it one only
    recorded = examples()[label]
    with_only = {label: recorded}
    import serving.http.examples as module

    saved = module._loaded
    module._loaded = lambda: with_only  # type: ignore[assignment]
    try:
        add_examples(paths)
    finally:
        module._loaded = saved


# -- a real run: the examples are answers the service gives ---------------------------------


def _keys(value: Any) -> Any:
    """The shape compared: an object's keys; a list: its first item's keys (or empty)."""
    if isinstance(value, list):
        return ["list", _keys(value[0]) if value else None]
    if isinstance(value, dict):
        return sorted(value)
    return type(value).__name__


class _Run:
    def __init__(self, url: str, tokens: dict[str, str]) -> None:
        self.url, self.tokens = url, tokens
        self.recorded: dict[str, dict[str, Any]] = {}

    def call(
        self,
        label: str,
        who: str | None,
        path: str,
        body: Any = None,
        *,
        expect: int = 200,
        keep: bool = True,
        **params: Any,
    ) -> Any:
        method = label.split(" ", 1)[0]
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        got = httpx.request(
            method,
            f"{self.url}{path}",
            json=body,
            params=params or None,
            headers=headers,
            timeout=60,
        )
        assert got.status_code == expect, (label, got.status_code, got.text)
        answer = got.json()
        if keep:
            entry = self.recorded.setdefault(label, {"responses": {}})
            if body is not None and expect == 200:
                entry["request"] = body
            entry["responses"].setdefault(str(expect), answer)
        return answer


def _exercise(run: _Run, rows: list[dict[str, Any]], waiver_id: str) -> None:
    """Every JSON route once with success and once refused, as a client would call it."""
    made = []
    for features in rows[:80]:
        made.append(
            run.call(
                "POST /decide",
                "app",
                "/decide",
                {"use_case": USE_CASE, "features": features, "application_ref": "app-0042"},
                keep=False,
            )
        )
    at = next(i for i, d in enumerate(made) if d["outcome"] == "declined")
    final = made[at]
    referred = [d for d in made if d["outcome"] == "referred"]
    assert len(referred) >= 2, [d["outcome"] for d in made]
    decide = {"use_case": USE_CASE, "features": rows[at]}
    run.call("POST /decide", "app", "/decide", {**decide, "application_ref": "app-0042"})
    run.call(
        "POST /decide", "app", "/decide", {"use_case": "no-such-use", "features": {}}, expect=404
    )
    decision = final["decision_id"]
    run.call("GET /decisions/{decision_id}", "app", f"/decisions/{decision}")
    run.call("GET /decisions/{decision_id}", "app", "/decisions/d-unknown", expect=404)
    run.call("GET /decisions/{decision_id}/notice", "app", f"/decisions/{decision}/notice")
    pending = referred[0]["decision_id"]
    run.call(
        "GET /decisions/{decision_id}/notice", "app", f"/decisions/{pending}/notice", expect=409
    )
    # review: one case claimed, opened, resolved and confirmed; another claimed and released
    case, other = referred[0]["case_id"], referred[1]["case_id"]
    run.call("GET /cases", "ada", "/cases", status="open")
    run.call("GET /cases", None, "/cases", expect=401)
    run.call("POST /cases/{case_id}/claim", "ada", f"/cases/{case}/claim")
    run.call("POST /cases/{case_id}/claim", "sam", f"/cases/{case}/claim", expect=409)
    run.call("GET /cases/{case_id}", "ada", f"/cases/{case}")
    run.call("GET /cases/{case_id}", "ada", "/cases/c-unknown", expect=404)
    run.call(
        "POST /cases/{case_id}/resolve",
        "ada",
        f"/cases/{case}/resolve",
        {"outcome": "declined", "reason_code": "looked_fine"},
        expect=400,
    )
    run.call(
        "POST /cases/{case_id}/resolve",
        "ada",
        f"/cases/{case}/resolve",
        {
            "outcome": "declined",
            "reason_code": "model_reasons_confirmed",
            "note": "Debt checked against the statements; the model's reasons hold.",
        },
    )
    run.call(
        "POST /cases/{case_id}/second-review",
        "ada",
        f"/cases/{case}/second-review",
        {"confirm": True},
        expect=403,
    )
    run.call("GET /cases/{case_id}", "sam", f"/cases/{case}", keep=False)
    run.call(
        "POST /cases/{case_id}/second-review",
        "sam",
        f"/cases/{case}/second-review",
        {"confirm": True, "note": "Checked the statements too."},
    )
    run.call("POST /cases/{case_id}/claim", "ada", f"/cases/{other}/claim", keep=False)
    run.call("POST /cases/{case_id}/release", "ada", f"/cases/{other}/release")
    run.call("POST /cases/{case_id}/release", "ada", f"/cases/{other}/release", expect=409)
    run.call("GET /review/stats", "auditor", "/review/stats")
    run.call("GET /review/stats", "app", "/review/stats", expect=403)
    run.call("GET /review/overdue", "auditor", "/review/overdue")
    run.call("GET /review/overdue", "app", "/review/overdue", expect=403)
    appeal = {
        "decision_id": decision,
        "statement": "My debt was paid off last month; the statement is attached.",
        "features": {"debt": 0.0},
    }
    run.call("POST /appeals", "app", "/appeals", appeal)
    run.call("POST /appeals", "app", "/appeals", {**appeal, "decision_id": "d-unknown"}, expect=404)
    # outcome labels: what happened after the decision (one id unknown: refused per item)
    labels = [
        {"decision_id": decision, "label": 0, "observed_at": "2027-06-30T00:00:00Z"},
        {"decision_id": "d-unknown", "label": 1},
    ]
    run.call("POST /outcomes", "app", "/outcomes", {"outcomes": labels})
    run.call("POST /outcomes", None, "/outcomes", {"outcomes": labels}, expect=401)
    # operating the service
    run.call("POST /admin/reload", "admin", "/admin/reload")
    run.call("POST /admin/reload", "auditor", "/admin/reload", expect=403)
    run.call("GET /admin/status", "admin", "/admin/status")
    run.call("GET /admin/status", None, "/admin/status", expect=401)
    switch = {
        "use_case": USE_CASE,
        "reason": "Incident 1234: scores drifting, under investigation.",
    }
    run.call("POST /admin/stop", "admin", "/admin/stop", switch)
    run.call(
        "POST /admin/stop",
        "admin",
        "/admin/stop",
        {**switch, "use_case": "no-such-use"},
        expect=404,
    )
    resumed = {**switch, "reason": "Incident 1234 closed: inputs fixed upstream."}
    run.call("POST /admin/resume", "admin", "/admin/resume", resumed)
    run.call(
        "POST /admin/resume", "admin", "/admin/resume", {**resumed, "use_case": "loans"}, expect=404
    )
    # the ledger: wait for a checkpoint to cover the decision, so its receipt is complete
    entry = final["receipt"]["entry_id"]
    deadline = time.monotonic() + 30
    while not run.call(
        "GET /ledger/receipts/{entry_id}", "auditor", f"/ledger/receipts/{entry}", keep=False
    )["covered"]:
        assert time.monotonic() < deadline, "no checkpoint covered the decision"
        time.sleep(0.5)
    run.call("GET /ledger/receipts/{entry_id}", "app", f"/ledger/receipts/{entry}")
    run.call("GET /ledger/receipts/{entry_id}", "app", "/ledger/receipts/e-unknown", expect=404)
    run.call("GET /log/verify", "auditor", "/log/verify")
    run.call("GET /log/verify", "app", "/log/verify", expect=403)
    run.call("GET /ledger/public-key", None, "/ledger/public-key")
    # its refusal needs a service without a key: the body the route raises then
    refused = ErrorBody(error=NO_KEY_STATUS).model_dump(exclude_none=True)
    run.recorded["GET /ledger/public-key"]["responses"]["503"] = refused
    # waivers: a version that failed its audit, asked for by Sam, approved by Bo
    run.call("GET /promotions", "auditor", "/promotions", status="pending")
    run.call("GET /promotions", "app", "/promotions", expect=403)
    approve = {"note": "Pilot limited to 100 cases, each reviewed by a person."}
    run.call(
        "POST /promotions/{request_id}/approve", "bo", f"/promotions/{waiver_id}/approve", approve
    )
    run.call(
        "POST /promotions/{request_id}/approve",
        "bo",
        f"/promotions/{waiver_id}/approve",
        approve,
        expect=409,
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[_Run, list, str]]:
    home = tmp_path_factory.mktemp("openapi-examples")
    settings, data_csv = build_registry(home / "registry", 0)
    # a second version, trained without mitigation: it FAILS its audit, so a waiver is asked
    spec = load_spec(data_csv.parent / "spec.toml")
    second = train_use_case(spec, settings)
    assert run_audit(spec, settings, version=second.version).outcome == "FAIL"
    generate_key(key_file_path(settings.home))
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {
        "app": create_key(log.engine, "application", "loan-portal")[0],
        "admin": create_key(log.engine, "admin", "ops")[0],
    }
    for who, name, roles in (
        ("ada", "Ada Byron", ["reviewer", "senior_reviewer"]),
        ("sam", "Sam Okafor", ["senior_reviewer"]),
        ("auditor", "Ann Lee", ["auditor"]),
        ("bo", "Bo Chen", ["admin", "auditor"]),
    ):
        tokens[who] = add_person(log.engine, name, roles, "ops")[0]
    sam = authenticate_person(log.engine, tokens["sam"])
    assert sam is not None
    waiver = request_waiver_as(
        sam,
        spec,
        settings,
        second.version,
        "Pilot limited to 100 cases, each reviewed by a person.",
        log=log,
    )
    log.close()
    with docket_server(settings, home, env={"DOCKET_CHECKPOINT_SECONDS": "1"}) as url:
        yield _Run(url, tokens), data_rows(data_csv), waiver.request_id


@pytest.mark.e2e
def test_real_answers_have_the_keys_of_the_examples(served: tuple[_Run, list, str]) -> None:
    # given: a running service; when: every JSON route is called as the examples were
    run, rows, waiver_id = served
    _exercise(run, rows, waiver_id)
    if os.environ.get("DOCKET_WRITE_OPENAPI_EXAMPLES") == "1":
        EXAMPLES_FILE.write_text(json.dumps(run.recorded, indent=1, sort_keys=True) + "\n")
    # then: every JSON route was called, and answered with the keys its examples show
    recorded = examples()
    assert set(run.recorded) == set(recorded)
    for label, got in run.recorded.items():
        assert set(got["responses"]) == set(recorded[label]["responses"]), label
        for status, answer in got["responses"].items():
            shown = recorded[label]["responses"][status]
            assert _keys(answer) == _keys(shown), (label, status)
        assert ("request" in got) == ("request" in recorded[label]), label


@pytest.mark.e2e
def test_docs_leads_to_the_swagger_page_that_reads_the_document(
    served: tuple[_Run, list, str],
) -> None:
    run, _, _ = served
    page = httpx.get(f"{run.url}/docs", timeout=30, follow_redirects=True)
    assert page.status_code == 200 and "swagger-ui" in page.text.lower()
    # the page's initializer script is what points Swagger UI at the document
    assert "swagger-initializer.js" in page.text
    script = httpx.get(f"{run.url}/static_content/swagger-initializer.js", timeout=30)
    assert script.status_code == 200 and "docs.json" in script.text
    served_doc = httpx.get(f"{run.url}/docs.json", timeout=30).json()
    assert problems_of(served_doc) == []
