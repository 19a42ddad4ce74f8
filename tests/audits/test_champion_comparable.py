"""A champion audited under another decision rule is not used for regression checks."""

from __future__ import annotations

from audits.audit import _not_comparable, _same_decisions
from tests.audits.helpers import build_report


def test_only_audits_of_the_same_decision_rule_compare() -> None:
    current = build_report().report
    same = build_report(seed=1).report
    assert _same_decisions(same, current)
    old_style = same.model_copy(update={"basis": "decision_threshold", "decision_threshold": 0.5})
    assert not _same_decisions(old_style, current)
    moved = same.model_copy(update={"policy": {**(same.policy or {}), "approve_at": 0.7}})
    assert not _same_decisions(moved, current)

    check = _not_comparable(old_style, "2")
    assert check.verdict == "INFO"
    assert "judged decision_threshold 0.5" in check.detail
    assert "champion version 2" in check.detail
