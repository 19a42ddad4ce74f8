"""The webhook gets each recorded alert once (failures logged, never raised), and an
alert never stops a decision."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from audits.monitoring import Alert, MonitoringReport, Window, WindowCount
from serving.access import Principal
from serving.decisions import DecisionEngine
from serving.decisions.validation import DecideRequest
from serving.ledger.store import DecisionLog
from serving.monitoring.alerts import record_alerts, send_webhook
from serving.monitoring.state import current_alerts
from tests.serving.paths import rows_by_path

WEEK = Window("week", dt.date(2026, 11, 2))


def _report() -> MonitoringReport:
    return MonitoringReport("week", 30, (), (WindowCount(WEEK, 100, 0),), (), (), (), ())


def _alert() -> Alert:
    return Alert("drift", "alert", WEEK, "psi", "Income", 0.4, 0.25)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


def test_each_recorded_alert_is_posted_once(
    tmp_path: Path, receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, got = receiver
    with DecisionLog(f"sqlite:///{tmp_path / 'd.db'}") as log:
        log.migrate()
        written = record_alerts(log, "credit", _report(), [_alert()], webhook=url)
        assert len(written) == 1 and len(got) == 1
        assert got[0]["state"] == "raised" and got[0]["seq"] == written[0].seq
        assert got[0]["use_case"] == "credit" and got[0]["subject"] == "Income"
        # nothing new to record: nothing sent
        assert record_alerts(log, "credit", _report(), [_alert()], webhook=url) == []
        assert len(got) == 1


def test_a_dead_webhook_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # a port nobody listens on (bound then closed)
    server = HTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    port = server.server_address[1]
    server.server_close()
    assert send_webhook(f"http://127.0.0.1:{port}/", {"a": 1}, timeout=2) is False
    with DecisionLog(f"sqlite:///{tmp_path / 'd.db'}") as log:
        log.migrate()
        written = record_alerts(
            log, "credit", _report(), [_alert()], webhook=f"http://127.0.0.1:{port}/"
        )
        assert len(written) == 1 and len(current_alerts(log, "credit")) == 1
    assert "monitoring webhook" in caplog.text


def test_after_an_alert_decide_still_decides_automatically(engine: DecisionEngine) -> None:
    use_case = "credit-eligibility"
    record_alerts(engine.log, use_case, _report(), [_alert()])
    assert [a.what for a in current_alerts(engine.log, use_case)] == ["psi"]
    features = rows_by_path(engine, use_case)["approve"][0]
    view = engine.decide(
        DecideRequest(use_case=use_case, features=features),
        Principal.local("tester", role="application"),
    )
    assert (view.outcome, view.status) == ("approved", "final")
