"""``GET /metrics`` in process: who may read it, and the series read at scrape time.

The real app behind the real gatekeeper (the service's route table), on a private
decision log and the shared read-only registry. Expected values come from what the
test did (decisions made, cases claimed, alert entries written), counted by hand.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from audits.monitoring import Alert
from audits.monitoring.frames import Window
from models.settings import Settings
from serving.access import Gatekeeper, Principal, add_person, create_key
from serving.decisions import DecisionEngine
from serving.decisions.validation import DecideRequest
from serving.http.app import create_app
from serving.http.metrics import METRICS_ROLES, count_decision, scrape_families
from serving.http.routers import ROUTERS
from serving.http.routes import route_table
from serving.http.service import DECIDE
from serving.ledger import LogKind
from serving.ledger.times import parse
from serving.monitoring.state import alert_digest, subject_of
from serving.review import ReviewDesk, open_referral_case
from tests.serving.paths import rows_by_path

USE_CASE = "synthetic-eligibility"
APP = Principal.local("loan-desk", role="application")
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass
class Served:
    engine: DecisionEngine
    desk: ReviewDesk
    app: Gatekeeper

    def client(self, token: str | None = None) -> TestClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return TestClient(
            self.app, base_url="http://127.0.0.1", headers=headers, follow_redirects=False
        )

    def key(self, role: str) -> str:
        return create_key(self.engine.log.engine, role, f"metrics {role}")[0]

    def person(self, role: str) -> str:
        return add_person(self.engine.log.engine, f"Metrics {role}", [role], "test")[0]


@pytest.fixture
def served(
    served_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Served]:
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    # one process, counters in its memory (not the per-process files of docket serve)
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.delenv("DOCKET_METRICS", raising=False)
    engine = DecisionEngine(settings, on_referred=open_referral_case)
    engine.start()
    desk = ReviewDesk(engine.log, spec_for=lambda u: engine.served(u).spec)
    app = create_app()
    app.state.engine = engine
    app.state.desk = desk
    gate = Gatekeeper(app, table=route_table(ROUTERS, DECIDE), engine=engine.log.engine)
    yield Served(engine=engine, desk=desk, app=gate)
    engine.close()


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample line of the text format: (name, labels, value)."""
    found = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"not a Prometheus sample line: {line!r}"
        found.append(
            (match["name"], dict(LABEL.findall(match["labels"] or "")), float(match["value"]))
        )
    return found


def _of(
    found: list[tuple[str, dict[str, str], float]], name: str
) -> dict[tuple[tuple[str, str], ...], float]:
    return {tuple(sorted(la.items())): v for n, la, v in found if n == name}


def _decide(served: Served, path: str, n: int) -> list[str]:
    """``n`` decisions on rows the policy sends down ``path``; counted as POST /decide would."""
    outcomes = []
    for features in rows_by_path(served.engine, USE_CASE, per_path=n)[path][:n]:
        view = served.engine.decide(DecideRequest(use_case=USE_CASE, features=features), APP)
        count_decision(view)
        outcomes.append(view.outcome)
    return outcomes


def test_metrics_needs_a_role_that_may_read_it(served: Served) -> None:
    # given: credentials of every kind
    monitoring, admin_key, app_key = (
        served.key("monitoring"),
        served.key("admin"),
        served.key("application"),
    )
    auditor, reviewer = served.person("auditor"), served.person("reviewer")
    # then: no credential is 401; a role not among auditor, admin, monitoring is 403
    assert served.client().get("/metrics").status_code == 401
    assert served.client(app_key).get("/metrics").status_code == 403
    assert served.client(reviewer).get("/metrics").status_code == 403
    # and: the roles that may read it get the text format
    for token in (monitoring, admin_key, auditor):
        got = served.client(token).get("/metrics")
        assert got.status_code == 200, got.text
        assert got.headers["content-type"].startswith("text/plain")
        assert "docket_metrics_source_up" in got.text
    assert set(METRICS_ROLES) == {"auditor", "admin", "monitoring"}


def test_a_monitoring_key_may_read_nothing_but_metrics(served: Served) -> None:
    # given: a key with the monitoring role
    client = served.client(served.key("monitoring"))
    table = route_table(ROUTERS, DECIDE)
    checked = 0
    # when: every route of the service's own table that is not open is called with it
    for rule in table.rules:
        if rule.open or rule.path == "/metrics":
            continue
        path = re.sub(r"\{[^}]+\}", "0123456789ab", rule.path)
        got = client.request(rule.method, path)
        checked += 1
        if rule.path.startswith("/console"):
            # the console signs in people: a key there is no principal at all
            assert got.status_code in (303, 401), (rule.method, rule.path, got.status_code)
        else:
            # then: refused for its role
            assert got.status_code == 403, (rule.method, rule.path, got.status_code, got.text)
    assert "monitoring" not in {
        r for rule in table.rules for r in rule.roles if rule.path != "/metrics"
    }
    assert checked > 20


def test_decisions_are_counted_by_use_case_and_outcome(served: Served) -> None:
    # given: the counts before (the process's counters are shared by every test in it)
    client = served.client(served.key("monitoring"))
    before = _of(samples(client.get("/metrics").text), "docket_decisions_total")
    # when: decisions down each path of the policy
    outcomes = (
        _decide(served, "approve", 3)
        + _decide(served, "decline", 2)
        + _decide(served, "uncertain", 2)
    )
    after = _of(samples(client.get("/metrics").text), "docket_decisions_total")
    # then: the counter grew by the outcomes the decisions had
    grown = Counter(
        {
            dict(k)["outcome"]: v - before.get(k, 0.0)
            for k, v in after.items()
            if dict(k)["use_case"] == USE_CASE
        }
    )
    assert +grown == Counter(outcomes)
    assert sum(grown.values()) == 7


def test_the_review_queue_by_status_with_the_oldest_case_age(served: Served) -> None:
    # given: three referred decisions (a case each), one of them claimed by a reviewer
    outcomes = _decide(served, "uncertain", 3)
    assert outcomes == ["referred"] * 3
    waiting = served.desk.queue()
    assert len(waiting) == 3
    claimed = waiting[-1]
    served.desk.claim(claimed.case_id, person_id="p-rita", person_name="Rita", roles=["reviewer"])
    created = sorted(parse(c.created_at) for c in waiting)
    # when: the series are read 100 s after the oldest case was opened
    now = created[0] + timedelta(seconds=100)
    found = {f.name: f for f in scrape_families(served.engine.log, now=now)}
    # then: two open and one claimed referral
    cases = {tuple(s.labels.values()): s.value for s in found["docket_review_cases"].samples}
    assert cases == {(USE_CASE, "referral", "open"): 2.0, (USE_CASE, "referral", "claimed"): 1.0}
    # and: the oldest open case is 100 s old (it is the oldest of all: the claimed one was not)
    ages = {
        s.labels["status"]: s.value for s in found["docket_review_oldest_case_age_seconds"].samples
    }
    assert ages["open"] == pytest.approx(100.0, abs=1e-3)
    claimed_at = parse(claimed.created_at)
    assert ages["claimed"] == pytest.approx((now - claimed_at).total_seconds(), abs=1e-3)
    # and: nothing overdue yet; a year later all three are
    assert list(found["docket_review_cases_overdue"].samples) == []
    later = {f.name: f for f in scrape_families(served.engine.log, now=now + timedelta(days=365))}
    assert [s.value for s in later["docket_review_cases_overdue"].samples] == [3.0]
    up = {s.labels["source"]: s.value for s in found["docket_metrics_source_up"].samples}
    assert up == {"review_queue": 1.0, "alerts": 1.0}


def _alert(
    what: str, subject: str, groups: tuple[str, ...] = (), reviewer: str | None = None
) -> Alert:
    return Alert(
        kind="system" if reviewer else "drift",
        severity="alert",
        window=Window(kind="week", start=dt.date(2026, 12, 7)),
        what=what,
        subject=subject,
        value=0.4,
        threshold=0.2,
        groups=groups,
        reviewer=reviewer,
    )


def test_alert_states_from_the_ledger(served: Served) -> None:
    log = served.engine.log

    def record(alert: Alert, state: str) -> None:
        log.append(
            LogKind.ADMIN, USE_CASE, alert_digest(alert, state), subject_id=subject_of(USE_CASE)
        )  # type: ignore[arg-type]

    # given: drift on income raised; drift on age raised then cleared; the same gap for two
    # reviewers, one raised and one cleared
    record(_alert("psi", "income"), "raised")
    record(_alert("psi", "age"), "raised")
    record(_alert("psi", "age"), "cleared")
    gap = ("override_rate_gap", "sex", ("F", "M"))
    record(_alert(*gap, reviewer="p-1"), "raised")
    record(_alert(*gap, reviewer="p-2"), "raised")
    record(_alert(*gap, reviewer="p-2"), "cleared")
    # when: /metrics is read
    text = served.client(served.key("monitoring")).get("/metrics").text
    found = {
        (la["what"], la["subject"], la["group"]): (la["kind"], la["window"], v)
        for n, la, v in samples(text)
        if n == "docket_monitoring_alert" and la["use_case"] == USE_CASE
    }
    # then: raised is 1, cleared 0; the reviewers share one series, raised since one is
    assert found == {
        ("psi", "income", ""): ("drift", "week", 1.0),
        ("psi", "age", ""): ("drift", "week", 0.0),
        ("override_rate_gap", "sex", "F vs M"): ("system", "week", 1.0),
    }
    # and: no reviewer id is a label
    assert "p-1" not in text and "p-2" not in text


def test_metrics_off_answers_404_to_a_reader(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKET_METRICS", "0")
    client = served.client(served.key("monitoring"))
    got = client.get("/metrics")
    assert got.status_code == 404
    assert "DOCKET_METRICS=0" in got.json()["error"]
    assert served.client().get("/metrics").status_code == 401
