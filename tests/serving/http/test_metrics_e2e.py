"""``GET /metrics`` of a real ``docket serve`` (two workers): series by route template.

BentoML's own traffic metrics labelled each series with the raw path, so every
distinct ``/decisions/{id}`` added series that were never dropped (memory grew
without bound). The service's metrics are labelled by route template: the number
of series must not grow with the number of distinct ids, and the counts must be
the requests this test made (summed over both workers).
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from models.settings import Settings
from serving.access.keys import create_key
from serving.decisions.engine import DecisionEngine
from serving.ledger import DecisionLog
from tests.conftest import SERVED_LEDGER

from ..paths import rows_by_path
from ..server import docket_server

pytestmark = pytest.mark.e2e

USE_CASE = "credit-eligibility"
DECISIONS = 40
TIMEOUT_S = 30
DECISION_TEMPLATE = "/decisions/{decision_id}"
#: one sample line of the text format: name, labels, value
SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(?:\{(?P<labels>.*)\})? (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _work(served_settings: Settings, work: Path) -> tuple[Settings, str, str]:
    """Settings on a copy of the served ledger; an application key and a monitoring key."""
    shutil.copyfile(served_settings.home / SERVED_LEDGER, work / "decisions.db")
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{work / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    key = create_key(log.engine, "application", "metrics test")[0]
    scraper = create_key(log.engine, "monitoring", "prometheus")[0]
    return settings, key, scraper


@pytest.fixture(scope="module")
def service(
    served_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str, str]]:
    work = tmp_path_factory.mktemp("metrics")
    settings, key, scraper = _work(served_settings, work)
    with docket_server(settings, work, workers=2) as url:
        yield url, key, scraper


def _samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    found = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match is not None, f"not a Prometheus sample line: {line!r}"
        labels = dict(LABEL.findall(match["labels"] or ""))
        found.append((match["name"], labels, float(match["value"])))
    return found


def _scrape(url: str, key: str) -> tuple[str, list[tuple[str, dict[str, str], float]]]:
    got = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT_S)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/plain")
    return got.text, _samples(got.text)


def _count(
    samples: list[tuple[str, dict[str, str], float]], name: str, endpoint: str, method: str
) -> Counter[str]:
    """The recorded count per status of one metric for one route."""
    counts: Counter[str] = Counter()
    for sample_name, labels, value in samples:
        if (
            sample_name == name
            and labels.get("endpoint") == endpoint
            and labels.get("method") == method
        ):
            counts[labels["status"]] += int(value)
    return counts


def test_series_by_route_template_do_not_grow_with_ids(
    service: tuple[str, str, str], engine: DecisionEngine
) -> None:
    # given: a running service with two workers, an application key and a monitoring key
    url, key, scraper = service
    client = httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT_S)
    rows = [r for rs in rows_by_path(engine, USE_CASE, per_path=14).values() for r in rs]
    assert len(rows) >= DECISIONS
    decided: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    ids: list[str] = []
    for features in rows[:DECISIONS]:
        r = client.post(f"{url}/decide", json={"use_case": USE_CASE, "features": features})
        decided[str(r.status_code)] += 1
        if r.status_code == 200:
            ids.append(r.json()["decision_id"])
            outcomes[r.json()["outcome"]] += 1
    assert decided == {"200": DECISIONS}, decided
    read: Counter[str] = Counter()
    unmatched: Counter[str] = Counter()

    def read_decisions(batch: list[str], unknown: list[str], stray: list[str]) -> None:
        for decision_id in batch + unknown:
            read[str(client.get(f"{url}/decisions/{decision_id}").status_code)] += 1
        for path in stray:
            unmatched[str(client.get(f"{url}{path}").status_code)] += 1

    # when: 20 distinct decisions are read (and 5 unknown ids, 5 paths of no route)
    read_decisions(
        ids[:20], [f"no-such-{i}" for i in range(5)], [f"/nowhere/{i}" for i in range(5)]
    )
    text_20, after_20 = _scrape(url, scraper)
    # and: 20 more distinct decisions, 5 more unknown ids, 5 more paths of no route
    read_decisions(
        ids[20:], [f"no-such-{i}" for i in range(5, 10)], [f"/nowhere/{i}" for i in range(5, 10)]
    )
    text_40, after_40 = _scrape(url, scraper)
    client.close()

    # then: the counts are the requests made, by route template, over both workers
    assert read == {"200": 40, "404": 10}, read
    assert _count(after_40, "docket_http_requests_total", DECISION_TEMPLATE, "GET") == read
    assert (
        _count(after_40, "docket_http_request_duration_seconds_count", DECISION_TEMPLATE, "GET")
        == read
    )
    assert _count(after_40, "docket_http_requests_total", "/decide", "POST") == decided
    assert _count(after_20, "docket_http_requests_total", DECISION_TEMPLATE, "GET") == {
        "200": 20,
        "404": 5,
    }
    assert sum(unmatched.values()) == 10 and all(s.startswith("4") for s in unmatched)
    assert _count(after_40, "docket_http_requests_total", "unmatched", "GET") == unmatched
    # and: no request is in progress once all have been answered
    in_progress = [
        value
        for name, labels, value in after_40
        if name == "docket_http_requests_in_progress" and labels["endpoint"] == DECISION_TEMPLATE
    ]
    assert in_progress == [0.0]
    # and: twice the distinct ids, the same series; no raw path is a label
    assert len(after_40) == len(after_20), (len(after_20), len(after_40))
    assert {(n, tuple(sorted(la.items()))) for n, la, _ in after_40} == {
        (n, tuple(sorted(la.items()))) for n, la, _ in after_20
    }
    for raw in [*ids, "no-such-9", "/nowhere/9"]:
        assert raw not in text_40
    assert "no-such-0" not in text_20
    # and: BentoML's own traffic series (labelled by raw path) are not there
    assert "bentoml_api_server_request" not in text_40
    # and: the decisions by outcome, over both workers, are the answers given
    counted = {
        labels["outcome"]: int(value)
        for name, labels, value in after_40
        if name == "docket_decisions_total" and labels["use_case"] == USE_CASE
    }
    assert counted == dict(outcomes), (counted, outcomes)
    # and: the worker answering the scrape read the review queue and the alerts
    up = {
        labels["source"]: value
        for name, labels, value in after_40
        if name == "docket_metrics_source_up"
    }
    assert up == {"review_queue": 1.0, "alerts": 1.0}
    # and: /metrics is refused without a key, and to a key of a role that may not read it
    assert httpx.get(f"{url}/metrics", timeout=TIMEOUT_S).status_code == 401
    refused = httpx.get(
        f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=TIMEOUT_S
    )
    assert refused.status_code == 403, refused.text


def test_metrics_off(served_settings: Settings, tmp_path: Path) -> None:
    # given: the service started with DOCKET_METRICS=0
    settings, _, scraper = _work(served_settings, tmp_path)
    with docket_server(settings, tmp_path, env={"DOCKET_METRICS": "0"}) as url:
        # when: a request is made and /metrics is asked for, with a key that may read it
        assert httpx.get(f"{url}/livez", timeout=TIMEOUT_S).status_code == 200
        got = httpx.get(
            f"{url}/metrics", headers={"Authorization": f"Bearer {scraper}"}, timeout=TIMEOUT_S
        )
        anonymous = httpx.get(f"{url}/metrics", timeout=TIMEOUT_S)
    # then: there are no metrics to read; without a key the route is still refused
    assert anonymous.status_code == 401, anonymous.text
    assert got.status_code == 404, got.text
    assert "docket_http" not in got.text and "bentoml_" not in got.text
