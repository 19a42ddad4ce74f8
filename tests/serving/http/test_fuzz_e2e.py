"""Every route of the service, fuzzed from its own OpenAPI document through a real `docket serve`.

schemathesis generates requests for every operation of ``GET /docs.json`` (plus the
three BentoML routes BentoML leaves out of it), schema-valid and schema-violating,
with a fixed seed and a bounded count; each carries a credential holding one of
the route's roles, so it reaches the route code. Every answer must be no server
error and match the document: status code, content type, headers and body. The
longer run (at least 10,000 requests) is ``benchmarks/fuzz.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from serving.http.service import ROUTES
from tests.serving.http.fuzz_setup import (
    KNOWN_GAPS,
    FuzzService,
    api_document,
    fuzz,
    fuzz_service,
    known_gap,
    uncovered,
)
from tests.serving.http.review_setup import build_registry, data_rows
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

SEED = 20_240_613
#: generated requests per operation and mode (schema-valid, schema-violating)
EXAMPLES = 12


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzService]:
    home = tmp_path_factory.mktemp("fuzz-e2e")
    with fuzz_service(home, docket_server, build_registry, data_rows) as running:
        yield running


def test_the_document_has_every_route_of_the_route_table(svc: FuzzService) -> None:
    doc = api_document(svc.url)
    assert uncovered(doc, list(ROUTES.rules)) == []
    # and no operation the gatekeeper does not know
    table = {(r.method.lower(), r.path) for r in ROUTES.rules}
    documented = {(m, p) for p, item in doc["paths"].items() for m in item}
    assert documented <= table, documented - table


def test_fuzzed_routes_answer_no_server_error_and_as_documented(svc: FuzzService) -> None:
    # given: every route of the table, each with a credential holding one of its roles
    rules = list(ROUTES.rules)

    # when
    tally = fuzz(svc, rules, examples=EXAMPLES, seed=SEED)

    # then: every route was called, none answered 5xx, every answer is as documented
    called = set(tally.by_operation)
    assert {f"{r.method} {r.path}" for r in rules} <= called
    assert not [code for code in tally.statuses if code >= 500], tally.statuses
    assert tally.failures == [], "\n\n".join(tally.failures)
    # the known gaps (fixes outside these files) are all still real: none went stale
    for label, title, status in tally.known:
        assert known_gap(label, title, status) is not None
    # enough requests reached the route code to mean something
    assert tally.statuses[200] >= len(rules), tally.statuses
    print(
        f"fuzz: {tally.requests} requests, statuses {dict(sorted(tally.statuses.items()))},"
        f" known documentation gaps {sum(tally.known.values())} of {len(KNOWN_GAPS)} kinds"
    )
