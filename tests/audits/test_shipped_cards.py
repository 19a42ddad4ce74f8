"""Model cards and audit reports of both shipped use cases, straight from the registry."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from mlflow.tracking import MlflowClient

from audits.audit import latest_report
from audits.card_source import card_for_version
from audits.cards import card_json, missing_sections, render_html, render_markdown
from docket.usecases import resolve_spec
from models import registry
from models.rationale import describe_reference
from models.settings import Settings
from serving.decisions import load_served


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.group_tables = 0
        self.rows = 0
        self._in_group = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and ("class", "groups") in attrs:
            self.group_tables += 1
            self._in_group = True
        elif tag == "tr" and self._in_group:
            self.rows += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_group = False


@pytest.mark.parametrize("use_case", ["credit-eligibility", "retention-propensity"])
def test_every_card_section_is_filled_and_pages_hold_group_tables(
    served_settings: Settings, use_case: str
) -> None:
    client = registry.connect(served_settings)
    spec = resolve_spec(use_case)
    version = registry.alias_version(client, use_case, registry.CHAMPION)
    assert version is not None
    card = card_for_version(client, spec, version)
    assert missing_sections(card) == []
    raw = card_json(card)
    assert {"model_details", "model_parameters", "quantitative_analysis", "considerations"} <= set(
        raw
    )
    # the card states the reference serving measures principal reasons against
    served = load_served(client, use_case, version)
    assert card.reason_codes.reference == describe_reference(served.reference)
    assert "held-out applicants the policy approves" in (card.reason_codes.reference or "")
    # the shipped models were promoted with a (test) waiver: the card must say so
    assert "test-risk-officer" in render_markdown(card)
    page = _Tables()
    page.feed(render_html(card))
    assert page.group_tables >= 2 and page.rows > 4
    report = latest_report(client, use_case, version)
    assert report is not None
    html = MlflowClient(
        tracking_uri=served_settings.tracking_uri, registry_uri=served_settings.tracking_uri
    ).download_artifacts(report.run_id, f"audits/{report.audit_id}/report.html")
    tables = _Tables()
    with open(html, encoding="utf-8") as f:
        text = f.read()
    tables.feed(text)
    assert tables.group_tables == len(report.fairness.attributes)
    assert "data:image/png;base64," in text
