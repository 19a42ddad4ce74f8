"""Tests of model cards (R19): sections, completeness, derived considerations, renderings."""

from __future__ import annotations

import html
import re

import pytest

from audits.cards import (
    FIRST_VERSION,
    SECTIONS,
    ModelCard,
    build_card,
    card_json,
    missing_sections,
    render_html,
    render_markdown,
)
from audits.report import AuditReport, Waiver
from models.spec import DecisionSpec
from tests.audits.helpers import (
    DATA_REPORT,
    RUN_METRICS,
    RUN_TAGS,
    AuditFixture,
    build_report,
    make_spec,
    parse,
)

WAIVER = Waiver(
    justification="Age gap traced to <thin-file> applicants; remediation planned in Q3",
    requested_by="ana.owner",
    approved_by="rui.risk",
    at="2025-01-05T10:00:00+00:00",
)
MCT_KEYS = ("model_details", "model_parameters", "quantitative_analysis", "considerations")
DOCKET_KEYS = (
    "fairness",
    "outcomes",
    "gate",
    "provenance",
    "review_policy",
    "reason_codes",
    "factors",
    "caveats",
    "changes_since_champion",
)
MARKDOWN_HEADINGS = (
    "## Model details",
    "## Intended use",
    "## Out-of-scope use",
    "## Factors",
    "## Metrics",
    "## Evaluation data",
    "## Training data",
    "## Unitary fairness",
    "## Intersectional fairness",
    "## Outcomes at the operating thresholds",
    "## Gate outcome",
    "## Provenance: mitigation and alternatives search",
    "## Review policy",
    "## Reason-code catalogue",
    "## Ethical considerations",
    "## Caveats",
    "## Changes since champion",
)


@pytest.fixture(scope="module")
def spec() -> DecisionSpec:
    return make_spec()


@pytest.fixture(scope="module")
def audit(spec: DecisionSpec) -> AuditFixture:
    return build_report(spec)


def card_for(
    spec: DecisionSpec,
    report: AuditReport | None,
    *,
    waiver: Waiver | None = None,
    previous: AuditReport | None = None,
    figures: dict[str, str] | None = None,
) -> ModelCard:
    return build_card(
        spec,
        version="3",
        created_at="2025-01-02T00:00:00+00:00",
        run_metrics=RUN_METRICS,
        run_tags=RUN_TAGS,
        data_report=DATA_REPORT,
        report=report,
        waiver=waiver,
        previous=previous,
        figures=figures,
        reason_reference=REASON_REFERENCE,
    )


REASON_REFERENCE = (
    "Adverse decisions are explained against the average of the 25 held-out applicants the"
    " policy approves (score >= 0.6)."
)


def test_a_card_that_does_not_state_the_reasons_reference_is_incomplete(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # given: a card built without saying what principal reasons are measured against
    stated = card_for(spec, audit.report)
    card = stated.model_copy(
        update={"reason_codes": stated.reason_codes.model_copy(update={"reference": None})}
    )

    # then: promotion would be blocked on that section
    assert "reason_codes" in missing_sections(card)
    assert "reason_codes" not in missing_sections(stated)
    for rendered in (render_markdown(stated), render_html(stated)):
        assert "the 25 held-out applicants the policy approves (score &gt;= 0.6)" in rendered


def test_card_with_an_audit_has_every_section(spec: DecisionSpec, audit: AuditFixture) -> None:
    # when
    card = card_for(spec, audit.report)
    # then
    assert missing_sections(card) == []
    assert card.gate.outcome == audit.report.outcome
    assert card.model_parameters.data.eval.rows == audit.report.n_test
    assert card.model_parameters.data.train.rows == RUN_METRICS["rows_train"]
    assert card.review_policy["approve_at"] == 0.6
    assert [c.code for c in card.reason_codes.codes] == ["INC", "AMT"]


def test_without_an_audit_metrics_fairness_and_gate_are_missing(spec: DecisionSpec) -> None:
    # when
    card = card_for(spec, None)
    # then
    assert missing_sections(card) == [
        "metrics",
        "unitary_fairness",
        "intersectional_fairness",
        "outcome_mix",
        "gate_outcome",
    ]
    assert any("No audit is stored" in c for c in card.caveats)


def test_an_empty_policy_or_catalogue_is_named(audit: AuditFixture) -> None:
    # given
    no_policy = make_spec(policy=None)
    no_reasons = make_spec(reasons=None)
    # when / then
    assert missing_sections(card_for(no_policy, build_report(no_policy).report)) == [
        "review_policy"
    ]
    assert missing_sections(card_for(no_reasons, build_report(no_reasons).report)) == [
        "reason_codes"
    ]


def test_bare_run_metrics_and_unknown_row_counts_are_accepted(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # when: metrics without the test_ prefix and without row counts
    card = build_card(
        spec,
        version="3",
        created_at="now",
        run_metrics={"roc_auc": 0.5},
        run_tags={},
        data_report={},
        report=None,
        waiver=None,
        previous=None,
    )
    # then
    assert card.model_parameters.data.train.rows is None
    assert "training_data" not in missing_sections(card)
    assert any("test ROC AUC is 0.500, without an interval" in c for c in card.caveats)
    assert "Rows: unknown" in render_markdown(card)


def test_one_attribute_has_no_intersections_to_report() -> None:
    # given
    single = make_spec(attributes=("age_band",))
    # when
    card = card_for(single, build_report(single).report)
    # then
    assert card.fairness.intersectional == []
    assert "no intersections" in card.fairness.note
    assert missing_sections(card) == []


def test_every_section_is_listed() -> None:
    # R19's fourteen, plus the outcome mix and the provenance the audit now documents
    assert len(SECTIONS) == 16
    assert SECTIONS[0] == "model_details"
    assert SECTIONS[-1] == "caveats"
    assert SECTIONS.index("outcome_mix") == SECTIONS.index("intersectional_fairness") + 1
    assert SECTIONS.index("provenance") == SECTIONS.index("gate_outcome") + 1


def test_fairness_rows_carry_counts_rates_ratios_and_intervals(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # when
    card = card_for(spec, audit.report)
    # then
    fairness = audit.report.fairness
    assert [(r.attribute, r.group) for r in card.fairness.unitary] == [
        (a.attribute, g.group) for a in fairness.attributes[:2] for g in a.groups
    ]
    assert len(card.fairness.intersectional) == len(fairness.attribute("age_band & marital").groups)
    young = next(r for r in card.fairness.unitary if r.group == "18-34")
    source = fairness.attribute("age_band").group("18-34")
    assert young.n == source.n
    assert young.selection_rate == source.selection_rate
    assert young.selection_rate_ci is not None
    assert young.selection_rate_ci.lower_bound == source.selection_rate_ci_low
    assert young.impact_ratio_ci is not None
    assert young.impact_ratio_ci.upper_bound == source.impact_ratio_ci_high
    assert young.verdict == "FAIL"
    assert len(card.fairness.summaries) == 6 * len(fairness.attributes)


def test_performance_metrics_have_confidence_intervals(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # when
    card = card_for(spec, audit.report)
    # then
    metrics = {(m.type, m.slice): m for m in card.quantitative_analysis.performance_metrics}
    auc = metrics[("roc_auc", "overall (test split)")]
    source = audit.report.performance["roc_auc"]
    assert auc.value == source.value
    assert auc.confidence_interval is not None
    assert (auc.confidence_interval.lower_bound, auc.confidence_interval.upper_bound) == (
        source.ci_low,
        source.ci_high,
    )
    assert ("impact_ratio", "age_band=18-34") in metrics
    assert ("selection_rate", "age_band=18-34 & marital=single") in metrics


def test_considerations_are_derived_from_the_datasheet_and_the_audit(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # when
    card = card_for(spec, audit.report)
    # then
    ethics = " ".join(
        f"{r.name} {r.mitigation_strategy}" for r in card.considerations.ethical_considerations
    )
    sheet = spec.data.datasheet
    assert sheet.known_biases in ethics
    assert "Sensitive attribute 'age_band' (bands of 'age')" in ethics
    assert "nor is its source column 'age'" in ethics
    assert "impact_ratio[marital=widowed]" in ethics  # INSUFFICIENT_DATA
    assert "age_band: 75+ (n=23, 1.5%)" in ethics  # left out of ratios
    assert "Promotion is blocked while a check fails" in ethics
    assert "Scores between 0.3 and 0.6 are referred" in ethics
    caveats = " ".join(card.caveats)
    assert sheet.known_gaps in caveats
    assert "kept 2700" in caveats
    assert "marital: widowed (n=43)" in caveats
    assert [u.description for u in card.considerations.out_of_scope_uses] == spec.out_of_scope_use
    assert card.considerations.use_cases[0].description == spec.intended_use


def test_factors_list_the_groups_seen_in_the_audit(spec: DecisionSpec, audit: AuditFixture) -> None:
    # when
    with_audit = card_for(spec, audit.report)
    without = card_for(spec, None)
    # then
    assert [(f.attribute, f.groups) for f in with_audit.factors] == [
        ("age_band", ["18-34", "35-54", "55-74", "75+"]),
        ("marital", ["married", "single", "widowed"]),
    ]
    assert without.factors[0].groups == ["18-34", "35-54", "55-74", "75+"]
    assert without.factors[1].note == "groups unknown until an audit runs"
    assert not any(f.model_input for f in with_audit.factors)


def test_waiver_appears_everywhere(spec: DecisionSpec, audit: AuditFixture) -> None:
    # when
    card = card_for(spec, audit.report, waiver=WAIVER)
    # then
    assert card.gate.waiver is not None
    assert card_json(card)["gate"]["waiver"] == {
        "justification": WAIVER.justification,
        "requested_by": "ana.owner",
        "approved_by": "rui.risk",
        "at": "2025-01-05T10:00:00+00:00",
    }
    assert any("Promoted under a waiver" in c for c in card.caveats)
    assert any(
        "approved by rui.risk" in r.mitigation_strategy
        for r in card.considerations.ethical_considerations
    )
    markdown = render_markdown(card)
    assert "- Requested by: ana.owner\n- Approved by: rui.risk\n" in markdown
    assert "&lt;thin-file&gt;" in markdown
    page = parse(render_html(card))
    assert "rui.risk" in page.ids["waiver"]
    assert "<thin-file>" in page.ids["waiver"]  # escaped in the source, text once parsed


def test_changes_since_champion(spec: DecisionSpec, audit: AuditFixture) -> None:
    # given
    previous = build_report(spec, seed=1, version="2").report
    # when
    first = card_for(spec, audit.report)
    later = card_for(spec, audit.report, previous=previous)
    # then
    assert first.changes_since_champion.summary == FIRST_VERSION
    assert first.model_details.version.diff == FIRST_VERSION
    changes = later.changes_since_champion
    assert changes.previous_champion == "2"
    deltas = {d.metric: d for d in changes.deltas}
    auc_now = audit.report.performance["roc_auc"].value
    auc_before = previous.performance["roc_auc"].value
    assert auc_now is not None and auc_before is not None
    assert deltas["roc_auc"].delta == pytest.approx(auc_now - auc_before)
    assert "min_impact_ratio" in deltas
    assert "champion version 2" in later.model_details.version.diff


def test_a_champion_without_an_audit_is_not_a_first_version(spec: DecisionSpec) -> None:
    # given
    report = build_report(spec, champion_version="1").report
    # when
    card = card_for(spec, report)
    # then
    assert card.changes_since_champion.previous_champion == "1"
    assert "no stored audit" in card.changes_since_champion.summary


def test_json_uses_model_card_toolkit_names(spec: DecisionSpec, audit: AuditFixture) -> None:
    # when
    data = card_json(card_for(spec, audit.report))
    # then
    for key in (*MCT_KEYS, *DOCKET_KEYS):
        assert data[key], key
    details = data["model_details"]
    assert {"name", "overview", "version", "owners", "licenses", "references", "path"} <= set(
        details
    )
    assert set(details["version"]) == {"name", "date", "diff"}
    params = data["model_parameters"]
    assert set(params) == {"model_architecture", "data", "input_format", "output_format"}
    assert params["data"]["train"]["sensitive"]["sensitive_data"] == ["age_band", "marital"]
    metric = data["quantitative_analysis"]["performance_metrics"][0]
    assert set(metric) == {"type", "value", "slice", "confidence_interval"}
    assert set(metric["confidence_interval"]) == {"lower_bound", "upper_bound"}
    considerations = data["considerations"]
    assert set(considerations) == {
        "users",
        "use_cases",
        "out_of_scope_uses",
        "limitations",
        "tradeoffs",
        "ethical_considerations",
    }
    assert set(considerations["ethical_considerations"][0]) == {"name", "mitigation_strategy"}
    assert set(data["fairness"]) >= {"unitary", "intersectional"}
    assert ModelCard.model_validate(data) == card_for(spec, audit.report)


def test_markdown_has_every_section(spec: DecisionSpec, audit: AuditFixture) -> None:
    # when
    markdown = render_markdown(card_for(spec, audit.report))
    # then
    positions = [markdown.index(heading) for heading in MARKDOWN_HEADINGS]
    assert positions == sorted(positions)
    assert "Incomplete" not in markdown
    assert "| age_band | 18-34 | 587 |" in markdown
    assert "Toy eligibility model &lt;b&gt;for tests&lt;/b&gt;." in markdown


def test_markdown_flags_an_incomplete_card(spec: DecisionSpec) -> None:
    markdown = render_markdown(card_for(spec, None))
    assert "> Incomplete: empty sections: metrics, unitary_fairness" in markdown
    assert "No audit: no results." in markdown


def test_html_is_self_contained_escaped_and_has_group_tables(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # given
    from audits.plots import audit_figures

    figures = audit_figures(audit.report, audit.y, audit.scores, audit.groups)
    card = card_for(spec, audit.report, figures=figures)
    # when
    html = render_html(card)
    page = parse(html)
    # then
    groups = page.tables_of("groups")
    assert [len(t["rows"]) for t in groups] == [  # type: ignore[arg-type]
        len(card.fairness.unitary),
        len(card.fairness.intersectional),
    ]
    assert "<b>for tests</b>" not in html
    assert "&lt;b&gt;for tests&lt;/b&gt;" in html
    assert set(SECTIONS) <= set(page.ids)
    assert len(page.images) == len(figures) == 4
    assert all((img["src"] or "").startswith("data:image/png;base64,") for img in page.images)
    assert "<link" not in html and "<script" not in html
    assert "missing" not in page.ids


def test_html_of_an_incomplete_card_says_so(spec: DecisionSpec) -> None:
    page = parse(render_html(card_for(spec, None)))
    assert "gate_outcome" in page.ids["missing"]
    assert page.tables_of("groups") == []


def _markdown_tables(markdown: str, heading: str) -> list[list[str]]:
    """Body rows (cells unescaped) of the tables under one ``## heading``."""
    section = markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    section = section.split("\n### ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")][1:]
    return [
        [
            html.unescape(cell.strip().replace("\\|", "|"))
            for cell in re.split(r"(?<!\\)\|", row)[1:-1]
        ]
        for row in rows
        if not row.startswith("| Attribute |")
    ]


def test_markdown_and_html_show_the_same_sections_and_fairness_rows(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # given: a card with a waiver and figures, so that the optional parts are shown too
    from audits.plots import audit_figures

    figures = audit_figures(audit.report, audit.y, audit.scores, audit.groups)
    card = card_for(spec, audit.report, waiver=WAIVER, figures=figures)
    # when
    markdown = render_markdown(card)
    page_html = render_html(card)
    # then: the same section titles in the same order, the R19 ones among them
    md_titles = [line[3:] for line in markdown.splitlines() if line.startswith("## ")]
    html_titles = [html.unescape(t) for t in re.findall(r"<h2>(.*?)</h2>", page_html)]
    assert md_titles == html_titles
    assert [f"## {t}" for t in md_titles if f"## {t}" in MARKDOWN_HEADINGS] == list(
        MARKDOWN_HEADINGS
    )
    assert "Figures" in md_titles
    # and every fairness row of the card, cell for cell, in both
    html_rows = [row for t in parse(page_html).tables_of("groups") for row in t["rows"]]  # type: ignore[attr-defined]
    md_rows = _markdown_tables(markdown, "Unitary fairness") + _markdown_tables(
        markdown, "Intersectional fairness"
    )
    assert md_rows == html_rows
    expected = [
        (r.attribute, r.group, str(r.n), f"{r.selection_rate:.3f}", r.verdict)
        for r in [*card.fairness.unitary, *card.fairness.intersectional]
        if r.selection_rate is not None
    ]
    assert len(expected) == len(card.fairness.unitary) + len(card.fairness.intersectional)
    assert [(row[0], row[1], row[2], row[4], row[-1]) for row in md_rows] == expected
