"""The monitoring page in process: current alerts per use case, reports, who may see it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest

from audits.monitoring import Alert
from audits.monitoring.frames import Window
from serving.ledger import LogKind
from serving.monitoring.state import alert_digest, subject_of

from .conftest import Console

USE_CASE = "synthetic-eligibility"
WEEK = Window(kind="week", start=dt.date(2026, 12, 7))


def _alert(what: str, subject: str, **more: object) -> Alert:
    return Alert(
        kind=more.pop("kind", "drift"),  # type: ignore[arg-type]
        severity="alert",
        window=WEEK,
        what=what,
        subject=subject,
        value=0.3712,
        threshold=0.2,
        **more,  # type: ignore[arg-type]
    )


def _record(console: Console, alert: Alert, state: str, use_case: str = USE_CASE) -> None:
    console.engine.log.append(
        LogKind.ADMIN,
        use_case,
        alert_digest(alert, state),  # type: ignore[arg-type]
        subject_id=subject_of(use_case),
    )


def _section(html: str, use_case: str) -> str:
    found = re.search(
        rf'<section class="use-case" data-use-case="{use_case}".*?</section>', html, re.S
    )
    assert found is not None, f"no section for {use_case}"
    return found.group(0)


def test_the_page_shows_the_raised_alerts_of_each_use_case(console: Console) -> None:
    # given: drift on income raised; drift on age raised then cleared; a reviewer gap raised
    _record(console, _alert("psi", "income"), "raised")
    _record(console, _alert("psi", "age"), "raised")
    _record(console, _alert("psi", "age"), "cleared")
    gap = _alert("override_rate_gap", "sex", kind="system", groups=("F", "M"), reviewer="p-17")
    _record(console, gap, "raised")
    client = console.signed_in("Ada Auditor", "auditor")

    # when
    shown = client.get("/console/monitoring")

    # then: two alerts raised, the cleared one not shown
    assert shown.status_code == 200, shown.text
    assert 'data-raised="2"' in shown.text
    section = _section(shown.text, USE_CASE)
    rows = re.findall(r'<tr data-alert="([^"]+)"', section)
    assert rows == ["drift|psi|income||week", "system|override_rate_gap|sex|p-17|week"]
    assert "age" not in section.split("<table", 1)[1]
    assert "F vs M" in section and "p-17" in section and "0.3712" in section
    # and: no report yet, which the page says
    assert "No report yet" in section


def test_a_use_case_without_alerts_says_so(console: Console) -> None:
    client = console.signed_in("Ada Auditor", "auditor")
    shown = client.get("/console/monitoring")
    assert shown.status_code == 200
    assert 'data-raised="0"' in shown.text and "No alert is raised." in shown.text
    # the served use case is listed even with nothing recorded
    assert "No alert is raised." in _section(shown.text, USE_CASE)


def test_a_report_docket_monitor_wrote_is_linked_and_shown(
    console: Console, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a page where `docket monitor` writes it (<DOCKET_HOME>/monitoring/<use case>-<window>.html),
    # in a home of this test's own (the served registry's home is shared and read-only)
    home = console.engine.settings.model_copy(update={"home": tmp_path})
    monkeypatch.setattr(console.engine, "settings", home)
    folder = tmp_path / "monitoring"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{USE_CASE}-week.html").write_text(
        "<!doctype html><title>report</title><p>weekly drift</p>", encoding="utf-8"
    )
    (folder / "notes.txt").write_text("not a report", encoding="utf-8")
    client = console.signed_in("Ada Auditor", "auditor")

    # when
    shown = client.get("/console/monitoring")
    report = client.get(f"/console/monitoring/{USE_CASE}/week")
    missing = client.get(f"/console/monitoring/{USE_CASE}/day")
    traversal = client.get("/console/monitoring/..%2F..%2Fsecrets/week")

    # then: linked from the page, served as the document it is, under the tight policy
    section = _section(shown.text, USE_CASE)
    assert f'href="/console/monitoring/{USE_CASE}/week"' in section
    assert 'data-report="day"' not in section
    assert report.status_code == 200 and "weekly drift" in report.text
    assert "default-src 'none'" in report.headers["content-security-policy"]
    # and: a report never written is a 404 that says how to make one and what exists
    assert missing.status_code == 404
    assert f"docket monitor {USE_CASE} --window day" in missing.text
    assert f"{USE_CASE} (week)" in missing.text
    # and: a path that is no use case and window matches no route: refused, nothing read
    assert traversal.status_code in (403, 404) and "weekly drift" not in traversal.text


def test_who_may_see_the_monitoring_page(console: Console) -> None:
    for roles, status in (
        (("auditor",), 200),
        (("admin",), 200),
        (("senior_reviewer",), 200),
        (("reviewer",), 403),
    ):
        client = console.signed_in(f"Person {roles[0]}", *roles)
        assert client.get("/console/monitoring").status_code == status, roles
    # not signed in: to the sign-in page
    anonymous = console.client().get("/console/monitoring")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/login")
