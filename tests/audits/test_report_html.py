"""Tests of the audit's HTML report and figures: structure, numbers, escaping, outcomes."""

from __future__ import annotations

import base64
import re
import subprocess
import sys

import numpy as np
import pytest

from audits.plots import MESSAGE_GROUP_COLUMN, MESSAGE_LENGTHS, audit_figures
from audits.report_html import MESSAGE_FIGURE, render_report, render_report_from_json
from tests.audits.helpers import AuditFixture, build_report, parse

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
