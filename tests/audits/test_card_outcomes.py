"""The card's outcome mix and gate basis (issue 10), checked against hand computation.

Every expected number is computed here from the report's counts (rate = count / n,
adverse impact ratio = lowest included adverse rate / the group's), never read from
the card's own code.
"""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from audits.cards import (
    ModelCard,
    build_card,
    card_json,
    missing_sections,
    render_html,
    render_markdown,
)
from audits.report import AuditReport, FairnessResult, OutcomeGroup
from models.spec import DecisionSpec, parse_spec
from tests.audits.helpers import (
    DATA_REPORT,
    RUN_METRICS,
    RUN_TAGS,
    AuditFixture,
    build_report,
    make_spec,
    parse,
)

JUSTIFICATION = "Lenders compare with the bureau's 0.45 cut-off in <their> reports."
OUTCOMES_HEADING = "Outcomes at the operating thresholds"


@pytest.fixture(scope="module")
def spec() -> DecisionSpec:
    return make_spec()


@pytest.fixture(scope="module")
def audit(spec: DecisionSpec) -> AuditFixture:
    return build_report(spec)


@pytest.fixture(scope="module")
def threshold_spec() -> DecisionSpec:
    raw = make_spec().model_dump(mode="json")
    raw["gate"]["decision_threshold"] = 0.45
    raw["gate"]["decision_threshold_justification"] = JUSTIFICATION
    return parse_spec(raw, source="<toy with a justified threshold>")


def card_for(spec: DecisionSpec, report: AuditReport | None) -> ModelCard:
    return build_card(
        spec,
        version="3",
        created_at="2025-01-02T00:00:00+00:00",
        run_metrics=RUN_METRICS,
        run_tags=RUN_TAGS,
        data_report=DATA_REPORT,
        report=report,
        waiver=None,
        previous=None,
        reason_reference="Against the approved held-out applicants.",
    )


def schema_one(report: AuditReport) -> AuditReport:
    """The report as schema 1 stored it: no outcomes, no policy, checks without a basis."""
    raw: dict[str, Any] = report.model_dump(mode="json")
    for key in (
        "outcomes",
        "policy",
        "served_fairness",
        "basis",
        "decision_threshold_justification",
    ):
        raw.pop(key)
    raw["schema_version"] = "1"
    raw["decision_threshold"] = 0.5
    for check in raw["checks"]:
        check.pop("basis")
    return AuditReport.model_validate(raw)


def fmt(value: float) -> str:
    return f"{value:.3f}"


def interval(low: float | None, high: float | None) -> str:
    assert low is not None and high is not None
    return f"[{low:.3f}, {high:.3f}]"


def rate_cell(g: OutcomeGroup, name: str, count: int) -> str:
    """A rate as the card prints it, the rate computed from the count."""
    return f"{fmt(count / g.n)} {interval(getattr(g, f'{name}_ci_low'), getattr(g, f'{name}_ci_high'))}"


def hand_ratios(groups: list[OutcomeGroup]) -> dict[str, float | None]:
    """Lowest adverse rate among the included groups over each group's (1 with none)."""
    rates = {g.group: g.adverse / g.n for g in groups}
    lowest = min(rates[g.group] for g in groups if g.included_in_ratios)
    return {
        g.group: (
            None if not g.included_in_ratios else 1.0 if g.adverse == 0 else lowest / rates[g.group]
        )
        for g in groups
    }


def markdown_section(markdown: str, heading: str) -> str:
    return markdown.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def markdown_rows(section: str, subheading: str) -> list[list[str]]:
    """Body rows (cells unescaped) of the table under one ``### subheading``."""
    part = section.split(f"\n### {subheading}\n", 1)[1].split("\n### ", 1)[0]
    rows = [line for line in part.splitlines() if line.startswith("| ")][1:]
    return [
        [html.unescape(c.strip().replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", row)[1:-1]]
        for row in rows
    ]


def test_the_overall_mix_is_shown_with_counts_rates_and_intervals(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # given
    overall = audit.report.outcomes.overall  # type: ignore[union-attr]
    assert overall.approved + overall.referred + overall.declined == overall.n == 1500
    card = card_for(spec, audit.report)
    # when
    page = parse(render_html(card))
    markdown = render_markdown(card)
    # then: one row per outcome, the rate computed here from its count
    expected = [
        [
            label,
            str(count),
            fmt(count / overall.n),
            interval(getattr(overall, f"{name}_ci_low"), getattr(overall, f"{name}_ci_high")),
        ]
        for label, name, count in (
            ("Approved automatically", "approval_rate", overall.approved),
            ("Referred to a person", "referral_rate", overall.referred),
            ("Declined automatically", "decline_rate", overall.declined),
            (
                "Adverse (declined, or referred for adverse review)",
                "adverse_rate",
                overall.adverse,
            ),
        )
    ]
    assert page.tables_of("outcome-overall")[0]["rows"] == expected
    assert markdown_rows(markdown_section(markdown, OUTCOMES_HEADING), "Overall") == expected


def test_group_tables_match_hand_computed_rates_and_adverse_impact_ratios(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # given
    outcomes = audit.report.outcomes
    assert outcomes is not None
    card = card_for(spec, audit.report)
    # when
    page = parse(render_html(card))
    section = markdown_section(render_markdown(card), OUTCOMES_HEADING)
    tables = page.tables_of("outcomes")
    # then: one table per attribute and one for the intersection, in report order
    assert [a.attribute for a in outcomes.attributes] == [
        "age_band",
        "marital",
        "age_band & marital",
    ]
    assert len(tables) == 3
    for attr, table in zip(outcomes.attributes, tables, strict=True):
        ratios = hand_ratios(attr.groups)
        expected = []
        for g in attr.groups:
            ratio = ratios[g.group]
            expected.append(
                [
                    g.group,
                    str(g.n),
                    f"{100 * g.n / outcomes.n:.1f}%",
                    str(g.approved),
                    rate_cell(g, "approval_rate", g.approved),
                    str(g.referred),
                    rate_cell(g, "referral_rate", g.referred),
                    str(g.declined),
                    rate_cell(g, "decline_rate", g.declined),
                    str(g.adverse),
                    rate_cell(g, "adverse_rate", g.adverse),
                    "—"
                    if ratio is None
                    else f"{fmt(ratio)} "
                    + interval(g.adverse_impact_ratio_ci_low, g.adverse_impact_ratio_ci_high),
                    "yes" if g.included_in_ratios else "no",
                    "INSUFFICIENT_DATA" if g.n < 50 else "no",
                ]
            )
        assert table["rows"] == expected, attr.attribute
        # the Markdown shows the same cells
        assert markdown_rows(section, f"By group: {attr.attribute}") == expected
    # the disadvantaged group of the seeded data meets adverse outcomes most often
    young = hand_ratios(outcomes.attribute("age_band").groups)["18-34"]
    assert young is not None and young < 0.8


def test_referral_rule_counts_and_shares(spec: DecisionSpec, audit: AuditFixture) -> None:
    # given: the seeded amounts are uniform on [100, 5000], so about 1/4.9 exceed 4000
    rules = audit.report.outcomes.referral_rules  # type: ignore[union-attr]
    amounts_over = rules["high_stakes:amount"]
    assert 0.15 < amounts_over / 1500 < 0.26
    # when
    page = parse(render_html(card_for(spec, audit.report)))
    # then
    rows = page.tables_of("referral-rules")[0]["rows"]
    assert rows == [[rule, str(n), f"{100 * n / 1500:.1f}%"] for rule, n in rules.items()]
    assert "several rules" in page.ids["outcome_mix"]


def test_the_basis_sentence_names_what_the_gate_judged(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # when
    card = card_for(spec, audit.report)
    page = parse(render_html(card))
    # then: the policy's own thresholds, as the spec sets them
    text = page.ids["outcome_mix"]
    assert "automated approval under policy version 2: score >= approve_at 0.6" in text
    assert "approve at 0.6, decline under 0.3 (policy version 2)" in text
    assert "score < decline_below 0.3" in text
    gate = markdown_section(render_markdown(card), "Gate outcome")
    assert "\n- Basis: policy\n" in gate
    assert "Decision threshold" not in gate
    assert card.gate.basis == "policy" and card.gate.decision_threshold is None
    assert card.outcomes.overall is not None
    assert "outcome_mix" not in missing_sections(card)


def test_json_carries_the_rates_as_performance_metrics_with_slices(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # when
    data = card_json(card_for(spec, audit.report))
    # then
    metrics = {
        (m["type"], m["slice"]): m for m in data["quantitative_analysis"]["performance_metrics"]
    }
    outcomes = audit.report.outcomes
    assert outcomes is not None
    young = outcomes.attribute("age_band").group("18-34")
    got = metrics[("approval_rate", "age_band=18-34")]
    assert got["value"] == pytest.approx(young.approved / young.n)
    assert got["confidence_interval"] == {
        "lower_bound": young.approval_rate_ci_low,
        "upper_bound": young.approval_rate_ci_high,
    }
    assert metrics[("adverse_rate", "age_band=18-34")]["value"] == pytest.approx(
        young.adverse / young.n
    )
    ratio = hand_ratios(outcomes.attribute("age_band").groups)["18-34"]
    assert metrics[("adverse_impact_ratio", "age_band=18-34")]["value"] == pytest.approx(ratio)
    overall = outcomes.overall
    assert metrics[("referral_rate", "overall (served policy)")]["value"] == pytest.approx(
        overall.referred / overall.n
    )
    crossed = "age_band=18-34 & marital=single"
    assert ("decline_rate", crossed) in metrics
    types = {t for t, _ in metrics}
    assert {
        "approval_rate",
        "referral_rate",
        "decline_rate",
        "adverse_rate",
        "adverse_impact_ratio",
    } <= types
    assert data["outcomes"]["referral_rules"] == outcomes.referral_rules


def test_a_schema_one_report_renders_with_a_plain_note(
    spec: DecisionSpec, audit: AuditFixture
) -> None:
    # given: an audit stored before outcomes were measured
    old = schema_one(audit.report)
    assert old.outcomes is None and old.basis == "decision_threshold"
    # when
    card = card_for(spec, old)
    markdown = render_markdown(card)
    page = parse(render_html(card))
    # then: said plainly, no empty tables, and promotion waits for a new audit
    assert "did not measure the served policy's outcome mix" in page.ids["outcome-note"]
    assert "report schema 1" in markdown_section(markdown, OUTCOMES_HEADING)
    assert page.tables_of("outcomes") == [] and page.tables_of("outcome-overall") == []
    assert missing_sections(card) == ["outcome_mix"]
    # the old checks named no basis: the card says what such a report always judged
    assert "score >= decision_threshold 0.5" in page.ids["gate_outcome"]


def test_without_a_policy_the_outcome_mix_is_not_a_missing_section() -> None:
    # given
    no_policy = make_spec(policy=None)
    report = build_report(no_policy).report
    assert report.outcomes is None
    # when
    card = card_for(no_policy, report)
    # then: only the review policy is missing, and the section says why it is empty
    assert missing_sections(card) == ["review_policy"]
    page = parse(render_html(card))
    assert "the spec has none" in page.ids["outcome-note"]
    assert "no outcome mix" in markdown_section(render_markdown(card), OUTCOMES_HEADING)


def test_without_an_audit_the_section_says_so(spec: DecisionSpec) -> None:
    card = card_for(spec, None)
    assert "No audit: no outcomes." in markdown_section(render_markdown(card), OUTCOMES_HEADING)
    assert "outcome_mix" in missing_sections(card)


def served_rows(served: FairnessResult) -> list[list[str]]:
    rows = []
    for attr in served.attributes:
        for g in attr.groups:
            assert g.tp + g.fp + g.tn + g.fn == g.n
            rows.append([attr.attribute, g.group, str(g.n), fmt((g.tp + g.fp) / g.n)])
    return rows


def test_a_justified_threshold_is_shown_with_the_served_policy_beside_it(
    threshold_spec: DecisionSpec,
) -> None:
    # given
    report = build_report(threshold_spec).report
    assert report.basis == "decision_threshold" and report.served_fairness is not None
    card = card_for(threshold_spec, report)
    # when
    html_page = render_html(card)
    page = parse(html_page)
    markdown = render_markdown(card)
    # then: the threshold and its justification in the gate section
    gate = markdown_section(markdown, "Gate outcome")
    assert (
        "\n- Basis: decision_threshold\n- Fairness checks judge: score &gt;= decision_threshold 0.45"
        in gate
    )
    assert "\n- Decision threshold: 0.450\n" in gate
    assert JUSTIFICATION in page.ids["gate_outcome"]
    assert "&lt;their&gt;" in html_page and "<their>" not in html_page
    assert "- Justification: " + JUSTIFICATION.replace("<", "&lt;").replace(">", "&gt;") in markdown
    # and the served policy's automated approvals beside it, rate = (tp + fp) / n
    served = page.tables_of("served-groups")[0]["rows"]
    assert isinstance(served, list)
    assert [[*row[:3], row[4]] for row in served] == served_rows(report.served_fairness)
    assert "served" in page.ids
    # the gated table judges the threshold, the served one the policy: they differ
    gated = [r for t in page.tables_of("groups") for r in t["rows"]]  # type: ignore[attr-defined]
    assert [r[4] for r in gated] != [r[4] for r in served]
    # the outcome mix says the gate judged the threshold, not the policy
    assert "score >= decision_threshold 0.45" in page.ids["outcome_mix"]
