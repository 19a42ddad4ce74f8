"""Human review end to end: referred decisions worked by people through a real `docket serve`.

The module builds its own small registry (a synthetic use case, mitigated,
audited PASS, promoted) and its own decision log, because review writes. The
synthetic spec's ``[review]`` section is patched before training so that the
minimum review time is short and every declining resolution needs a senior
reviewer (a four-eyes rule each test can hit at will). Each test makes its own
referred decisions, so the tests do not depend on their order.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from serving.access.keys import create_key
from serving.access.people import add_person
from serving.ledger import DecisionLog
from tests.serving.http.review_setup import (
    Service,
    build_registry,
    case_id_of,
    data_rows,
    ok,
    ok_list,
)
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

# 2 s rather than 1: the refusal of a too-early resolution must not depend on the
# round trip of the opening being fast on a loaded machine
MIN_REVIEW_SECONDS = 2


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    home = tmp_path_factory.mktemp("review-e2e")
    settings, data_csv = build_registry(home / "registry", MIN_REVIEW_SECONDS)
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {
        "app": create_key(log.engine, "application", "lending app")[0],
        "other app": create_key(log.engine, "application", "another app")[0],
    }
    ids = {}
    people = {
        "A": ["reviewer"],
        "B": ["reviewer"],
        "C": ["reviewer"],
        "S": ["senior_reviewer"],
        "auditor": ["auditor"],
        # reviewers only the statistics test uses, so their figures are its own
        "D": ["reviewer"],
        "E": ["senior_reviewer"],
    }
    for who, roles in people.items():
        token, person = add_person(log.engine, f"Reviewer {who}", roles, "test setup")
        tokens[who], ids[who] = token, person.person_id
    with docket_server(settings, home) as url:
        yield Service(url, settings, data_rows(data_csv), tokens, ids)


def work_case(
    svc: Service,
    who: str,
    case_id: str,
    outcome: str,
    reason_code: str,
    note: str | None = None,
) -> dict[str, Any]:
    """Claim, open, wait the minimum review time, resolve; the resolution's answer."""
    ok(svc.call("POST", f"/cases/{case_id}/claim", who))
    ok(svc.call("GET", f"/cases/{case_id}", who))
    time.sleep(MIN_REVIEW_SECONDS + 0.2)
    body = {"outcome": outcome, "reason_code": reason_code, "note": note}
    return ok(svc.call("POST", f"/cases/{case_id}/resolve", who, body))


def confirm(svc: Service, who: str, case_id: str) -> dict[str, Any]:
    """A senior reviewer opens the proposed resolution, reads it, and confirms it."""
    opened = ok(svc.call("GET", f"/cases/{case_id}", who))
    assert opened["proposal"] is not None
    time.sleep(MIN_REVIEW_SECONDS + 0.2)
    return ok(svc.call("POST", f"/cases/{case_id}/second-review", who, {"confirm": True}))


def declined_by_review(svc: Service) -> tuple[dict[str, Any], str]:
    """A referred decision A declined and S confirmed (final ``declined``); its case id."""
    made = svc.referred()
    case_id = case_id_of(made)
    proposed = work_case(svc, "A", case_id, "declined", "model_reasons_confirmed")
    assert proposed["case"]["status"] == "awaiting_second_review"
    assert confirm(svc, "S", case_id)["case"]["status"] == "resolved"
    return made, case_id


def test_a_referred_case_is_claimed_opened_and_resolved_by_one_reviewer(svc: Service) -> None:
    # given: a referred decision, waiting in the queue
    made = svc.referred()
    decision_id, case_id = made["decision_id"], case_id_of(made)
    queue = ok_list(svc.call("GET", "/cases", "A", status="open"))
    assert case_id in {c["case_id"] for c in queue}

    # when / then: A claims; B cannot take it while A holds it
    claimed = ok(svc.call("POST", f"/cases/{case_id}/claim", "A"))
    assert claimed["case"]["status"] == "claimed"
    assert claimed["case"]["claimed_by_id"] == svc.ids["A"]
    taken = svc.call("POST", f"/cases/{case_id}/claim", "B")
    assert taken.status_code == 409 and "is claimed by Reviewer A" in taken.text
    # resolving needs the full case opened first
    resolution = {"outcome": "approved", "reason_code": "model_reasons_confirmed"}
    unread = svc.call("POST", f"/cases/{case_id}/resolve", "A", resolution)
    assert unread.status_code == 409 and "cannot be resolved before its full case is opened" in (
        unread.text
    )
    # opening shows the person's data and logs the read with the case as purpose
    opened = ok(svc.call("GET", f"/cases/{case_id}", "A"))
    assert opened["personal"]["features"] == svc.rows[svc.cursor - 1]
    access = [
        e
        for e in DecisionLog(svc.settings.database_url).entries_for(decision_id)
        if e.kind == "access"
    ]
    assert [e.digest["purpose"] for e in access] == [f"review of case {case_id}"]
    assert access[0].digest["reader_key"] == f"person:{svc.ids['A']}"
    # too fast: the minimum review time has not passed
    hasty = svc.call("POST", f"/cases/{case_id}/resolve", "A", resolution)
    assert hasty.status_code == 409 and f"at least {MIN_REVIEW_SECONDS} s must pass" in hasty.text
    time.sleep(MIN_REVIEW_SECONDS + 0.2)
    resolved = ok(svc.call("POST", f"/cases/{case_id}/resolve", "A", resolution))
    assert resolved["case"]["status"] == "resolved"

    # then: the decision is final, decided by A, with its whole history
    read = ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))
    assert read["status"] == "final" and read["automated_outcome"] == "referred"
    final = read["final"]
    assert (final["outcome"], final["decided_by"], final["decided_by_id"]) == (
        "approved",
        "review",
        svc.ids["A"],
    )
    assert final["reason_code"] == "model_reasons_confirmed" and final["case_id"] == case_id
    actions = [h.get("action") for h in read["history"] if h["kind"] == "review_action"]
    assert actions == ["claimed", "opened", "resolved"]
    assert read["decision_id"] == decision_id and read["outcome"] == "referred"
    # the notice says a person reviewed it (JSON and the plain-language page)
    notice = ok(svc.call("GET", f"/decisions/{decision_id}/notice", "app"))
    assert notice["outcome"] == "approved" and notice["reviewed_by_a_person"] is True
    assert "a person reviewed it" in notice["text"]
    page = svc.call("GET", f"/decisions/{decision_id}/notice", "app", format="html")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "a person reviewed it" in page.text and decision_id in page.text


def test_a_decline_waits_for_a_senior_reviewer_and_the_notice_explains_the_appeal(
    svc: Service,
) -> None:
    # given: A proposes to decline a referred decision (the four-eyes rule holds every decline)
    made = svc.referred()
    decision_id, case_id = made["decision_id"], case_id_of(made)
    proposed = work_case(svc, "A", case_id, "declined", "model_reasons_confirmed")

    # then: the case waits for a second review; the decision is not final
    assert proposed["case"]["status"] == "awaiting_second_review"
    assert proposed["case"]["proposed_by_id"] == svc.ids["A"]
    read = ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))
    assert read["status"] == "pending_review"
    pending = svc.call("GET", f"/decisions/{decision_id}/notice", "app")
    assert pending.status_code == 409 and "still pending review" in pending.text
    # A (a reviewer, and the proposer) cannot second-review
    refused = svc.call("POST", f"/cases/{case_id}/second-review", "A", {"confirm": True})
    assert refused.status_code == 403
    # B cannot resolve it either: it is no longer claimable
    grab = svc.call("POST", f"/cases/{case_id}/claim", "B")
    assert grab.status_code == 409 and "awaiting a second review" in grab.text

    # when: S opens the proposal and confirms it
    confirmed = confirm(svc, "S", case_id)

    # then: final declined, decided by A, confirmed by S
    assert confirmed["case"]["second_reviewer_id"] == svc.ids["S"]
    final = ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))["final"]
    assert (final["outcome"], final["decided_by_id"], final["second_reviewer_name"]) == (
        "declined",
        svc.ids["A"],
        "Reviewer S",
    )
    notice = ok(svc.call("GET", f"/decisions/{decision_id}/notice", "app"))
    assert notice["outcome"] == "declined" and notice["adverse"] is True
    assert 1 <= len(notice["reasons"]) <= 4
    model_codes = [r["code"] for r in made["reasons"]]
    assert [r["code"] for r in notice["reasons"]] == model_codes[: len(notice["reasons"])]
    assert notice["appeal_route"] == "POST /appeals" and notice["appeal_by"]
    assert f"You may appeal until {notice['appeal_by']}" in notice["text"]
    assert "POST /appeals" in notice["text"] and decision_id in notice["text"]


def test_an_appeal_goes_to_a_reviewer_who_took_no_part_and_its_resolution_is_final(
    svc: Service,
) -> None:
    # given: a decision declined by A and confirmed by S
    made, referral_case = declined_by_review(svc)
    decision_id = made["decision_id"]
    statement = {"decision_id": decision_id, "statement": "My income rose last month."}

    # then: another application cannot appeal a decision it did not request
    foreign = svc.call("POST", "/appeals", "other app", statement)
    assert foreign.status_code == 403 and "only the decisions it requested" in foreign.text

    # when: the requesting application files the person's appeal
    filed = ok(svc.call("POST", "/appeals", "app", statement))
    appeal_case = filed["case"]["case_id"]

    # then: a linked appeal case, closed to everyone who took part
    assert filed["case"]["kind"] == "appeal" and filed["case"]["appeal_of"] == referral_case
    assert set(filed["case"]["excluded"]) == {svc.ids["A"], svc.ids["S"]}
    assert ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))["status"] == (
        "pending_review"
    )
    seen_by_a = {c["case_id"] for c in ok_list(svc.call("GET", "/cases", "A"))}
    seen_by_c = {c["case_id"] for c in ok_list(svc.call("GET", "/cases", "C"))}
    assert appeal_case not in seen_by_a and appeal_case in seen_by_c
    excluded = svc.call("POST", f"/cases/{appeal_case}/claim", "A")
    assert excluded.status_code == 403 and "may not work its appeal" in excluded.text
    again = svc.call("POST", "/appeals", "app", statement)
    assert again.status_code == 409 and "was already appealed" in again.text

    # when: C, who took no part, works the appeal and approves
    resolved = work_case(svc, "C", appeal_case, "approved", "income_verified", "Payslips seen.")

    # then: the appeal's resolution is the decision's final outcome
    assert resolved["case"]["status"] == "resolved"
    final = ok(svc.call("GET", f"/decisions/{decision_id}", "auditor"))["final"]
    assert (final["status"], final["outcome"], final["decided_by"]) == (
        "final",
        "approved",
        "appeal",
    )
    assert final["decided_by_id"] == svc.ids["C"] and final["case_id"] == appeal_case
    assert final["appeal_case_id"] == appeal_case and final["under_appeal"] is False
    third = svc.call("POST", "/appeals", "app", statement)
    assert third.status_code == 409 and "cannot itself be appealed" in third.text
    notice = ok(svc.call("GET", f"/decisions/{decision_id}/notice", "app"))
    assert notice["outcome"] == "approved" and notice["appeal_by"] is None

    # and: a decision still pending review cannot be appealed yet
    waiting = svc.referred()
    early = svc.call(
        "POST",
        "/appeals",
        "app",
        {"decision_id": waiting["decision_id"], "statement": "I disagree with this."},
    )
    assert early.status_code == 409 and "is still pending review" in early.text


def test_reviewers_see_personal_data_only_through_their_claimed_case(svc: Service) -> None:
    # given: a referred decision claimed by A
    made = svc.referred()
    decision_id, case_id = made["decision_id"], case_id_of(made)
    features = svc.rows[svc.cursor - 1]
    ok(svc.call("POST", f"/cases/{case_id}/claim", "A"))
    path = f"/decisions/{decision_id}"
    purpose = "review quality audit 2024-Q3"

    # then: no reviewer reads the person's data outside a case they hold
    for who in ("A", "B", "S"):
        refused = svc.call("GET", path, who, personal="true", purpose=purpose)
        assert refused.status_code == 403, (who, refused.text)
        assert "may not read a person's data" in refused.text
    plain = ok(svc.call("GET", path, "B"))
    assert "personal" not in plain
    other = svc.call("GET", f"/cases/{case_id}", "B")
    assert other.status_code == 409 and "is claimed by Reviewer A" in other.text
    assert ok(svc.call("GET", f"/cases/{case_id}", "A"))["personal"]["features"] == features

    # when: an auditor reads it with a purpose
    read = ok(svc.call("GET", path, "auditor", personal="true", purpose=purpose))

    # then: the data is there and the read is logged with who and why
    assert read["personal"]["features"] == features
    access = [
        e.digest
        for e in DecisionLog(svc.settings.database_url).entries_for(decision_id)
        if e.kind == "access"
    ]
    assert [(a["reader"], a["purpose"]) for a in access] == [
        ("Reviewer A", f"review of case {case_id}"),
        ("Reviewer auditor", purpose),
    ]
    release = ok(svc.call("POST", f"/cases/{case_id}/release", "A"))
    assert release["case"]["status"] == "open"


def test_the_ledger_verifies_over_http_and_through_the_cli_after_review(svc: Service) -> None:
    # given: review work in the ledger (this test's own, and any the other tests did)
    declined_by_review(svc)

    # when
    verified = ok(svc.call("GET", "/log/verify", "auditor"))
    exe = str(Path(sys.executable).with_name("docket"))
    cli = subprocess.run(
        [exe, "log", "verify"],
        env={**os.environ, **svc.settings.as_env()},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then
    assert verified["ok"] is True, verified
    assert cli.returncode == 0 and cli.stdout.startswith("ok:"), cli.stdout + cli.stderr


def test_reviewer_statistics_count_what_each_reviewer_did(svc: Service) -> None:
    # given: D's three judgments (only this test uses D and E)
    # 1. an uncertain referral approved (no model recommendation to agree with)
    work_case(svc, "D", case_id_of(svc.referred()), "approved", "model_reasons_confirmed")
    # 2. a referral the model would decline, approved against it (an override)
    overridden = case_id_of(svc.high_debt())
    work_case(svc, "D", overridden, "approved", "income_verified", "Debt is being refinanced.")
    # 3. a referral the model would decline, declined (agrees), confirmed by E
    agreed = case_id_of(svc.high_debt())
    assert work_case(svc, "D", agreed, "declined", "model_reasons_confirmed")["case"]["status"] == (
        "awaiting_second_review"
    )
    confirm(svc, "E", agreed)

    # when
    stats = {s["person_id"]: s for s in ok_list(svc.call("GET", "/review/stats", "auditor"))}

    # then: counted by hand from the three actions above
    d, e = stats[svc.ids["D"]], stats[svc.ids["E"]]
    assert (d["person_name"], d["cases"], d["with_recommendation"], d["agreements"]) == (
        "Reviewer D",
        3,
        2,
        1,
    )
    assert d["agreement_rate"] == pytest.approx(0.5)
    assert (d["overrides"], d["overrides_by_reason"], d["second_reviews"]) == (
        1,
        {"income_verified": 1},
        0,
    )
    assert d["median_seconds"] >= MIN_REVIEW_SECONDS
    assert (e["cases"], e["agreement_rate"], e["overrides"], e["second_reviews"]) == (0, None, 0, 1)
