"""The monitoring page for auditors: each use case's current alerts and its reports.

Alerts are read from the ledger (:func:`serving.monitoring.state.current_alerts`, the
latest entry of each alert, raised ones only); a report is the HTML page ``docket
monitor <use case> --window day|week`` last wrote to ``<DOCKET_HOME>/monitoring/``,
served here as the document it is (its plots are inline images) if it exists. The
page lists the use cases the service serves and any other that has an alert or a
report. Reviewer ids in alerts are staff ids, shown as recorded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape

from serving.access import allow
from serving.http.responses import CONSOLE_PAGES
from serving.http.routers import deps
from serving.http.routers.console.audit import DOCUMENT_CSP
from serving.http.routers.console.common import page
from serving.monitoring.state import AlertState, current_alerts

__all__ = ["REPORT_FOLDER", "reports_in", "router"]

router = APIRouter(
    prefix="/console",
    tags=["console"],
    default_response_class=HTMLResponse,
    responses=CONSOLE_PAGES,
)

#: where ``docket monitor`` writes its pages, under the service's home
REPORT_FOLDER = "monitoring"
#: a page's file name: ``<use case>-<day|week>.html`` (as ``docket monitor`` names it)
_REPORT_NAME = re.compile(r"^(?P<use_case>.+)-(?P<window>day|week)\.html$")
_SEEN_BY = ("auditor", "admin", "senior_reviewer")
_MESSAGE_NO_REPORT = (
    "no monitoring report of {use_case!r} for the window {window!r}: `docket monitor"
    " {use_case} --window {window}` writes one; reports here: {found}"
)


@dataclass(frozen=True)
class Report:
    use_case: str
    window: str
    written_at: str
    path: Path

    @property
    def href(self) -> str:
        return f"/console/monitoring/{self.use_case}/{self.window}"


@dataclass(frozen=True)
class UseCaseAlerts:
    name: str
    served: bool
    alerts: tuple[AlertState, ...]
    reports: tuple[Report, ...]


def reports_in(home: Path) -> dict[tuple[str, str], Report]:
    """The reports ``docket monitor`` wrote under ``home``, by (use case, window)."""
    folder = home / REPORT_FOLDER
    if not folder.is_dir():
        return {}
    found = {}
    for path in sorted(folder.iterdir()):
        match = _REPORT_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        report = Report(
            use_case=match["use_case"],
            window=match["window"],
            written_at=written.strftime("%Y-%m-%dT%H:%M:%SZ"),
            path=path,
        )
        found[(report.use_case, report.window)] = report
    return found


@router.get(
    "/monitoring",
    summary="the monitoring page: each use case's current drift, fairness and human-plus-model alerts from the ledger, with links to the reports `docket monitor` wrote",
)
@allow(*_SEEN_BY)
def monitoring_page(request: Request) -> Response:
    engine = deps.engine(request)
    alerts = current_alerts(engine.log)
    reports = reports_in(engine.settings.home)
    served = set(engine.status()["served"])
    names = sorted(served | {a.use_case for a in alerts} | {u for u, _ in reports})
    rows = [
        UseCaseAlerts(
            name=name,
            served=name in served,
            alerts=tuple(a for a in alerts if a.use_case == name),
            reports=tuple(r for (u, _), r in sorted(reports.items()) if u == name),
        )
        for name in names
    ]
    return page(
        request,
        "audit_monitoring.html.j2",
        title="Monitoring",
        use_cases=rows,
        raised=len(alerts),
    )


@router.get(
    "/monitoring/{use_case}/{window}",
    summary="a monitoring report as `docket monitor` wrote it (drift, rates by group with intervals, the human-plus-model table), shown as the document it is",
)
@allow(*_SEEN_BY)
def monitoring_report(use_case: str, window: str, request: Request) -> Response:
    engine = deps.engine(request)
    # only a file the folder listing found is served: the path is never built from input
    reports = reports_in(engine.settings.home)
    report = reports.get((use_case, window))
    if report is None:
        found = sorted(f"{u} ({w})" for u, w in reports) or "none"
        message = _MESSAGE_NO_REPORT.format(use_case=use_case, window=window, found=found)
        return HTMLResponse(
            f'<!doctype html><html lang="en"><meta charset="utf-8"><title>Not found</title>'
            f"<p>{escape(message)}</p></html>",
            status_code=404,
            headers={"Content-Security-Policy": DOCUMENT_CSP},
        )
    return HTMLResponse(
        report.path.read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": DOCUMENT_CSP},
    )
