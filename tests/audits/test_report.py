"""The report's data types: waivers (four eyes, registry tags) and stored reports."""

from __future__ import annotations

import re

import pytest

from audits.report import MESSAGE_FIGURE, MESSAGE_SAME_PERSON, AuditReport, Waiver, check_figures
from tests.audits.helpers import build_report

JUSTIFICATION = "Pilot limited to 100 applications, every one reviewed by a person."


def test_a_waiver_needs_two_people_whatever_the_case_and_spacing() -> None:
    with pytest.raises(ValueError, match=re.escape(MESSAGE_SAME_PERSON.format(who="Ana"))):
        Waiver(justification=JUSTIFICATION, requested_by=" Ana", approved_by="ana ")
    with pytest.raises(ValueError, match="an approver other than the requester"):
        Waiver(justification=JUSTIFICATION, requested_by="Ann  Lee", approved_by="ann lee")


def test_a_waiver_needs_a_written_justification_and_named_people() -> None:
    with pytest.raises(ValueError, match="justification"):
        Waiver(justification="ok" + " " * 30, requested_by="ana", approved_by="rui")
    with pytest.raises(ValueError, match="approved_by"):
        Waiver(justification=JUSTIFICATION, requested_by="ana", approved_by="   ")


def test_waiver_tags_use_the_tag_protocol_and_read_back() -> None:
    # given
    waiver = Waiver(
        justification=JUSTIFICATION, requested_by="ana", approved_by="rui", at="2025-01-05"
    )
    # when
    written = waiver.as_tags("audit-7")
    # then: the keys Docket has always written, and the same waiver read back
    assert written == {
        "waiver.justification": JUSTIFICATION,
        "waiver.requested_by": "ana",
        "waiver.approved_by": "rui",
        "waiver.at": "2025-01-05",
        "waiver.audit_id": "audit-7",
    }
    assert Waiver.from_tags({**written, "audit.status": "FAIL"}) == waiver
    assert Waiver.from_tags({"audit.status": "PASS"}) is None


def test_a_stored_report_validates_back_to_the_same_report() -> None:
    # given
    report = build_report(n=600).report
    # when
    stored = AuditReport.model_validate_json(report.model_dump_json())
    # then
    assert stored == report
    assert stored.failing == [
        c for c in report.checks if c.verdict in ("FAIL", "INSUFFICIENT_DATA")
    ]


def test_figures_must_be_base64() -> None:
    assert check_figures(None) == {}
    with pytest.raises(ValueError, match=re.escape(MESSAGE_FIGURE)):
        check_figures({"roc": "<svg>"})
