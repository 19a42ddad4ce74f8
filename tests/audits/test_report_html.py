"""Tests of the audit's HTML report and figures: structure, numbers, escaping, outcomes."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import numpy as np
import pytest

from audits.plots import MESSAGE_GROUP_COLUMN, MESSAGE_LENGTHS, audit_figures
from audits.report import AuditReport
from audits.report_html import MESSAGE_FIGURE, render_report, render_report_from_json
from models.spec import parse_spec
from tests.audits.helpers import AuditFixture, build_report, make_spec, parse

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def audit() -> AuditFixture:
    return build_report()


@pytest.fixture(scope="module")
def figures(audit: AuditFixture) -> dict[str, str]:
    return audit_figures(audit.report, audit.y, audit.scores, audit.groups)


def test_group_tables_follow_the_attributes_unitary_first(audit: AuditFixture) -> None:
    # given
    report = audit.report
    # when
    page = parse(render_report(report))
    # then
    tables = page.tables_of("groups")
    names = [t["attrs"]["data-attribute"] for t in tables]  # type: ignore[index]
    assert names == ["age_band", "marital", "age_band & marital"]
    for table in tables:
        attr = report.fairness.attribute(table["attrs"]["data-attribute"])  # type: ignore[index]
        rows = table["rows"]
        assert isinstance(rows, list)
        assert len(rows) == len(attr.groups)
        assert [row[0] for row in rows] == [g.group for g in attr.groups]
        assert [int(row[1]) for row in rows] == [g.n for g in attr.groups]


def test_group_rows_show_rates_intervals_and_flags(audit: AuditFixture) -> None:
    # given
    report = audit.report
    young = report.fairness.attribute("age_band").group("18-34")
    oldest = report.fairness.attribute("age_band").group("75+")
    widowed = report.fairness.attribute("marital").group("widowed")
    # when
    page = parse(render_report(report))
    # then
    rows = {
        (t["attrs"]["data-attribute"], row[0]): row  # type: ignore[index]
        for t in page.tables_of("groups")
        for row in t["rows"]  # type: ignore[attr-defined]
    }
    row = rows[("age_band", "18-34")]
    assert row[3] == (
        f"{young.selection_rate:.3f} [{young.selection_rate_ci_low:.3f},"
        f" {young.selection_rate_ci_high:.3f}]"
    )
    assert row[4].startswith(f"{young.impact_ratio:.3f} [")
    assert row[-1] == "FAIL"
    assert rows[("age_band", "75+")][9].startswith("no: share 1.53%")
    assert rows[("age_band", "75+")][4] == "—"
    assert oldest.impact_ratio is None
    assert rows[("marital", "widowed")][10] == "INSUFFICIENT_DATA"
    assert rows[("marital", "widowed")][-1] == "INSUFFICIENT_DATA"
    assert widowed.insufficient


def test_header_checks_performance_and_summaries(audit: AuditFixture) -> None:
    # given
    report = audit.report
    # when
    page = parse(render_report(report))
    # then
    assert page.ids["outcome"] == report.outcome == "FAIL"
    header = page.ids["header"]
    for text in (report.audit_id, report.spec_hash, report.created_at, report.use_case):
        assert text in header
    checks = page.tables_of("checks")[0]["rows"]
    assert isinstance(checks, list)
    assert [row[0] for row in checks] == [c.id for c in report.checks]
    assert checks[0][3] == f"≥ {report.gate['min_roc_auc']:.3f}"
    performance = page.tables_of("performance")[0]["rows"]
    assert [row[0] for row in performance] == list(report.performance)  # type: ignore[union-attr]
    auc = report.performance["roc_auc"]
    assert performance[0][2] == f"[{auc.ci_low:.3f}, {auc.ci_high:.3f}]"  # type: ignore[index]
    summaries = page.tables_of("summaries")
    assert len(summaries) == len(report.fairness.attributes)
    assert all(len(t["rows"]) == 6 for t in summaries)  # type: ignore[arg-type]
    thresholds = {row[0]: row[1] for row in page.tables_of("thresholds")[0]["rows"]}  # type: ignore[union-attr]
    assert thresholds["min_impact_ratio"] == "0.8"
    assert thresholds["tolerance.roc_auc"] == "0.02"


def test_values_are_escaped(audit: AuditFixture) -> None:
    # given
    report = audit.report.model_copy(update={"use_case": "<script>alert(1)</script>"})
    # when
    html = render_report(report)
    # then
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '"Segoe UI"' in html  # the trusted inline CSS is not escaped


def test_figures_are_inlined_png(audit: AuditFixture, figures: dict[str, str]) -> None:
    # when
    page = parse(render_report(audit.report, figures))
    # then
    assert sorted(figures) == ["calibration", "outcome_mix", "roc", "selection_rate"]
    assert [img["alt"] for img in page.images] == list(figures)
    for img in page.images:
        src = img["src"] or ""
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(PNG_SIGNATURE)
    assert "http://" not in render_report(audit.report, figures).replace("http://www.w3", "")


def test_figures_must_be_base64(audit: AuditFixture) -> None:
    with pytest.raises(ValueError, match=re.escape(MESSAGE_FIGURE)):
        render_report(audit.report, {"roc": '" onerror="alert(1)'})


def test_render_from_stored_json_is_the_same_page(audit: AuditFixture) -> None:
    # given
    raw = audit.report.model_dump(mode="json")
    # when / then
    assert render_report_from_json(raw) == render_report(audit.report)


def test_figures_are_the_same_when_drawn_again(
    audit: AuditFixture, figures: dict[str, str]
) -> None:
    # (how fast they are drawn is measured in benchmarks/, not asserted here)
    again = audit_figures(audit.report, audit.y, audit.scores, audit.groups)
    assert again == figures


def test_roc_skips_groups_with_one_class(audit: AuditFixture) -> None:
    # given: every widowed row has the same outcome
    y = audit.y.copy()
    y[(audit.groups["marital"] == "widowed").to_numpy()] = 0
    # when
    figures = audit_figures(audit.report, y, audit.scores, audit.groups)
    # then
    assert base64.b64decode(figures["roc"]).startswith(PNG_SIGNATURE)


def test_figures_check_their_inputs(audit: AuditFixture) -> None:
    with pytest.raises(ValueError, match=re.escape(MESSAGE_LENGTHS)):
        audit_figures(audit.report, audit.y[:-1], audit.scores, audit.groups)
    with pytest.raises(ValueError, match=re.escape(MESSAGE_GROUP_COLUMN)):
        audit_figures(audit.report, audit.y, audit.scores, audit.groups[["age_band"]])


def test_plots_import_no_plotting_library() -> None:
    # when
    code = "import sys, audits.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # then
    assert out.stdout.strip() == "False"


def test_figures_use_the_reports_threshold(audit: AuditFixture) -> None:
    # given: a stricter gate moves the dashed line, so the picture changes
    gate = {**audit.report.gate, "min_impact_ratio": 0.95}
    stricter = audit.report.model_copy(update={"gate": gate})
    # when
    before = audit_figures(audit.report, audit.y, audit.scores, audit.groups)
    after = audit_figures(stricter, audit.y, audit.scores, audit.groups)
    # then
    assert before["selection_rate"] != after["selection_rate"]
    assert before["roc"] == after["roc"]
    assert np.isfinite(audit.scores).all()


def _threshold_report() -> AuditReport:
    raw = make_spec().model_dump(mode="json")
    raw["gate"]["decision_threshold"] = 0.45
    raw["gate"]["decision_threshold_justification"] = "Matches the <bureau> cut-off of 0.45."
    return build_report(parse_spec(raw, source="<toy threshold>")).report


def test_outcome_tables_show_counts_rates_and_adverse_impact_ratios(audit: AuditFixture) -> None:
    # given
    outcomes = audit.report.outcomes
    assert outcomes is not None
    # when
    page = parse(render_report(audit.report))
    # then: the overall row, rates computed here from its counts
    o = outcomes.overall
    assert page.tables_of("outcome-overall")[0]["rows"] == [
        [
            str(o.n),
            str(o.approved),
            f"{o.approved / o.n:.3f} [{o.approval_rate_ci_low:.3f}, {o.approval_rate_ci_high:.3f}]",
            str(o.referred),
            f"{o.referred / o.n:.3f} [{o.referral_rate_ci_low:.3f}, {o.referral_rate_ci_high:.3f}]",
            str(o.declined),
            f"{o.declined / o.n:.3f} [{o.decline_rate_ci_low:.3f}, {o.decline_rate_ci_high:.3f}]",
            str(o.adverse),
            f"{o.adverse / o.n:.3f} [{o.adverse_rate_ci_low:.3f}, {o.adverse_rate_ci_high:.3f}]",
        ]
    ]
    tables = page.tables_of("outcomes")
    assert [t["attrs"]["data-attribute"] for t in tables] == [  # type: ignore[index]
        "age_band",
        "marital",
        "age_band & marital",
    ]
    for table in tables:
        attr = outcomes.attribute(table["attrs"]["data-attribute"])  # type: ignore[index]
        rates = {g.group: g.adverse / g.n for g in attr.groups}
        lowest = min(rates[g.group] for g in attr.groups if g.included_in_ratios)
        rows = table["rows"]
        assert isinstance(rows, list)
        for g, row in zip(attr.groups, rows, strict=True):
            assert row[:4] == [g.group, str(g.n), f"{100 * g.n / outcomes.n:.1f}%", str(g.approved)]
            assert row[4].startswith(f"{g.approved / g.n:.3f} [")
            assert row[6].startswith(f"{g.referred / g.n:.3f} [")
            assert row[10].startswith(f"{g.adverse / g.n:.3f} [")
            if g.included_in_ratios:
                ratio = lowest / rates[g.group] if g.adverse else 1.0
                assert row[11] == (
                    f"{ratio:.3f} [{g.adverse_impact_ratio_ci_low:.3f},"
                    f" {g.adverse_impact_ratio_ci_high:.3f}]"
                )
            else:
                assert row[11] == "—" and row[12] == "no"
            assert row[14] == "INFO"  # reported, not gated: the toy gate sets no minimum
    rules = page.tables_of("referral-rules")[0]["rows"]
    assert rules == [
        [rule, str(n), f"{100 * n / outcomes.n:.1f}%"]
        for rule, n in outcomes.referral_rules.items()
    ]


def test_every_check_names_its_basis(audit: AuditFixture) -> None:
    # when
    page = parse(render_report(audit.report))
    # then
    rows = page.tables_of("checks")[0]["rows"]
    assert isinstance(rows, list)
    by_id = {row[0]: row[-1] for row in rows}
    assert by_id["roc_auc"] == "scores"
    assert by_id["impact_ratio[age_band=18-34]"] == (
        "automated approval under policy version 2: score >= approve_at 0.6 and no referral"
        " rule fired"
    )
    assert by_id["adverse_impact_ratio[age_band=18-34]"].startswith(
        "adverse outcome under policy version 2: score < decline_below 0.3"
    )
    assert page.ids["basis"].startswith("policy: automated approval under policy version 2")
    assert "served-fairness" not in page.ids


def test_a_justified_threshold_shows_both_results() -> None:
    # given
    report = _threshold_report()
    assert report.served_fairness is not None
    # when
    text = render_report(report)
    page = parse(text)
    # then: the threshold, its justification (escaped) and the served policy's results
    assert page.ids["basis"].startswith("decision_threshold: score >= decision_threshold 0.45")
    assert "Matches the <bureau> cut-off of 0.45." in page.ids["gate-basis"]
    assert "&lt;bureau&gt;" in text and "<bureau>" not in text
    served = page.tables_of("served-groups")
    gated = page.tables_of("groups")
    assert [t["attrs"]["data-attribute"] for t in served] == [  # type: ignore[index]
        t["attrs"]["data-attribute"]
        for t in gated  # type: ignore[index]
    ]
    for table in served:
        attr = report.served_fairness.attribute(table["attrs"]["data-attribute"])  # type: ignore[index]
        rows = table["rows"]
        assert isinstance(rows, list)
        assert [row[3].split(" ")[0] for row in rows] == [
            f"{(g.tp + g.fp) / g.n:.3f}" for g in attr.groups
        ]
    young_gated = report.fairness.attribute("age_band").group("18-34")
    young_served = report.served_fairness.attribute("age_band").group("18-34")
    assert young_gated.selection_rate != young_served.selection_rate
    assert "not gated" in page.ids["served-fairness"]


def test_a_schema_one_report_says_it_has_no_outcomes(audit: AuditFixture) -> None:
    # given: a report stored before outcomes were measured
    raw = audit.report.model_dump(mode="json")
    for key in ("outcomes", "policy", "served_fairness", "basis"):
        raw.pop(key)
    raw["schema_version"] = "1"
    raw["decision_threshold"] = 0.5
    for check in raw["checks"]:
        check.pop("basis")
    # when
    page = parse(render_report_from_json(raw))
    # then
    assert "predates outcome measurement" in page.ids["no-outcomes"]
    assert "score >= decision_threshold 0.5" in page.ids["no-outcomes"]
    assert page.tables_of("outcomes") == []
