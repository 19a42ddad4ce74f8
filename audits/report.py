"""The data of an audit: the report, its checks and fairness results, waivers and history.

Everything here is plain pydantic data with no I/O and no computation beyond reading
itself back, so the renderers (model cards, the HTML report, figures) and the CLI import
these types without importing the code that runs audits or promotes models
(:mod:`audits.audit`, :mod:`audits.promotion`). ``report.json`` is
``AuditReport.model_dump(mode="json")``; a stored report validates back into the same
object, and ``schema_version`` changes when its meaning does.

Undefined numbers (a rate with an empty denominator) are ``None`` in the data, never NaN.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from models import tags
from models.names import same_name

__all__ = [
    "CORRECTIONS",
    "MESSAGE_FIGURE",
    "MESSAGE_SAME_PERSON",
    "REPORT_SCHEMA_VERSION",
    "AttributeResult",
    "AuditReport",
    "Check",
    "Correction",
    "FairnessResult",
    "GroupRow",
    "HistoryEvent",
    "Interval",
    "Metric",
    "Outcome",
    "OutcomeAttribute",
    "OutcomeGroup",
    "OutcomeResult",
    "Summary",
    "Verdict",
    "Waiver",
    "check_figures",
]

# 2: the served policy's outcomes (basis, policy, outcomes, served_fairness, Check.basis)
REPORT_SCHEMA_VERSION = "2"

MESSAGE_SAME_PERSON = (
    "a waiver needs an approver other than the requester: the two must be different people"
    " (got {who!r} for both)"
)
MESSAGE_FIGURE = "Figures must be base64-encoded PNG strings."
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")

Correction = Literal["holm", "bonferroni"]
CORRECTIONS: tuple[Correction, ...] = ("holm", "bonferroni")
Verdict = Literal["PASS", "FAIL", "INSUFFICIENT_DATA", "INFO"]
Outcome = Literal["PASS", "FAIL", "INSUFFICIENT_DATA"]


def _nan_to_none(value: Any) -> Any:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


Metric = Annotated[float | None, BeforeValidator(_nan_to_none)]


# ---- fairness results ----------------------------------------------------------------
class GroupRow(BaseModel):
    """One group of one partition. Undefined values (NaN) are ``None``."""

    model_config = ConfigDict(frozen=True)

    group: str
    n: int
    share: float
    tp: int
    fp: int
    tn: int
    fn: int
    selection_rate: Metric
    selection_rate_ci_low: Metric = None
    selection_rate_ci_high: Metric = None
    impact_ratio: Metric = None
    impact_ratio_ci_low: Metric = None
    impact_ratio_ci_high: Metric = None
    tpr: Metric = None
    tpr_ci_low: Metric = None
    tpr_ci_high: Metric = None
    fpr: Metric = None
    fpr_ci_low: Metric = None
    fpr_ci_high: Metric = None
    auc: Metric = None
    auc_ci_low: Metric = None
    auc_ci_high: Metric = None
    calibration_error: Metric = None
    calibration_error_ci_low: Metric = None
    calibration_error_ci_high: Metric = None
    included_in_ratios: bool
    excluded_reason: str | None = None
    insufficient: bool
    p_value: Metric = None
    p_value_adjusted: Metric = None


class Summary(BaseModel):
    """A disparity summary of one partition over its included groups."""

    model_config = ConfigDict(frozen=True)

    name: str
    value: Metric
    ci_low: Metric = None
    ci_high: Metric = None
    groups_compared: int
    insufficient: bool


class AttributeResult(BaseModel):
    """Groups and summaries of one attribute, or of the intersection of several."""

    model_config = ConfigDict(frozen=True)

    attribute: str
    attributes: list[str]
    reference_group: str | None
    groups: list[GroupRow]
    summaries: list[Summary]

    @property
    def is_intersection(self) -> bool:
        """Whether the groups cross two or more attributes."""
        return len(self.attributes) > 1

    def group(self, label: str) -> GroupRow:
        """The row of the group ``label``."""
        return next(row for row in self.groups if row.group == label)

    def summary(self, name: str) -> Summary:
        """The summary ``name`` (one of ``audits.groups.SUMMARY_NAMES``)."""
        return next(s for s in self.summaries if s.name == name)


class FairnessResult(BaseModel):
    """Everything :func:`audits.fairness.evaluate_fairness` computed, with its parameters."""

    model_config = ConfigDict(frozen=True)

    n: int
    min_group_size: int
    min_share: float
    n_boot: int
    confidence: float
    seed: int
    correction: Correction
    score_metrics: bool
    attributes: list[AttributeResult]

    def attribute(self, name: str) -> AttributeResult:
        """The result of attribute ``name`` (``"a & b"`` for an intersection)."""
        return next(a for a in self.attributes if a.attribute == name)


# ---- the served policy's outcomes --------------------------------------------------------
class OutcomeGroup(BaseModel):
    """What the policy did with one group's rows (or all rows), with bootstrap intervals.

    ``referred`` counts every referral; ``adverse`` counts the rows the model recommends
    declining (declined, or referred for adverse review). See :mod:`audits.outcomes`.
    """

    model_config = ConfigDict(frozen=True)

    group: str
    n: int
    share: float
    approved: int
    referred: int
    declined: int
    adverse: int
    approval_rate: Metric
    approval_rate_ci_low: Metric = None
    approval_rate_ci_high: Metric = None
    referral_rate: Metric
    referral_rate_ci_low: Metric = None
    referral_rate_ci_high: Metric = None
    decline_rate: Metric
    decline_rate_ci_low: Metric = None
    decline_rate_ci_high: Metric = None
    adverse_rate: Metric
    adverse_rate_ci_low: Metric = None
    adverse_rate_ci_high: Metric = None
    adverse_impact_ratio: Metric = None
    adverse_impact_ratio_ci_low: Metric = None
    adverse_impact_ratio_ci_high: Metric = None
    included_in_ratios: bool
    insufficient: bool


class OutcomeAttribute(BaseModel):
    """Outcome rates of the groups of one attribute, or of an intersection."""

    model_config = ConfigDict(frozen=True)

    attribute: str
    attributes: list[str]
    reference_group: str | None  # lowest adverse rate among the groups in the ratios
    groups: list[OutcomeGroup]

    def group(self, label: str) -> OutcomeGroup:
        """The row of the group ``label``."""
        return next(row for row in self.groups if row.group == label)


class OutcomeResult(BaseModel):
    """The served policy applied to the held-out rows: overall, by group, rules that fired."""

    model_config = ConfigDict(frozen=True)

    n: int
    n_boot: int
    confidence: float
    seed: int
    overall: OutcomeGroup
    referral_rules: dict[str, int]
    attributes: list[OutcomeAttribute]

    def attribute(self, name: str) -> OutcomeAttribute:
        """The outcomes of attribute ``name`` (``"a & b"`` for an intersection)."""
        return next(a for a in self.attributes if a.attribute == name)


# ---- the gate's checks and the report ---------------------------------------------------
class Check(BaseModel):
    """One gate check: its value, interval, threshold and verdict (see :mod:`audits.checks`)."""

    id: str
    kind: Literal["performance", "impact_ratio", "adverse_impact_ratio", "summary", "champion"]
    metric: str
    # which decision the metric is computed on (the served policy's automated approval,
    # or a justified decision_threshold); empty for checks on scores
    basis: str = ""
    attribute: str | None = None
    group: str | None = None
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    threshold: float | None
    comparator: Literal[">=", "<="]
    verdict: Verdict
    detail: str = ""


class Interval(BaseModel):
    """A point estimate with its bootstrap interval, when there is one."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


class AuditReport(BaseModel):
    """One audit of one model version under one spec's gate."""

    schema_version: str = REPORT_SCHEMA_VERSION
    audit_id: str
    created_at: str
    use_case: str
    model_version: str
    run_id: str
    spec_hash: str
    trained_spec_hash: str
    spec_version: str
    gate: dict[str, Any]
    rule: str
    rule_text: str
    # "policy": the gate judges the served policy's automated approvals (R28);
    # "decision_threshold": a separate threshold, justified in the spec (reports before
    # schema 2 always used one)
    basis: Literal["policy", "decision_threshold"] = "decision_threshold"
    decision_threshold: float | None
    decision_threshold_justification: str = ""
    policy: dict[str, Any] | None = None
    n_test: int
    selection_rate: float
    performance: dict[str, Interval]
    fairness: FairnessResult
    outcomes: OutcomeResult | None = None
    # with basis "decision_threshold": the served policy's automated approvals, shown
    # beside the gated results so both can be read (not gated)
    served_fairness: FairnessResult | None = None
    checks: list[Check]
    champion_version: str | None
    outcome: Outcome

    @property
    def failing(self) -> list[Check]:
        """The checks that keep the gate from passing."""
        return [c for c in self.checks if c.verdict in ("FAIL", "INSUFFICIENT_DATA")]

    def gated_summary(self) -> dict[str, float | None]:
        """Worst gated values, for comparison with a later candidate."""
        ratios = [
            c.value
            for c in self.checks
            if c.kind == "impact_ratio" and c.verdict in ("PASS", "FAIL") and c.value is not None
        ]
        eods = [
            c.value
            for c in self.checks
            if c.metric == "equalized_odds_difference"
            and c.verdict != "INFO"
            and c.value is not None
        ]
        return {
            "roc_auc": self.performance["roc_auc"].value,
            "min_impact_ratio": min(ratios) if ratios else None,
            "equalized_odds_difference": max(eods) if eods else None,
        }


def check_figures(figures: dict[str, str] | None) -> dict[str, str]:
    """The figures (name to base64 PNG), after checking that each is base64 text.

    Figures are inlined as ``data:`` URIs, so anything else could break out of the
    attribute it is written into.

    Examples
    --------
    >>> check_figures({"roc": "iVBORw0KGgo="})
    {'roc': 'iVBORw0KGgo='}
    """
    figures = figures or {}
    bad = sorted(name for name, png in figures.items() if not _BASE64.match(png or ""))
    if bad:
        raise ValueError(f"{MESSAGE_FIGURE} Got invalid data for {bad} instead.")
    return figures


# ---- waivers and the promotion history ----------------------------------------------------
class Waiver(BaseModel):
    """Permission to promote a version whose audit did not pass: why, who asked, who approved.

    Four eyes: the approver must be another person than the requester (compared
    without case). ``at`` is set when the waiver is recorded with a promotion.

    Examples
    --------
    >>> w = Waiver(justification="Pilot limited to 100 reviewed cases.", requested_by="ana",
    ...            approved_by="rui")
    >>> w.approved_by, w.at
    ('rui', None)
    """

    justification: str = Field(min_length=20)
    requested_by: str = Field(min_length=1)
    approved_by: str = Field(min_length=1)
    at: str | None = None

    # before the length checks, so that a blank name or justification is refused
    @field_validator("requested_by", "approved_by", "justification", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _four_eyes(self) -> Waiver:
        # one person under two spellings ("Ann  Lee", "ann lee") is still one person
        if same_name(self.requested_by, self.approved_by):
            raise ValueError(MESSAGE_SAME_PERSON.format(who=self.requested_by))
        return self

    def as_tags(self, audit_id: str) -> dict[str, str]:
        """The model-version tags that record this waiver of audit ``audit_id``."""
        return {
            tags.WAIVER_JUSTIFICATION: self.justification,
            tags.WAIVER_REQUESTED_BY: self.requested_by,
            tags.WAIVER_APPROVED_BY: self.approved_by,
            tags.WAIVER_AT: self.at or "",
            tags.WAIVER_AUDIT_ID: audit_id,
        }

    @classmethod
    def from_tags(cls, version_tags: dict[str, str]) -> Waiver | None:
        """The waiver recorded on a model version, or None when there is none."""
        if tags.WAIVER_JUSTIFICATION not in version_tags:
            return None
        return cls(
            justification=version_tags[tags.WAIVER_JUSTIFICATION],
            requested_by=version_tags.get(tags.WAIVER_REQUESTED_BY, ""),
            approved_by=version_tags.get(tags.WAIVER_APPROVED_BY, ""),
            at=version_tags.get(tags.WAIVER_AT) or None,
        )


class HistoryEvent(BaseModel):
    """One promotion, rollback or refused attempt of a use case."""

    at: str
    action: Literal["promote", "rollback", "refused"]
    version: str
    previous_champion: str | None
    requested_by: str
    approved_by: str | None = None
    reason: str
    audit_id: str | None
    audit_status: str | None
    waiver: Waiver | None = None
