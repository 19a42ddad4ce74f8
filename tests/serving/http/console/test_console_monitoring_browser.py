"""The monitoring page in a real browser (Debian's Chromium) against a real ``docket serve``.

An auditor signs in and opens ``/console/monitoring`` with one raised alert in the
ledger; the page shows it and axe-core finds nothing serious or critical on it
(screenshot under ``build/console-screenshots``).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from audits.monitoring import Alert
from audits.monitoring.frames import Window
from models.settings import Settings
from serving.access.people import add_person
from serving.ledger import DecisionLog, LogKind
from serving.monitoring.state import alert_digest, subject_of
from tests.conftest import SERVED_LEDGER
from tests.console.browser import check_page, chromium
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

USE_CASE = "credit-eligibility"
AUDITOR = "Ava Auditor"


def test_an_auditor_sees_the_raised_alerts_in_a_browser(
    served_copy: Settings, tmp_path: Path
) -> None:
    # given: a service on a private copy of the served registry (the server writes to its
    # home), with its own ledger, an auditor and a raised alert
    shutil.copyfile(served_copy.home / SERVED_LEDGER, tmp_path / "decisions.db")
    settings = served_copy.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    token = add_person(log.engine, AUDITOR, ["auditor"], "test setup")[0]
    alert = Alert(
        kind="fairness",
        severity="alert",
        window=Window(kind="week", start=dt.date(2026, 12, 7)),
        what="approval_impact_ratio",
        subject="sex",
        value=0.61,
        threshold=0.8,
        groups=("F", "M"),
    )
    log.append(
        LogKind.ADMIN, USE_CASE, alert_digest(alert, "raised"), subject_id=subject_of(USE_CASE)
    )
    log.close()
    with docket_server(settings, tmp_path) as url, chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        page = context.new_page()
        page.goto(f"{url}/console/login")
        page.get_by_label("Token").fill(token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_text(f"Signed in as {AUDITOR}")).to_be_visible()

        # when
        page.goto(f"{url}/console/monitoring")

        # then: the alert is in the use case's table, and the page passes the check
        expect(page.get_by_role("heading", level=1)).to_have_text("Monitoring")
        table = page.locator(f'section[data-use-case="{USE_CASE}"] table')
        expect(table).to_contain_text("approval impact ratio")
        expect(table).to_contain_text("F vs M")
        check_page(page, "monitoring")
        context.close()
