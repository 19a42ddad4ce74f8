"""``/docs`` renders the OpenAPI document in a real browser, with the recorded examples.

Swagger UI is BentoML's, served from the service itself (no CDN: these machines have no
network). Chromium opens ``/docs``, follows it to ``/``, and must show an operation for
routes of the document, and the recorded example body of ``POST /decide`` once it is
expanded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.settings import Settings
from serving.ledger import DecisionLog
from tests.console.browser import chromium
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "serving" / "http" / "openapi_examples.json"


@pytest.fixture
def service_url(served_settings: Settings, tmp_path: Path) -> Iterator[str]:
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    DecisionLog(settings.database_url).migrate()
    with docket_server(settings, tmp_path) as url:
        yield url


def test_docs_render_the_operations_and_the_recorded_examples(service_url: str) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(30_000)

        # when: a person opens /docs
        page.goto(f"{service_url}/docs", wait_until="load")
        page.wait_for_selector(".opblock")

        # then: the operations of the document are listed, /decide and /outcomes among them
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        shown = {p.replace("\u200b", "").strip() for p in paths}
        assert {"/decide", "/outcomes", "/decisions/{decision_id}"} <= shown, sorted(shown)

        # and: POST /decide, expanded, shows the example request recorded from a real run
        page.locator(".opblock-post", has_text="/decide").first.locator(
            ".opblock-summary"
        ).first.click()
        page.wait_for_selector(".opblock-body")
        body = page.locator(".opblock-body").first.inner_text()
        recorded = json.loads(EXAMPLES.read_text(encoding="utf-8"))["POST /decide"]["request"]
        assert recorded["application_ref"] in body and recorded["use_case"] in body, body[:2000]
