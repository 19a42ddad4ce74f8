"""The web console in a real browser (Debian's Chromium) against a real ``docket serve``.

The module builds its own registry (the synthetic use case, audited PASS and
promoted, with a 2 s minimum review time and a senior reviewer for declines)
and its own decision log. Every page visited is screenshotted under
``build/console-screenshots`` and checked with axe-core: no serious or
critical finding is allowed. Each test makes its own referred decisions.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from serving.access.keys import create_key
from serving.access.people import add_person, disable_person
from serving.ledger import DecisionLog
from tests.console.browser import check_page, chromium
from tests.serving.http.review_setup import USE_CASE, Service, build_registry, case_id_of, data_rows
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

MIN_REVIEW_SECONDS = 2
PEOPLE = {
    "Rae Reviewer": ["reviewer"],
    "Sol Reviewer": ["reviewer"],
    "Ava Auditor": ["auditor"],
    "Adi Admin": ["admin"],
    "Dee Reviewer": ["reviewer"],
}


@dataclass
class Site:
    url: str
    svc: Service
    tokens: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    home = tmp_path_factory.mktemp("console-e2e")
    settings, data_csv = build_registry(home / "registry", MIN_REVIEW_SECONDS)
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {"app": create_key(log.engine, "application", "lending app")[0]}
    for name, roles in PEOPLE.items():
        tokens[name] = add_person(log.engine, name, roles, "test setup")[0]
    log.close()
    with docket_server(settings, home) as url:
        yield Site(url, Service(url, settings, data_rows(data_csv), tokens, {}), tokens)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Paris")
    made.set_default_timeout(15_000)
    yield made
    made.close()


def sign_in(page: Page, site: Site, who: str, *, check: str | None = None) -> None:
    page.goto(f"{site.url}/console/login")
    if check:
        check_page(page, check)
    page.get_by_label("Token").fill(site.tokens[who])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text(f"Signed in as {who}")).to_be_visible()


def test_a_reviewer_works_a_case_and_the_auditor_finds_it_final(
    site: Site, context: BrowserContext
) -> None:
    # given: a referred decision waiting in the queue
    made = site.svc.referred()
    decision_id, case_id = made["decision_id"], case_id_of(made)
    page = context.new_page()

    # when: the reviewer signs in and looks at the queue
    sign_in(page, site, "Rae Reviewer", check="login")
    page.goto(f"{site.url}/console/queue")
    row = page.locator(f"tr[data-case='{case_id}']")
    expect(row).to_be_visible()
    check_page(page, "queue")

    # then: claiming leads to the case, not yet opened: no applicant data shown
    row.get_by_role("button", name=re.compile("Claim")).click()
    expect(page.get_by_role("button", name=re.compile("Open the case"))).to_be_visible()
    expect(page.locator("svg.waterfall")).to_have_count(0)
    check_page(page, "case-claimed")

    # when: resolving before opening
    page.get_by_label("Approve", exact=True).check()
    page.get_by_label("Reason", exact=True).select_option("model_reasons_confirmed")
    page.get_by_role("button", name=re.compile("^Resolve")).click()

    # then: refused by the desk, in words
    expect(page.get_by_text("cannot be resolved before its full case is opened")).to_be_visible()

    # when: opening the case
    page.goto(f"{site.url}/console/cases/{case_id}")
    page.get_by_role("button", name=re.compile("Open the case")).click()

    # then: the chart of contributions, labelled in words, and the reasons
    chart = page.locator("svg.waterfall")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text(re.compile("raises|lowers"))
    expect(page.get_by_role("heading", name=re.compile("Reasons", re.I))).to_be_visible()
    check_page(page, "case")

    # when: after the minimum review time, the reviewer resolves with a reason
    time.sleep(MIN_REVIEW_SECONDS + 0.5)
    page.get_by_label("Approve", exact=True).check()
    page.get_by_label("Reason", exact=True).select_option("model_reasons_confirmed")
    page.get_by_role("button", name=re.compile("^Resolve")).click()
    expect(page.get_by_text("The case is resolved.")).to_be_visible()

    # then: the auditor's search shows the decision as final
    auditor = context.browser.new_context()  # type: ignore[union-attr]
    try:
        other = auditor.new_page()
        sign_in(other, site, "Ava Auditor")
        other.goto(f"{site.url}/console/decisions?decision_id={decision_id}")
        found = other.locator("table.data tbody tr")
        expect(found).to_have_count(1)
        expect(found).to_contain_text("final")
        check_page(other, "decision-search")
        found.get_by_role("link").first.click()
        expect(other.get_by_text(decision_id).first).to_be_visible()
        check_page(other, "decision")
    finally:
        auditor.close()


def test_a_second_reviewer_sees_a_claimed_case_as_taken(
    site: Site, browser: Browser, context: BrowserContext
) -> None:
    # given: Rae claims a case through the console
    made = site.svc.referred()
    case_id = case_id_of(made)
    rae = context.new_page()
    sign_in(rae, site, "Rae Reviewer")
    rae.goto(f"{site.url}/console/queue")
    rae.locator(f"tr[data-case='{case_id}']").get_by_role(
        "button", name=re.compile("Claim")
    ).click()
    expect(rae.get_by_role("button", name=re.compile("Open the case"))).to_be_visible()

    # when: Sol looks at the queue in another browser
    sol_context = browser.new_context()
    try:
        sol = sol_context.new_page()
        sign_in(sol, site, "Sol Reviewer")
        sol.goto(f"{site.url}/console/queue")

        # then: taken by Rae, with no claim button
        row = sol.locator(f"tr[data-case='{case_id}']")
        expect(row).to_contain_text("Taken by Rae Reviewer")
        expect(row.get_by_role("button", name=re.compile("Claim"))).to_have_count(0)
    finally:
        sol_context.close()


def test_an_auditor_opens_the_champions_model_card(site: Site, context: BrowserContext) -> None:
    # given
    page = context.new_page()
    sign_in(page, site, "Ava Auditor")

    # when
    page.goto(f"{site.url}/console/use-cases")
    check_page(page, "use-cases")
    page.get_by_role("link", name=re.compile("champion", re.I)).first.click()

    # then: the card is embedded and names the use case
    frame = page.frame_locator("iframe.document").first
    expect(frame.locator("body")).to_contain_text(USE_CASE)
    check_page(page, "version")


def test_every_auditor_and_admin_page_passes_the_accessibility_check(
    site: Site, browser: Browser, context: BrowserContext
) -> None:
    # given
    auditor = context.new_page()
    sign_in(auditor, site, "Ava Auditor")
    admin_context = browser.new_context()
    try:
        admin = admin_context.new_page()
        sign_in(admin, site, "Adi Admin")

        # when / then
        for path, name in (
            ("/console/promotions", "promotions"),
            ("/console/review-stats", "review-stats"),
            ("/console/ledger", "ledger"),
            ("/console/decisions", "decisions"),
        ):
            auditor.goto(f"{site.url}{path}")
            expect(auditor.get_by_role("heading", level=1)).to_be_visible()
            check_page(auditor, name)
        for path, name in (
            ("/console/admin/switches", "admin-switches"),
            ("/console/admin/people", "admin-people"),
        ):
            admin.goto(f"{site.url}{path}")
            expect(admin.get_by_role("heading", level=1)).to_be_visible()
            check_page(admin, name)
    finally:
        admin_context.close()


def test_an_application_key_cannot_sign_in(site: Site, context: BrowserContext) -> None:
    # given
    page = context.new_page()
    page.goto(f"{site.url}/console/login")

    # when
    page.get_by_label("Token").fill(site.tokens["app"])
    page.get_by_role("button", name="Sign in").click()

    # then
    expect(page.get_by_role("alert")).to_contain_text("API key cannot sign in")
    assert not [c for c in context.cookies() if c["name"] == "docket_session"]
    page.goto(f"{site.url}/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login\?next="))


def test_a_form_without_its_csrf_token_is_refused(site: Site, context: BrowserContext) -> None:
    # given: a signed-in reviewer and a case in the queue
    case_id = case_id_of(site.svc.referred())
    page = context.new_page()
    sign_in(page, site, "Sol Reviewer")

    # when: the claim is posted with the session cookie but without the token
    refused = context.request.post(f"{site.url}/console/cases/{case_id}/claim", form={})
    forged = context.request.post(
        f"{site.url}/console/cases/{case_id}/claim", form={"csrf_token": "not-the-token"}
    )

    # then: refused, and the case is still open
    assert refused.status == 403 and "csrf_token" in refused.text()
    assert forged.status == 403
    page.goto(f"{site.url}/console/queue")
    row = page.locator(f"tr[data-case='{case_id}']")
    expect(row.get_by_role("button", name=re.compile("Claim"))).to_be_visible()


def test_the_session_cookie_and_the_security_headers(site: Site, context: BrowserContext) -> None:
    # given
    page = context.new_page()
    sign_in(page, site, "Rae Reviewer")

    # when
    response = page.goto(f"{site.url}/console/queue")

    # then: a signed, HttpOnly, SameSite=Strict cookie that expires
    assert response is not None
    (cookie,) = [c for c in context.cookies() if c["name"] == "docket_session"]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["expires"] > datetime.now(UTC).timestamp()
    assert cookie["value"].count(".") == 2
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1]
    assert headers["x-frame-options"] == "SAMEORIGIN"
    assert headers["referrer-policy"] == "no-referrer"
    # no inline script on the page
    inline = page.evaluate("() => [...document.scripts].filter(s => !s.src).length")
    assert inline == 0

    # when: signing out
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto(f"{site.url}/console/queue")

    # then: back at the sign-in page; the old cookie value no longer works either
    expect(page).to_have_url(re.compile(r"/console/login"))
    replay = httpx.get(
        f"{site.url}/console/queue",
        cookies={"docket_session": cookie["value"]},
        follow_redirects=False,
    )
    assert replay.status_code == 303


def test_the_queue_reads_with_javascript_off(site: Site, browser: Browser) -> None:
    # given: a browser with scripts off
    case_id = case_id_of(site.svc.referred())
    quiet = browser.new_context(java_script_enabled=False)
    try:
        page = quiet.new_page()

        # when: signing in and reading the queue (plain forms and links)
        sign_in(page, site, "Sol Reviewer")
        page.goto(f"{site.url}/console/queue")

        # then: the case is listed, its deadline in UTC words
        row = page.locator(f"tr[data-case='{case_id}']")
        expect(row).to_be_visible()
        expect(row).to_contain_text("UTC")
    finally:
        quiet.close()


def test_a_disabled_person_is_signed_out_on_their_next_request(
    site: Site, context: BrowserContext
) -> None:
    # given: Dee is signed in and reading the queue
    page = context.new_page()
    sign_in(page, site, "Dee Reviewer")
    page.goto(f"{site.url}/console/queue")
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    # when: an administrator disables Dee
    log = DecisionLog(site.svc.settings.database_url)
    try:
        disable_person(log.engine, "Dee Reviewer", by="test admin")
    finally:
        log.close()

    # then: Dee's very next page is the sign-in page
    page.goto(f"{site.url}/console/queue")
    expect(page).to_have_url(re.compile(r"/console/login"))


def test_a_reviewer_can_sign_in_and_claim_with_the_keyboard_alone(
    site: Site, context: BrowserContext
) -> None:
    # given: a case in the queue
    case_id = case_id_of(site.svc.referred())
    page = context.new_page()
    page.goto(f"{site.url}/console/login")

    # when: typing the token and pressing Enter, then tabbing to the case's Claim button
    page.get_by_label("Token").focus()
    page.keyboard.type(site.tokens["Sol Reviewer"])
    page.keyboard.press("Enter")
    expect(page.get_by_text("Signed in as Sol Reviewer")).to_be_visible()
    page.goto(f"{site.url}/console/queue")
    claim = page.locator(f"tr[data-case='{case_id}']").get_by_role("button", name="Claim")
    for _ in range(60):  # bounded: the queue has a few dozen focusable controls at most
        page.keyboard.press("Tab")
        if claim.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("the Claim button cannot be reached with the Tab key")
    page.keyboard.press("Enter")

    # then: the case is claimed by Sol
    expect(page.get_by_role("button", name=re.compile("Open the case"))).to_be_visible()
