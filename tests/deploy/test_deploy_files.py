"""``deploy/``: the Prometheus scrape config and the Grafana dashboard match the service.

Every metric the dashboard's queries name, and every label they select or group by,
must be one ``GET /metrics`` exposes: the test reads ``/metrics`` of the real app (its
route table, gatekeeper and traffic middleware, stacked as ``docket serve`` stacks
them) after a decision down each path of the policy, a referred case (read a year later: overdue) and an alert, so
a renamed metric or label fails here rather than on an empty panel.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from audits.monitoring import Alert
from audits.monitoring.frames import Window
from models.settings import Settings
from serving.access import Gatekeeper, Principal, create_key
from serving.decisions import DecisionEngine
from serving.decisions.validation import DecideRequest
from serving.http.app import create_app
from serving.http.metrics import METRICS_PATH, TrafficMetrics, count_decision
from serving.http.routers import ROUTERS
from serving.http.routes import route_table
from serving.http.service import DECIDE
from serving.ledger import LogKind
from serving.ledger.times import utc_now
from serving.monitoring.state import alert_digest, subject_of
from serving.review import ReviewDesk, open_referral_case
from tests.serving.paths import rows_by_path

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
USE_CASE = "synthetic-eligibility"
APP = Principal.local("loan-desk", role="application")
#: a metric name in a PromQL expression (every Docket metric starts with docket_)
METRIC = re.compile(r"\b(docket_[a-zA-Z0-9_]+)\b")
#: a selector's label matchers: name{a="x", b=~"y"}
SELECTOR = re.compile(r"\b(docket_[a-zA-Z0-9_]+)\{([^}]*)\}")
MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
#: what Prometheus adds to every series of the scrape config's target
TARGET_LABELS = {"job", "instance", "service", "le"}


def _exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    found = json.loads((DEPLOY / "grafana" / "docket.json").read_text(encoding="utf-8"))
    assert isinstance(found, dict)
    return found


@pytest.fixture
def exposed(
    served_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, set[str]]:
    """Metric name -> its label names, from ``/metrics`` of the app after some traffic."""
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("DOCKET_METRICS", raising=False)
    engine = DecisionEngine(settings, on_referred=open_referral_case)
    engine.start()
    try:
        app = create_app()
        app.state.engine = engine
        app.state.desk = ReviewDesk(engine.log, spec_for=lambda u: engine.served(u).spec)
        table = route_table(ROUTERS, DECIDE)
        gate = Gatekeeper(app, table=table, engine=engine.log.engine)
        key = create_key(engine.log.engine, "monitoring", "prometheus")[0]
        client = TestClient(
            TrafficMetrics(gate, table=table),  # type: ignore[arg-type]
            base_url="http://127.0.0.1",
            headers={"Authorization": f"Bearer {key}"},
        )
        # a decision down each path (one referred: a case), counted as POST /decide counts
        for rows in rows_by_path(engine, USE_CASE, per_path=1).values():
            view = engine.decide(DecideRequest(use_case=USE_CASE, features=rows[0]), APP)
            count_decision(view)
        # a request through the traffic middleware (POST /decide is BentoML's, not this app's)
        client.post("/decide", json={})
        alert = Alert(
            kind="drift",
            severity="alert",
            window=Window(kind="week", start=dt.date(2026, 12, 7)),
            what="psi",
            subject="income",
            value=0.4,
            threshold=0.2,
        )
        engine.log.append(
            LogKind.ADMIN, USE_CASE, alert_digest(alert, "raised"), subject_id=subject_of(USE_CASE)
        )
        # read a year on: the referred case is then overdue too, so every family has series
        later = utc_now() + dt.timedelta(days=365)
        monkeypatch.setattr("serving.http.metrics.utc_now", lambda: later)
        got = client.get(METRICS_PATH)
        assert got.status_code == 200, got.text
    finally:
        engine.close()
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(got.text):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_the_scrape_config_reads_metrics_with_a_bearer_credentials_file() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "docket"]
    assert job["metrics_path"] == METRICS_PATH
    assert job["authorization"]["type"] == "Bearer"
    assert job["authorization"]["credentials_file"].startswith("/")
    assert "credentials" not in job["authorization"], "the key belongs in a file, not the config"
    assert job["static_configs"][0]["targets"]
    # the scrape must end before the next one starts
    seconds = {k: int(job[k].rstrip("s")) for k in ("scrape_interval", "scrape_timeout")}
    assert seconds["scrape_timeout"] < seconds["scrape_interval"]


def test_the_dashboard_shows_what_the_issue_asks_for(dashboard: dict[str, Any]) -> None:
    used = {name for expr in _exprs(dashboard) for name in METRIC.findall(expr)}
    # decisions by outcome, /decide latency, queue size and age, alerts
    assert "docket_decisions_total" in used
    assert "docket_http_request_duration_seconds_bucket" in used
    assert {"docket_review_cases", "docket_review_oldest_case_age_seconds"} <= used
    assert "docket_monitoring_alert" in used
    assert any("histogram_quantile(0.99" in e and '"/decide"' in e for e in _exprs(dashboard))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_every_metric_and_label_the_dashboard_uses_is_exposed(
    dashboard: dict[str, Any], exposed: dict[str, set[str]]
) -> None:
    for expr in _exprs(dashboard):
        names = METRIC.findall(expr)
        assert names, f"a query names no Docket metric: {expr}"
        for name in names:
            assert name in exposed, f"{name} (in {expr}) is not exposed by /metrics"
        labels = set(exposed[names[0]]) | TARGET_LABELS
        for name, matchers in SELECTOR.findall(expr):
            for label in MATCHER.findall(matchers):
                assert label in exposed[name] | TARGET_LABELS, f"{name} has no label {label}"
        for grouping in GROUPING.findall(expr):
            for label in (g.strip() for g in grouping.split(",") if g.strip()):
                assert label in labels, f"{names[0]} has no label {label} (in {expr})"
    # and: the check is not vacuous: the scrape had the series the panels read
    assert {"use_case", "outcome"} <= exposed["docket_decisions_total"]
    assert "docket_review_cases" in exposed and "docket_monitoring_alert" in exposed
