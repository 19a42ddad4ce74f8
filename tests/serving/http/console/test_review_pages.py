"""The reviewer's case pages in process: claim, open (logged), chart, resolve, release, appeals."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from markupsafe import escape

from serving.access import Principal
from serving.decisions.validation import DecideRequest
from tests.serving.paths import rows_by_path

from .conftest import Console, csrf_of

USE_CASE = "synthetic-eligibility"
APP = Principal.local("loan-desk", role="application")
# the shipped synthetic spec's [review] min_review_seconds
MIN_REVIEW_SECONDS = 30


class StepClock:
    """The desk's clock, moved on by hand (no sleeping through the minimum review time)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _decided(console: Console, path: str) -> dict[str, Any]:
    features = rows_by_path(console.engine, USE_CASE)[path][0]
    view = console.engine.decide(DecideRequest(use_case=USE_CASE, features=features), APP)
    return view.model_dump(mode="json")


def _referred(console: Console) -> tuple[str, dict[str, Any]]:
    made = _decided(console, "uncertain")
    assert made["outcome"] == "referred" and made["case_id"], made
    return made["case_id"], made


def _post(client: Any, url: str, page_url: str, **fields: str) -> Any:
    csrf = csrf_of(client.get(page_url).text)
    return client.post(url, data={"csrf_token": csrf, **fields})


def _claimed(console: Console, name: str = "Rita Reviewer") -> tuple[Any, str, dict[str, Any]]:
    client = console.signed_in(name, "reviewer")
    case_id, made = _referred(console)
    done = _post(client, f"/console/cases/{case_id}/claim", "/console/queue")
    assert done.status_code == 303 and done.headers["location"].endswith("?done=claimed")
    return client, case_id, made


def _labels(console: Console) -> list[str]:
    spec = console.engine.served(USE_CASE).spec
    return [f.label for f in spec.features.values()]


def test_the_queue_shows_a_referred_case_with_a_claim_button(console: Console) -> None:
    # given
    client = console.signed_in("Rita Reviewer", "reviewer")
    case_id, _ = _referred(console)

    # when
    queue = client.get("/console/queue")

    # then
    assert queue.status_code == 200
    row = re.search(rf'<tr[^>]*data-case="{case_id}".*?</tr>', queue.text, re.S)
    assert row is not None and f'action="/console/cases/{case_id}/claim"' in row.group(0)
    assert ">Claim</button>" in row.group(0)


def test_a_claimed_case_shows_the_open_button_and_no_personal_data(console: Console) -> None:
    # given
    client, case_id, made = _claimed(console)

    # when
    shown = client.get(f"/console/cases/{case_id}?done=claimed")

    # then: the summary and the Open button, none of the applicant's data, no read logged
    assert shown.status_code == 200
    assert "You claimed the case" in shown.text
    assert f'action="/console/cases/{case_id}/open"' in shown.text and "Open the case" in shown.text
    assert "uncertain score" in shown.text  # the referral rule, in words
    assert "<svg" not in shown.text
    assert not [label for label in _labels(console) if f">{label}<" in shown.text]
    reads = [e for e in console.engine.log.entries_for(made["decision_id"]) if e.kind == "access"]
    assert reads == []


def test_resolving_before_opening_is_refused_by_the_desk(console: Console) -> None:
    # given: claimed, not opened; the resolve form is offered to the holder
    client, case_id, _ = _claimed(console)
    page = client.get(f"/console/cases/{case_id}")
    assert f'action="/console/cases/{case_id}/resolve"' in page.text

    # when
    refused = client.post(
        f"/console/cases/{case_id}/resolve",
        data={
            "csrf_token": csrf_of(page.text),
            "outcome": "approved",
            "reason_code": "model_reasons_confirmed",
            "note": "",
        },
    )

    # then: the desk's own message (R8), and the case is still claimed
    assert refused.status_code == 409
    assert "cannot be resolved before its full case is opened" in refused.text
    assert console.desk.get(case_id).status == "claimed"


def test_opening_shows_data_chart_reasons_and_logs_the_read(console: Console) -> None:
    # given
    client, case_id, made = _claimed(console)

    # when
    shown = _post(client, f"/console/cases/{case_id}/open", f"/console/cases/{case_id}")

    # then: the answer is the opened case: the data and the chart
    assert shown.status_code == 200, shown.text
    text = shown.text
    assert "The applicant's data" in text and "Open the case" not in text
    assert all(f">{label}<" in text or f">{label} (" in text for label in _labels(console))
    svg = re.search(r"<svg[^>]*>.*?</svg>", text, re.S)
    assert svg is not None and 'role="img"' in svg.group(0) and "aria-label=" in svg.group(0)
    contributions = made["rationale"]["contributions"]
    rows = re.findall(r'data-direction="(raises|lowers|neutral)"', svg.group(0))
    assert len(rows) == len(contributions)
    expected = ["raises" if c["contribution"] > 0 else "lowers" for c in contributions]
    assert rows == expected  # one bar per contribution, in order, in words
    assert ("raises the score" in svg.group(0)) == ("raises" in expected)
    assert ("lowers the score" in svg.group(0)) == ("lowers" in expected)
    assert text.count('class="bar-total"') == 2  # the reference and the score
    for reason in made["reasons"]:
        assert reason["text"] in text
    score = f"{made['score'] * 100:.1f}%"
    assert score in text
    # every view of the data is a logged read with the case as purpose
    reads = [e for e in console.engine.log.entries_for(made["decision_id"]) if e.kind == "access"]
    assert len(reads) == 1 and reads[0].digest["purpose"] == f"review of case {case_id}"
    assert reads[0].digest["reader"] == "Rita Reviewer"
    # the history lists the claim and the opening
    assert "claimed" in text and "opened" in text


def test_each_view_of_the_opened_case_is_another_logged_read(console: Console) -> None:
    # given: opened once
    client, case_id, made = _claimed(console)
    _post(client, f"/console/cases/{case_id}/open", f"/console/cases/{case_id}")
    before = len(
        [e for e in console.engine.log.entries_for(made["decision_id"]) if e.kind == "access"]
    )

    # when
    client.get(f"/console/cases/{case_id}")

    # then
    after = len(
        [e for e in console.engine.log.entries_for(made["decision_id"]) if e.kind == "access"]
    )
    assert after == before + 1


def test_resolving_waits_for_the_minimum_review_time_then_resolves(console: Console) -> None:
    # given: the desk's clock is moved by hand; the case is claimed and opened
    clock = StepClock()
    console.desk.clock = clock
    client, case_id, _ = _claimed(console)
    _post(client, f"/console/cases/{case_id}/open", f"/console/cases/{case_id}")
    form = {"outcome": "approved", "reason_code": "model_reasons_confirmed", "note": "checked"}

    # when: at once
    clock.advance(MIN_REVIEW_SECONDS - 1)
    early = _post(client, f"/console/cases/{case_id}/resolve", f"/console/cases/{case_id}", **form)

    # then: refused with the desk's message
    assert early.status_code == 409 and f"at least {MIN_REVIEW_SECONDS} s must pass" in early.text

    # when: after the minimum review time
    clock.advance(2)
    done = _post(client, f"/console/cases/{case_id}/resolve", f"/console/cases/{case_id}", **form)

    # then
    assert done.status_code == 303 and done.headers["location"] == "/console/queue?done=resolved"
    assert "The case is resolved." in client.get(done.headers["location"]).text
    resolved = console.desk.get(case_id)
    assert (resolved.status, resolved.outcome, resolved.resolved_by_name) == (
        "resolved",
        "approved",
        "Rita Reviewer",
    )


def test_a_form_without_an_outcome_is_refused_naming_the_field(console: Console) -> None:
    # given
    client, case_id, _ = _claimed(console)

    # when
    bad = _post(
        client,
        f"/console/cases/{case_id}/resolve",
        f"/console/cases/{case_id}",
        reason_code="model_reasons_confirmed",
    )

    # then
    assert bad.status_code == 400 and "outcome" in bad.text


def test_a_second_reviewer_sees_the_case_taken(console: Console) -> None:
    # given
    _, case_id, _ = _claimed(console, "Rita Reviewer")
    other = console.signed_in("Sam Second", "reviewer")

    # when
    shown = other.get(f"/console/cases/{case_id}")
    queue = other.get("/console/queue")

    # then: no Claim, no Open, no resolve form
    assert shown.status_code == 200 and "Taken by Rita Reviewer" in shown.text
    assert "/open" not in shown.text and "/resolve" not in shown.text and "/claim" not in shown.text
    assert "Taken by Rita Reviewer" in queue.text


def test_releasing_returns_the_case_to_the_queue(console: Console) -> None:
    # given
    client, case_id, _ = _claimed(console)

    # when
    done = _post(client, f"/console/cases/{case_id}/release", f"/console/cases/{case_id}")
    queue = client.get(done.headers["location"])

    # then
    assert done.status_code == 303 and done.headers["location"] == "/console/queue?done=released"
    assert "The case went back to the queue." in queue.text
    assert f'action="/console/cases/{case_id}/claim"' in queue.text
    assert console.desk.get(case_id).status == "open"


def test_an_appeal_shows_the_statement_beside_the_original_decision(console: Console) -> None:
    # given: an automated decline, appealed by the person
    made = _decided(console, "decline")
    assert made["outcome"] == "declined", made
    statement = "My income rose last month; please look again."
    filed = console.desk.appeal(made["decision_id"], statement=statement, filed_by="applicant")
    case_id = filed.case.case_id
    client = console.signed_in("Ada Appeals", "reviewer")
    _post(client, f"/console/cases/{case_id}/claim", "/console/queue")

    # when
    _post(client, f"/console/cases/{case_id}/open", f"/console/cases/{case_id}")
    shown = client.get(f"/console/cases/{case_id}")

    # then: marked as an appeal, the statement, the original decision, the recourse
    text = shown.text
    assert shown.status_code == 200
    assert "<h1>Appeal " in text and "This is an appeal." in text
    assert statement in text
    assert "The decision under appeal" in text and "the model (automated)" in text
    assert "declined" in text
    assert "What the person could change" in text
    assert str(escape(made["recourse"]["message"])) in text  # autoescaped: model&#39;s


def test_the_json_route_opens_and_logs_through_the_same_function(console: Console) -> None:
    # given: a case claimed through the JSON API by a person's key
    token = console.person("Jo Json", "reviewer")
    api = console.client()
    headers = {"Authorization": f"Bearer {token}"}
    case_id, made = _referred(console)
    assert api.post(f"/cases/{case_id}/claim", headers=headers).status_code == 200

    # when
    opened = api.get(f"/cases/{case_id}", headers=headers)

    # then: the full case, and its read logged with the case as purpose
    assert opened.status_code == 200 and opened.json()["personal"]["features"]
    reads = [e for e in console.engine.log.entries_for(made["decision_id"]) if e.kind == "access"]
    assert [(e.digest["reader"], e.digest["purpose"]) for e in reads] == [
        ("Jo Json", f"review of case {case_id}")
    ]


def test_the_recourse_table_shows_values_with_their_units(console: Console) -> None:
    # given: an opened case whose recourse changes a feature with a unit
    client, case_id, made = _claimed(console)
    shown = _post(client, f"/console/cases/{case_id}/open", f"/console/cases/{case_id}").text
    spec = console.engine.served(USE_CASE).spec
    recourse = made["recourse"]
    changes = recourse["changes"] if recourse["found"] else recourse["best_attempt"]
    with_unit = [c for c in changes if spec.features[c["feature"]].unit]
    assert with_unit, changes  # the synthetic spec's income and debt are in EUR
    # then: each value is written with its unit, as a person reads it
    for change in with_unit:
        unit = spec.features[change["feature"]].unit
        for value in (change["from_value"], change["to_value"]):
            number = f"{int(value):,}" if float(value).is_integer() else f"{value:,.2f}"
            assert f"<td>{number} {unit}</td>" in shown
