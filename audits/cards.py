"""Model cards (R19): one per model version, built from the spec, the run and the audit.

The JSON uses the Model Card Toolkit's field names (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``) and adds
Docket's sections: ``fairness``, ``gate``, ``review_policy``, ``reason_codes``,
``factors``, ``caveats`` and ``changes_since_champion``. Out-of-scope uses have
their own list, ``considerations.out_of_scope_uses`` (not an MCT field).

Ethical considerations and caveats are derived from facts: the datasheet's gaps
and biases, the sensitive attributes, the groups the audit could not judge or left
out of the ratios, the failing checks and any waiver. :func:`missing_sections`
names the sections that are empty; promotion is blocked while any is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import Template
from pydantic import BaseModel, ConfigDict, Field

from audits.fairness import AttributeResult, GroupRow
from audits.report_html import check_figures, ci, comparator, html_environment, num, pct
from models.spec import DecisionSpec

if TYPE_CHECKING:
    from audits.audit import AuditReport
    from audits.checks import Check

CARD_SCHEMA_VERSION = "1"
FIRST_VERSION = "first version: no previous champion"

# The sections R19 requires, in its order; :func:`missing_sections` returns these names.
SECTIONS = (
    "model_details",
    "intended_use",
    "out_of_scope_use",
    "factors",
    "metrics",
    "evaluation_data",
    "training_data",
    "unitary_fairness",
    "intersectional_fairness",
    "gate_outcome",
    "review_policy",
    "reason_codes",
    "ethical_considerations",
    "caveats",
)

_ARCHITECTURE = {
    "logistic": "Logistic regression with sign constraints on monotone features",
    "gbm": "Gradient-boosted decision trees (LightGBM) with monotone constraints",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- Model Card Toolkit sections ---------------------------------------------------
class Owner(_Section):
    name: str
    contact: str = ""


class Version(_Section):
    name: str
    date: str
    diff: str = ""


class License(_Section):
    identifier: str = ""
    custom_text: str = ""


class Reference(_Section):
    reference: str


class ModelDetails(_Section):
    name: str
    overview: str
    version: Version
    owners: list[Owner] = Field(default_factory=list)
    licenses: list[License] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    path: str = ""
    regulatory_requirements: str = ""


class SensitiveData(_Section):
    sensitive_data: list[str] = Field(default_factory=list)


class Dataset(_Section):
    name: str
    link: str = ""
    source: str = ""
    sensitive: SensitiveData = Field(default_factory=SensitiveData)
    description: str = ""
    rows: int | None = None


class DataSets(_Section):
    train: Dataset
    eval: Dataset


class ModelParameters(_Section):
    model_architecture: str
    data: DataSets
    input_format: str
    output_format: str


class ConfidenceInterval(_Section):
    lower_bound: float
    upper_bound: float


class PerformanceMetric(_Section):
    type: str
    value: float | None
    slice: str = ""
    confidence_interval: ConfidenceInterval | None = None


class Graphic(_Section):
    name: str
    image: str


class Graphics(_Section):
    description: str = ""
    collection: list[Graphic] = Field(default_factory=list)


class QuantitativeAnalysis(_Section):
    performance_metrics: list[PerformanceMetric] = Field(default_factory=list)
    graphics: Graphics = Field(default_factory=Graphics)


class Description(_Section):
    description: str


class Risk(_Section):
    name: str
    mitigation_strategy: str


class Considerations(_Section):
    users: list[Description] = Field(default_factory=list)
    use_cases: list[Description] = Field(default_factory=list)
    out_of_scope_uses: list[Description] = Field(default_factory=list)
    limitations: list[Description] = Field(default_factory=list)
    tradeoffs: list[Description] = Field(default_factory=list)
    ethical_considerations: list[Risk] = Field(default_factory=list)


# ---- Docket sections ---------------------------------------------------------------
class FairnessRow(_Section):
    attribute: str
    group: str
    n: int
    share: float
    selection_rate: float | None
    selection_rate_ci: ConfidenceInterval | None = None
    impact_ratio: float | None
    impact_ratio_ci: ConfidenceInterval | None = None
    included_in_ratios: bool
    excluded_reason: str | None = None
    insufficient: bool
    verdict: str = ""


class FairnessSummary(_Section):
    attribute: str
    name: str
    value: float | None
    confidence_interval: ConfidenceInterval | None = None
    groups_compared: int
    insufficient: bool


class Fairness(_Section):
    unitary: list[FairnessRow] = Field(default_factory=list)
    intersectional: list[FairnessRow] = Field(default_factory=list)
    summaries: list[FairnessSummary] = Field(default_factory=list)
    note: str = ""


class FailingCheck(_Section):
    id: str
    metric: str
    value: float | None
    threshold: float | None
    comparator: str
    verdict: str
    detail: str = ""


class Waiver(BaseModel):
    """A promotion waiver: who asked, who approved, why and when (extra keys kept)."""

    model_config = ConfigDict(extra="allow")

    justification: str = ""
    requested_by: str = ""
    approved_by: str = ""
    at: str = ""


class GateSection(_Section):
    outcome: str | None = None
    audit_id: str | None = None
    spec_hash: str | None = None
    rule: str | None = None
    rule_text: str = ""
    thresholds: dict[str, Any] = Field(default_factory=dict)
    failing_checks: list[FailingCheck] = Field(default_factory=list)
    waiver: Waiver | None = None


class ReasonCodeEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    features: list[str] = Field(default_factory=list)
    adverse: str = ""
    favourable: str = ""


class ReasonCodes(_Section):
    version: str | None = None
    codes: list[ReasonCodeEntry] = Field(default_factory=list)


class Factor(_Section):
    attribute: str
    derived_from: str | None = None
    groups: list[str] = Field(default_factory=list)
    model_input: bool
    note: str = ""


class MetricDelta(_Section):
    metric: str
    previous: float | None
    current: float | None
    delta: float | None


class Changes(_Section):
    previous_champion: str | None = None
    summary: str
    deltas: list[MetricDelta] = Field(default_factory=list)


class ModelCard(_Section):
    """A model card: MCT field names plus Docket's fairness, gate and policy sections."""

    schema_version: str = CARD_SCHEMA_VERSION
    model_details: ModelDetails
    model_parameters: ModelParameters
    quantitative_analysis: QuantitativeAnalysis
    considerations: Considerations
    fairness: Fairness
    gate: GateSection
    review_policy: dict[str, Any] = Field(default_factory=dict)
    reason_codes: ReasonCodes
    factors: list[Factor]
    caveats: list[str]
    changes_since_champion: Changes


# ---- building ------------------------------------------------------------------------
def build_card(
    spec: DecisionSpec,
    *,
    version: str,
    created_at: str,
    run_metrics: dict[str, float],
    run_tags: dict[str, str],
    data_report: dict[str, Any],
    report: AuditReport | None,
    waiver: dict[str, Any] | None,
    previous: AuditReport | None,
    figures: dict[str, str] | None = None,
) -> ModelCard:
    """Build the model card of one model version.

    Parameters
    ----------
    spec : DecisionSpec
        The spec the version was trained and audited under.
    version : str
        Registered model version.
    created_at : str
        When the version was registered (ISO 8601).
    run_metrics : dict of str to float
        Metrics of the training run (``test_*``, ``rows_*``).
    run_tags : dict of str to str
        Tags of the training run (``docket.*``).
    data_report : dict
        The run's ``data/report.json``.
    report : AuditReport or None
        The version's latest audit; without one, the metrics, fairness and gate
        sections are empty.
    waiver : dict or None
        The promotion waiver (justification, requested_by, approved_by, at).
    previous : AuditReport or None
        The audit of the previous champion, for the changes section.
    figures : dict of str to str, optional
        Audit figures (base64 PNG), kept under ``quantitative_analysis.graphics``.

    Returns
    -------
    ModelCard
    """
    raw = spec.model_dump(mode="json")
    policy: dict[str, Any] = raw.get("policy") or {}
    granted = Waiver.model_validate(waiver) if waiver else None
    changes = _changes(report, previous, run_metrics)
    groups = _groups_by_attribute(report)
    return ModelCard(
        model_details=_details(spec, version, created_at, run_tags, changes, report),
        model_parameters=_parameters(spec, run_metrics, data_report, report),
        quantitative_analysis=_quantitative(report, figures),
        considerations=Considerations(
            users=_users(spec, policy),
            use_cases=[Description(description=spec.intended_use)],
            out_of_scope_uses=[Description(description=u) for u in spec.out_of_scope_use],
            limitations=_limitations(spec, report),
            tradeoffs=_tradeoffs(spec, policy, report),
            ethical_considerations=_ethics(spec, policy, report, granted),
        ),
        fairness=_fairness(spec, report),
        gate=_gate(report, granted),
        review_policy=policy,
        reason_codes=_reason_codes(raw.get("reasons") or {}),
        factors=_factors(spec, groups),
        caveats=_caveats(spec, run_metrics, run_tags, data_report, report, granted),
        changes_since_champion=changes,
    )


def _metric(metrics: dict[str, float], name: str) -> float | None:
    value = metrics.get(f"test_{name}", metrics.get(name))
    return None if value is None else float(value)


def _rows(metrics: dict[str, float], name: str) -> int | None:
    value = metrics.get(name)
    return None if value is None else int(value)


def _interval(low: float | None, high: float | None) -> ConfidenceInterval | None:
    if low is None or high is None:
        return None
    return ConfidenceInterval(lower_bound=low, upper_bound=high)


def _details(
    spec: DecisionSpec,
    version: str,
    created_at: str,
    tags: dict[str, str],
    changes: Changes,
    report: AuditReport | None,
) -> ModelDetails:
    references = [
        Reference(
            reference=f"Decision spec '{spec.name}' version {spec.version}, hash {spec.spec_hash()}"
        )
    ]
    if run_id := tags.get("docket.run_id"):
        references.append(Reference(reference=f"MLflow training run {run_id}"))
    if commit := tags.get("docket.git_commit"):
        references.append(Reference(reference=f"Code commit {commit}"))
    if report is not None:
        references.append(Reference(reference=f"Audit {report.audit_id} ({report.created_at})"))
    gate = spec.gate
    regulatory = (
        "Docket gives no legal advice. This card records what users subject to rules such as"
        " ECOA/Regulation B, FCRA, NYC Local Law 144, the EEOC four-fifths rule, the EU AI Act"
        " and GDPR Art. 22 are asked for: selection rates and impact ratios by group and"
        " intersection"
        + (f" (gate minimum impact ratio {gate.min_impact_ratio:g})" if gate else "")
        + ", principal reasons for adverse decisions from the reason-code catalogue, and the"
        " human-review policy."
    )
    return ModelDetails(
        name=spec.name,
        overview=spec.description,
        version=Version(name=version, date=created_at, diff=changes.summary),
        owners=[Owner(name=o) for o in [tags.get("docket.owner", "")] if o],
        references=references,
        path=f"models:/{spec.name}/{version}",
        regulatory_requirements=regulatory,
    )


def _datasheet_text(spec: DecisionSpec) -> str:
    sheet = spec.data.datasheet
    return (
        f"Source: {sheet.source} Original purpose: {sheet.original_purpose}"
        f" Preparation: {sheet.preparation} Known gaps: {sheet.known_gaps}"
        f" Known biases: {sheet.known_biases}"
    )


def _parameters(
    spec: DecisionSpec,
    metrics: dict[str, float],
    data_report: dict[str, Any],
    report: AuditReport | None,
) -> ModelParameters:
    family = spec.model.family
    monotone = [f for f, feat in spec.features.items() if feat.monotone]
    params = ", ".join(f"{k}={v}" for k, v in spec.model.params.items()) or "defaults"
    architecture = (
        f"{_ARCHITECTURE.get(family, family)} ({', '.join(monotone) or 'none'}); parameters:"
        f" {params}; seed {spec.model.seed}; scores Platt-calibrated on a separate calibration"
        " split."
    )
    sensitive = SensitiveData(sensitive_data=list(spec.sensitive.attributes))
    description = _datasheet_text(spec)
    source = str(data_report.get("source") or spec.data.source)
    link = spec.data.source if "://" in spec.data.source else ""
    fingerprint = data_report.get("fingerprint")
    suffix = f" (data fingerprint {fingerprint})" if fingerprint else ""
    train = Dataset(
        name=f"{spec.name} training split{suffix}",
        link=link,
        source=source,
        sensitive=sensitive,
        description=description,
        rows=_rows(metrics, "rows_train"),
    )
    evaluation = Dataset(
        name=f"{spec.name} held-out test split{suffix}",
        link=link,
        source=source,
        sensitive=sensitive,
        description=description,
        rows=report.n_test if report is not None else _rows(metrics, "rows_test"),
    )
    inputs = "; ".join(
        f"{name} ({feat.type}, {feat.label}"
        + (
            f", {num(feat.min, 0)}–{num(feat.max, 0)}"
            if feat.type == "numeric"
            else f", one of {feat.categories}"
        )
        + (", may be missing" if feat.nullable else "")
        + ")"
        for name, feat in spec.features.items()
    )
    threshold = spec.gate.decision_threshold if spec.gate else None
    output = (
        f"Probability in [0, 1] that {spec.data.target} is {spec.data.favourable!r} (the"
        " favourable outcome)"
        + (f"; favourable decision when the score is >= {threshold:g}" if threshold else "")
        + "; adverse decisions carry 1 to 4 principal reasons from the reason-code catalogue."
    )
    return ModelParameters(
        model_architecture=architecture,
        data=DataSets(train=train, eval=evaluation),
        input_format=f"One record with: {inputs}.",
        output_format=output,
    )


def _quantitative(
    report: AuditReport | None, figures: dict[str, str] | None
) -> QuantitativeAnalysis:
    graphics = Graphics(
        description="Audit figures: selection rate, ROC and calibration by group.",
        collection=[Graphic(name=k, image=v) for k, v in check_figures(figures).items()],
    )
    if report is None:
        return QuantitativeAnalysis(graphics=graphics)
    metrics = [
        PerformanceMetric(
            type=name,
            value=m.value,
            slice="overall (test split)",
            confidence_interval=_interval(m.ci_low, m.ci_high),
        )
        for name, m in report.performance.items()
    ]
    metrics.append(
        PerformanceMetric(type="selection_rate", value=report.selection_rate, slice="overall")
    )
    for attr in report.fairness.attributes:
        for g in attr.groups:
            slice_ = _slice(attr, g)
            metrics += [
                PerformanceMetric(
                    type="selection_rate",
                    value=g.selection_rate,
                    slice=slice_,
                    confidence_interval=_interval(
                        g.selection_rate_ci_low, g.selection_rate_ci_high
                    ),
                ),
                PerformanceMetric(
                    type="impact_ratio",
                    value=g.impact_ratio,
                    slice=slice_,
                    confidence_interval=_interval(g.impact_ratio_ci_low, g.impact_ratio_ci_high),
                ),
            ]
    return QuantitativeAnalysis(performance_metrics=metrics, graphics=graphics)


def _slice(attr: AttributeResult, g: GroupRow) -> str:
    return g.group if len(attr.attributes) > 1 else f"{attr.attribute}={g.group}"


def _users(spec: DecisionSpec, policy: dict[str, Any]) -> list[Description]:
    users = [
        Description(
            description=f"Applications of the '{spec.name}' use case that request decisions"
            " about people through Docket."
        )
    ]
    if policy:
        users.append(
            Description(
                description="Human reviewers who resolve referred cases and appeals within"
                f" {policy.get('review_deadline_hours', '?')} hours (policy version"
                f" {policy.get('version', '?')})."
            )
        )
    users.append(
        Description(
            description="Auditors and model-risk reviewers reading this card, the audit report"
            " and the decision log."
        )
    )
    return users


def _limitations(spec: DecisionSpec, report: AuditReport | None) -> list[Description]:
    sheet = spec.data.datasheet
    limits = [Description(description=f"Known gaps in the data: {sheet.known_gaps}")]
    limits.append(
        Description(
            description="Evaluated on a held-out split of the same data set, not on a later or"
            " different population; performance and group rates can drift after deployment."
        )
    )
    if report is not None:
        insufficient = _insufficient_groups(report)
        if insufficient:
            limits.append(
                Description(
                    description="Too few rows to judge fairness for: "
                    + ", ".join(insufficient)
                    + f" (minimum group size {report.fairness.min_group_size})."
                )
            )
    return limits


def _tradeoffs(
    spec: DecisionSpec, policy: dict[str, Any], report: AuditReport | None
) -> list[Description]:
    out: list[Description] = []
    if spec.gate is not None:
        worst = report.gated_summary().get("min_impact_ratio") if report is not None else None
        seen = (
            f"; the lowest gated impact ratio in the audit is {worst:.3f}"
            if worst is not None
            else ""
        )
        out.append(
            Description(
                description=f"One decision threshold ({spec.gate.decision_threshold:g}) for every"
                " group: the same score gets the same decision whatever the group, so selection"
                f" rates can differ between groups{seen}."
            )
        )
        out.append(
            Description(
                description=f"Gate rule '{spec.gate.rule}': "
                + {
                    "point": "point estimates are compared with the thresholds; small groups"
                    " may pass or fail by chance.",
                    "confidence_bound": "the adverse bound of each interval is compared; fewer"
                    " unfair models pass, and more fair models with small groups fail.",
                    "significance": "an impact ratio fails only when it is also significant"
                    " after correction; fewer false alarms, but real gaps in small groups can"
                    " pass.",
                }[spec.gate.rule]
            )
        )
    if policy:
        out.append(
            Description(
                description="Scores between decline_below"
                f" {policy.get('decline_below')} and approve_at {policy.get('approve_at')} are"
                " referred to a human: a wider band means fewer automated errors and more"
                " reviewer time."
            )
        )
    return out


def _insufficient_groups(report: AuditReport) -> list[str]:
    return [
        f"{attr.attribute}: {g.group} (n={g.n})"
        for attr in report.fairness.attributes
        for g in attr.groups
        if g.insufficient and g.included_in_ratios
    ]


def _excluded_groups(report: AuditReport) -> list[str]:
    return [
        f"{attr.attribute}: {g.group} (n={g.n}, {pct(g.share)})"
        for attr in report.fairness.attributes
        for g in attr.groups
        if not g.included_in_ratios
    ]


def _check_text(c: Check) -> str:
    symbol = {">=": "≥", "<=": "≤"}[c.comparator]
    return f"{c.id} = {num(c.value)} (needs {symbol} {num(c.threshold)}): {c.verdict}"


def _ethics(
    spec: DecisionSpec,
    policy: dict[str, Any],
    report: AuditReport | None,
    waiver: Waiver | None,
) -> list[Risk]:
    gate = spec.gate
    if gate is None:
        audited = "No gate in the spec: group outcomes are not audited, so promotion is blocked."
    else:
        eod = gate.max_equalized_odds_difference
        audited = (
            "Selection rates, impact ratios, TPR and FPR are audited for every group and"
            f" intersection; the gate requires impact ratios >= {gate.min_impact_ratio:g}"
            + (f" and equalized-odds differences <= {eod:g}" if eod is not None else "")
            + (f"; latest audit outcome: {report.outcome}." if report else "; no audit yet.")
        )
    risks = [
        Risk(
            name=f"Known biases in the data: {spec.data.datasheet.known_biases}",
            mitigation_strategy=audited,
        )
    ]
    allowed = set(spec.sensitive.allow_as_features)
    for attr in spec.sensitive.attributes:
        derived = spec.derived.get(attr)
        name = f"Sensitive attribute '{attr}'" + (
            f" (bands of '{derived.source}')" if derived else ""
        )
        if attr in allowed:
            mitigation = (
                "Used as a model input by explicit exception in the spec: "
                f"{spec.sensitive.justification} Its effect is audited like any other attribute."
            )
        else:
            mitigation = (
                "Not a model input"
                + (f", nor is its source column '{derived.source}'" if derived else "")
                + " (R10); used only to audit outcomes by group. Other features may still act"
                " as proxies for it: the audit measures outcomes, not intent."
            )
        risks.append(Risk(name=name, mitigation_strategy=mitigation))
    if report is not None:
        lacking = [c for c in report.checks if c.verdict == "INSUFFICIENT_DATA"]
        if lacking:
            risks.append(
                Risk(
                    name="Groups the audit cannot judge: "
                    + "; ".join(f"{c.id} ({c.detail})" for c in lacking),
                    mitigation_strategy="Reported as INSUFFICIENT_DATA, never PASS; the gate"
                    " cannot pass while a gated check lacks data. Collect more data for these"
                    " groups or have their decisions reviewed by a human.",
                )
            )
        excluded = _excluded_groups(report)
        if excluded:
            risks.append(
                Risk(
                    name="Small groups left out of impact ratios: " + "; ".join(excluded),
                    mitigation_strategy=f"Groups under {pct(report.fairness.min_share)} of the"
                    " rows are left out of the ratios as LL144 allows; their counts, rates and"
                    " intervals are still reported here. The gate does not protect them: monitor"
                    " their outcomes after deployment.",
                )
            )
        failing = [c for c in report.checks if c.verdict == "FAIL"]
        if failing:
            risks.append(
                Risk(
                    name="Failing gate checks: " + "; ".join(_check_text(c) for c in failing),
                    mitigation_strategy=(
                        f"Promoted under a waiver approved by {waiver.approved_by or '?'}"
                        f" (requested by {waiver.requested_by or '?'}): {waiver.justification}"
                        if waiver
                        else "Promotion is blocked while a check fails (R11)."
                    ),
                )
            )
    if waiver is not None and not any(r.name.startswith("Failing") for r in risks):
        risks.append(
            Risk(
                name="Promotion under a waiver",
                mitigation_strategy=f"Approved by {waiver.approved_by or '?'} (requested by"
                f" {waiver.requested_by or '?'}, {waiver.at or 'time not recorded'}):"
                f" {waiver.justification}",
            )
        )
    if policy:
        rules = policy.get("rules") or []
        risks.append(
            Risk(
                name="Automated decisions about people",
                mitigation_strategy="Scores between"
                f" {policy.get('decline_below')} and {policy.get('approve_at')} are referred to"
                " a human reviewer"
                + ("; every adverse decision is referred" if policy.get("refer_adverse") else "")
                + (
                    "; out-of-distribution requests are referred"
                    if policy.get("refer_out_of_distribution")
                    else ""
                )
                + (f"; {len(rules)} referral rule(s)" if rules else "")
                + f"; policy version {policy.get('version', '?')}.",
            )
        )
    else:
        risks.append(
            Risk(
                name="Automated decisions about people",
                mitigation_strategy="The spec has no review policy: nothing is referred to a"
                " human, and promotion is blocked until a policy exists.",
            )
        )
    return risks


def _fairness_row(
    attr: AttributeResult, g: GroupRow, verdicts: Mapping[tuple[str, str], str]
) -> FairnessRow:
    return FairnessRow(
        attribute=attr.attribute,
        group=g.group,
        n=g.n,
        share=g.share,
        selection_rate=g.selection_rate,
        selection_rate_ci=_interval(g.selection_rate_ci_low, g.selection_rate_ci_high),
        impact_ratio=g.impact_ratio,
        impact_ratio_ci=_interval(g.impact_ratio_ci_low, g.impact_ratio_ci_high),
        included_in_ratios=g.included_in_ratios,
        excluded_reason=g.excluded_reason,
        insufficient=g.insufficient,
        verdict=verdicts.get((attr.attribute, g.group), ""),
    )


def _fairness(spec: DecisionSpec, report: AuditReport | None) -> Fairness:
    if report is None:
        return Fairness()
    verdicts = {
        (c.attribute or "", c.group or ""): c.verdict
        for c in report.checks
        if c.kind == "impact_ratio"
    }
    out = Fairness()
    for attr in report.fairness.attributes:
        rows = [_fairness_row(attr, g, verdicts) for g in attr.groups]
        (out.intersectional if len(attr.attributes) > 1 else out.unitary).extend(rows)
        out.summaries += [
            FairnessSummary(
                attribute=attr.attribute,
                name=s.name,
                value=s.value,
                confidence_interval=_interval(s.ci_low, s.ci_high),
                groups_compared=s.groups_compared,
                insufficient=s.insufficient,
            )
            for s in attr.summaries
        ]
    if len(spec.sensitive.attributes) == 1:
        out.note = "one sensitive attribute: there are no intersections to report"
    return out


def _gate(report: AuditReport | None, waiver: Waiver | None) -> GateSection:
    if report is None:
        return GateSection(waiver=waiver)
    return GateSection(
        outcome=report.outcome,
        audit_id=report.audit_id,
        spec_hash=report.spec_hash,
        rule=report.rule,
        rule_text=report.rule_text,
        thresholds=report.gate,
        failing_checks=[
            FailingCheck(
                id=c.id,
                metric=c.metric,
                value=c.value,
                threshold=c.threshold,
                comparator=c.comparator,
                verdict=c.verdict,
                detail=c.detail,
            )
            for c in report.failing
        ],
        waiver=waiver,
    )


def _reason_codes(reasons: dict[str, Any]) -> ReasonCodes:
    codes = reasons.get("codes") or {}
    return ReasonCodes(
        version=None if reasons.get("version") is None else str(reasons["version"]),
        codes=[
            ReasonCodeEntry.model_validate({"code": code, **entry}) for code, entry in codes.items()
        ],
    )


def _groups_by_attribute(report: AuditReport | None) -> dict[str, list[str]]:
    if report is None:
        return {}
    return {
        a.attribute: [g.group for g in a.groups]
        for a in report.fairness.attributes
        if len(a.attributes) == 1
    }


def _factors(spec: DecisionSpec, groups: dict[str, list[str]]) -> list[Factor]:
    allowed = set(spec.sensitive.allow_as_features)
    factors = []
    for attr in spec.sensitive.attributes:
        derived = spec.derived.get(attr)
        known = groups.get(attr) or (list(derived.labels) if derived else [])
        note = (
            "groups seen in the audit"
            if attr in groups
            else ("bands defined in the spec" if derived else "groups unknown until an audit runs")
        )
        factors.append(
            Factor(
                attribute=attr,
                derived_from=derived.source if derived else None,
                groups=known,
                model_input=attr in allowed,
                note=note,
            )
        )
    return factors


def _caveats(
    spec: DecisionSpec,
    metrics: dict[str, float],
    tags: dict[str, str],
    data_report: dict[str, Any],
    report: AuditReport | None,
    waiver: Waiver | None,
) -> list[str]:
    sheet = spec.data.datasheet
    caveats = [f"Known gaps in the data: {sheet.known_gaps}"]
    prepared = f"Preparation: {sheet.preparation}"
    if data_report:
        prepared += (
            f" The loader read {data_report.get('rows_read', '?')} rows and kept"
            f" {data_report.get('rows_kept', '?')}"
        )
        dropped = {
            k: data_report[k]
            for k in ("missing_target", "out_of_range", "unknown_category", "missing_value")
            if data_report.get(k)
        }
        prepared += f" (dropped: {dropped})." if dropped else "."
    caveats.append(prepared)
    if report is None:
        auc = _metric(metrics, "roc_auc")
        seen = (
            f" The training run's test ROC AUC is {auc:.3f}, without an interval."
            if auc is not None
            else ""
        )
        caveats.append(
            "No audit is stored for this version: metrics with intervals, fairness results and"
            f" the gate outcome are missing, and it cannot be promoted.{seen}"
        )
    else:
        f = report.fairness
        caveats.append(
            f"Intervals are seeded percentile bootstraps ({f.n_boot} resamples, seed {f.seed},"
            f" {f.confidence:.0%}); intervals of max/min summaries can lie above the point"
            " estimate when groups are close."
        )
        tested = sum(1 for a in f.attributes for g in a.groups if g.p_value is not None)
        caveats.append(
            f"{tested} group comparisons were tested together; p-values are adjusted with the"
            f" {f.correction} correction."
        )
        if report.gate.get("intersections") == "report":
            caveats.append("Intersections are reported but not gated by this spec.")
        if report.trained_spec_hash and report.trained_spec_hash != report.spec_hash:
            caveats.append(
                f"The version was trained under spec hash {report.trained_spec_hash} and audited"
                f" under {report.spec_hash}."
            )
        if report.spec_hash != spec.spec_hash():
            caveats.append(
                f"The audit was made under spec hash {report.spec_hash}; this card describes"
                f" spec hash {spec.spec_hash()}."
            )
        insufficient = _insufficient_groups(report)
        if insufficient:
            caveats.append(
                "Results for these groups rest on too few rows to judge: "
                + ", ".join(insufficient)
                + "."
            )
    trained = tags.get("docket.spec_hash")
    if trained and trained != spec.spec_hash() and (report is None or trained != report.spec_hash):
        caveats.append(f"The training run recorded spec hash {trained}, not {spec.spec_hash()}.")
    if waiver is not None:
        caveats.append(
            f"Promoted under a waiver, not a PASS: {waiver.justification} (approved by"
            f" {waiver.approved_by or '?'}, requested by {waiver.requested_by or '?'}"
            f"{', ' + waiver.at if waiver.at else ''})."
        )
    return caveats


def _changes(
    report: AuditReport | None, previous: AuditReport | None, metrics: dict[str, float]
) -> Changes:
    if previous is None:
        champion = report.champion_version if report is not None else None
        if champion is not None:
            return Changes(
                previous_champion=champion,
                summary=f"previous champion version {champion} has no stored audit: no metric"
                " deltas",
            )
        return Changes(summary=FIRST_VERSION)
    before: dict[str, float | None] = {k: v.value for k, v in previous.performance.items()}
    if report is not None:
        now: dict[str, float | None] = {k: v.value for k, v in report.performance.items()}
        before.update(previous.gated_summary())
        now.update(report.gated_summary())
    else:
        now = {k: _metric(metrics, k) for k in before}
    deltas = [
        MetricDelta(
            metric=k, previous=before[k], current=now.get(k), delta=_delta(before[k], now.get(k))
        )
        for k in before
    ]
    shown = ", ".join(f"{d.metric} {d.delta:+.3f}" for d in deltas if d.delta is not None)
    return Changes(
        previous_champion=previous.model_version,
        summary=f"compared with champion version {previous.model_version}"
        f" (audit {previous.audit_id}): {shown or 'no comparable metrics'}",
        deltas=deltas,
    )


def _delta(previous: float | None, current: float | None) -> float | None:
    return None if previous is None or current is None else current - previous


# ---- completeness and rendering ----------------------------------------------------------
def missing_sections(card: ModelCard) -> list[str]:
    """Names of the R19 sections that are empty (see ``SECTIONS``); promotion needs none.

    Examples
    --------
    >>> from audits.cards import SECTIONS
    >>> "gate_outcome" in SECTIONS
    True
    """
    details = card.model_details
    data = card.model_parameters.data
    fairness = card.fairness
    filled = {
        "model_details": bool(details.name and details.overview and details.version.name),
        "intended_use": bool(card.considerations.use_cases),
        "out_of_scope_use": bool(card.considerations.out_of_scope_uses),
        "factors": bool(card.factors),
        "metrics": any(
            m.confidence_interval is not None
            for m in card.quantitative_analysis.performance_metrics
        ),
        "evaluation_data": bool(data.eval.name and data.eval.description),
        "training_data": bool(data.train.name and data.train.description),
        "unitary_fairness": bool(fairness.unitary),
        "intersectional_fairness": bool(fairness.intersectional)
        or bool(fairness.unitary and fairness.note),
        "gate_outcome": card.gate.outcome is not None,
        "review_policy": bool(card.review_policy),
        "reason_codes": bool(card.reason_codes.codes),
        "ethical_considerations": bool(card.considerations.ethical_considerations),
        "caveats": bool(card.caveats),
    }
    return [name for name in SECTIONS if not filled[name]]


def card_json(card: ModelCard) -> dict[str, Any]:
    """The card as JSON-ready data (MCT field names plus Docket's sections)."""
    return card.model_dump(mode="json")


def _policy_lines(policy: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in policy.items():
        if key == "rules":
            for rule in value or []:
                condition = " ".join(
                    f"{op} {rule[op]}"
                    for op in ("above", "below", "equals")
                    if rule.get(op) is not None
                )
                lines.append(
                    f"rule: refer when {rule.get('feature')} {condition}: {rule.get('reason')}"
                )
        else:
            lines.append(f"{key}: {value}")
    return lines


def _view(card: ModelCard) -> dict[str, Any]:
    return {
        "card": card,
        "policy_lines": _policy_lines(card.review_policy),
        "missing": missing_sections(card),
        "overall": [
            m
            for m in card.quantitative_analysis.performance_metrics
            if m.slice.startswith("overall")
        ],
    }


def _md(value: Any) -> str:
    text = str(value).replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
    return text.replace("\n", " ")


def _md_ci(interval: ConfidenceInterval | None) -> str:
    return "" if interval is None else ci(interval.lower_bound, interval.upper_bound)


def render_markdown(card: ModelCard) -> str:
    """The card as Markdown, one heading per section (text from the spec is escaped)."""
    view = _view(card)
    d = card.model_details
    p = card.model_parameters
    c = card.considerations
    g = card.gate
    lines = [f"# Model card: {_md(d.name)} version {_md(d.version.name)}", ""]
    if view["missing"]:
        lines += [f"> Incomplete: empty sections: {', '.join(view['missing'])}.", ""]
    sections: list[tuple[str, list[str]]] = [
        (
            "Model details",
            [
                _md(d.overview),
                "",
                *_bullets(
                    [
                        f"Version: {d.version.name} ({d.version.date})",
                        f"Changes: {d.version.diff}",
                        f"Path: {d.path}",
                        *(f"Owner: {o.name}" for o in d.owners),
                        *(f"Reference: {r.reference}" for r in d.references),
                        f"Regulatory context: {d.regulatory_requirements}",
                        f"Architecture: {p.model_architecture}",
                        f"Input: {p.input_format}",
                        f"Output: {p.output_format}",
                    ]
                ),
            ],
        ),
        (
            "Intended use",
            [
                *_bullets(u.description for u in c.use_cases),
                "",
                "### Users",
                "",
                *_bullets(u.description for u in c.users),
            ],
        ),
        ("Out-of-scope use", _bullets(u.description for u in c.out_of_scope_uses)),
        (
            "Factors",
            _table(
                ["Attribute", "Derived from", "Groups", "Model input", "Note"],
                [
                    [
                        f.attribute,
                        f.derived_from or "",
                        ", ".join(f.groups),
                        _yes(f.model_input),
                        f.note,
                    ]
                    for f in card.factors
                ],
            ),
        ),
        (
            "Metrics",
            _table(
                ["Metric", "Slice", "Value", "Interval"],
                [
                    [m.type, m.slice, num(m.value), _md_ci(m.confidence_interval)]
                    for m in view["overall"]
                ],
                empty="No audit: no metrics with intervals.",
            ),
        ),
        ("Evaluation data", _dataset_md(p.data.eval)),
        ("Training data", _dataset_md(p.data.train)),
        ("Unitary fairness", _groups_md(card.fairness.unitary)),
        (
            "Intersectional fairness",
            [
                *_groups_md(card.fairness.intersectional, card.fairness.note),
                "",
                "### Summaries",
                "",
                *_table(
                    ["Attribute", "Summary", "Value", "Interval", "Groups", "Insufficient"],
                    [
                        [
                            s.attribute,
                            s.name,
                            num(s.value),
                            _md_ci(s.confidence_interval),
                            str(s.groups_compared),
                            _yes(s.insufficient),
                        ]
                        for s in card.fairness.summaries
                    ],
                    empty="No audit: no summaries.",
                ),
            ],
        ),
        (
            "Gate outcome",
            _bullets(
                [
                    f"Outcome: {g.outcome or 'no audit'}",
                    f"Audit: {g.audit_id or '—'}; spec hash {g.spec_hash or '—'}",
                    f"Rule: {g.rule or '—'}. {g.rule_text}",
                    *(
                        f"Failing: {f.id} = {num(f.value)} (needs {comparator(f.comparator)}"
                        f" {num(f.threshold)}): {f.verdict} {f.detail}".rstrip()
                        for f in g.failing_checks
                    ),
                    *(
                        [
                            f"Waiver: {g.waiver.justification} (requested by"
                            f" {g.waiver.requested_by}, approved by {g.waiver.approved_by},"
                            f" at {g.waiver.at})"
                        ]
                        if g.waiver
                        else []
                    ),
                ]
            ),
        ),
        ("Review policy", _bullets(view["policy_lines"]) or ["No review policy."]),
        (
            "Reason-code catalogue",
            [
                f"Catalogue version: {_md(card.reason_codes.version or '—')}",
                "",
                *_table(
                    ["Code", "Features", "Adverse", "Favourable"],
                    [
                        [r.code, ", ".join(r.features), r.adverse, r.favourable]
                        for r in card.reason_codes.codes
                    ],
                    empty="No reason codes.",
                ),
            ],
        ),
        (
            "Ethical considerations",
            [
                f"- **{_md(r.name)}** — {_md(r.mitigation_strategy)}"
                for r in c.ethical_considerations
            ],
        ),
        (
            "Limitations and trade-offs",
            _bullets(
                [
                    *(u.description for u in c.limitations),
                    *(f"Trade-off: {u.description}" for u in c.tradeoffs),
                ]
            ),
        ),
        ("Caveats", _bullets(card.caveats)),
        (
            "Changes since champion",
            [
                _md(card.changes_since_champion.summary),
                "",
                *_bullets(
                    f"{m.metric}: {num(m.previous)} → {num(m.current)}"
                    for m in card.changes_since_champion.deltas
                ),
            ],
        ),
    ]
    for title, body in sections:
        lines += [f"## {title}", "", *body, ""]
    return "\n".join(lines).rstrip() + "\n"


def _bullets(items: Iterable[str]) -> list[str]:
    return [f"- {_md(item)}" for item in items]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _table(header: list[str], rows: list[list[str]], empty: str = "") -> list[str]:
    if not rows and empty:
        return [empty]
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows),
    ]


def _dataset_md(data: Dataset) -> list[str]:
    return _bullets(
        [
            f"Name: {data.name}",
            f"Source: {data.source}",
            f"Rows: {data.rows if data.rows is not None else 'unknown'}",
            f"Sensitive data: {', '.join(data.sensitive.sensitive_data)}",
            f"Datasheet: {data.description}",
        ]
    )


def _groups_md(rows: list[FairnessRow], note: str = "") -> list[str]:
    return _table(
        [
            "Attribute",
            "Group",
            "n",
            "Share",
            "Selection rate",
            "Interval",
            "Impact ratio",
            "Interval",
            "In ratios",
            "Insufficient",
            "Verdict",
        ],
        [
            [
                r.attribute,
                r.group,
                str(r.n),
                pct(r.share),
                num(r.selection_rate),
                _md_ci(r.selection_rate_ci),
                num(r.impact_ratio),
                _md_ci(r.impact_ratio_ci),
                _yes(r.included_in_ratios),
                _yes(r.insufficient),
                r.verdict,
            ]
            for r in rows
        ],
        empty=note or "No audit: no results.",
    )


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Model card: {{ d.name }} version {{ d.version.name }}</title>
<style>{{ style }}</style>
</head>
<body>
{% macro interval(x) %}{% if x %}{{ ci(x.lower_bound, x.upper_bound) }}{% endif %}{% endmacro %}
{% macro groups(rows) %}
<table class="groups">
<thead><tr><th>Attribute</th><th>Group</th><th>n</th><th>Share</th><th>Selection rate</th>
<th>Interval</th><th>Impact ratio</th><th>Interval</th><th>In ratios</th><th>Insufficient</th>
<th>Verdict</th></tr></thead>
<tbody>
{% for r in rows %}<tr data-group="{{ r.group }}"><td>{{ r.attribute }}</td><td>{{ r.group }}</td>
<td class="num">{{ r.n }}</td><td class="num">{{ r.share | pct }}</td>
<td class="num">{{ r.selection_rate | num }}</td><td class="num">{{ interval(r.selection_rate_ci) }}</td>
<td class="num">{{ r.impact_ratio | num }}</td><td class="num">{{ interval(r.impact_ratio_ci) }}</td>
<td>{{ "yes" if r.included_in_ratios else "no: " ~ r.excluded_reason }}</td>
<td>{{ "INSUFFICIENT_DATA" if r.insufficient else "no" }}</td>
<td class="verdict-{{ r.verdict }}">{{ r.verdict }}</td></tr>
{% endfor %}</tbody>
</table>
{% endmacro %}
{% macro dataset(x) %}
<dl class="meta"><dt>Name</dt><dd>{{ x.name }}</dd><dt>Source</dt><dd>{{ x.source }}</dd>
<dt>Rows</dt><dd>{{ x.rows if x.rows is not none else "unknown" }}</dd>
<dt>Sensitive data</dt><dd>{{ x.sensitive.sensitive_data | join(", ") }}</dd></dl>
<p>{{ x.description }}</p>
{% endmacro %}
<header id="header">
<h1>Model card: {{ d.name }} version {{ d.version.name }}
{% if card.gate.outcome %} <span class="badge {{ card.gate.outcome }}">{{ card.gate.outcome }}</span>{% endif %}</h1>
{% if missing %}<p class="warning" id="missing">Incomplete: empty sections: {{ missing | join(", ") }}.</p>{% endif %}
</header>

<section id="model_details">
<h2>Model details</h2>
<p>{{ d.overview }}</p>
<dl class="meta">
<dt>Version</dt><dd>{{ d.version.name }} ({{ d.version.date }})</dd>
<dt>Changes</dt><dd>{{ d.version.diff }}</dd>
<dt>Path</dt><dd>{{ d.path }}</dd>
{% for o in d.owners %}<dt>Owner</dt><dd>{{ o.name }}</dd>{% endfor %}
{% for r in d.references %}<dt>Reference</dt><dd>{{ r.reference }}</dd>{% endfor %}
<dt>Architecture</dt><dd>{{ p.model_architecture }}</dd>
<dt>Input</dt><dd>{{ p.input_format }}</dd>
<dt>Output</dt><dd>{{ p.output_format }}</dd>
</dl>
<p class="note">{{ d.regulatory_requirements }}</p>
</section>

<section id="intended_use">
<h2>Intended use</h2>
<ul>{% for u in c.use_cases %}<li>{{ u.description }}</li>{% endfor %}</ul>
<h3>Users</h3>
<ul>{% for u in c.users %}<li>{{ u.description }}</li>{% endfor %}</ul>
</section>

<section id="out_of_scope_use">
<h2>Out-of-scope use</h2>
<ul>{% for u in c.out_of_scope_uses %}<li>{{ u.description }}</li>{% endfor %}</ul>
</section>

<section id="factors">
<h2>Factors</h2>
<table class="factors">
<thead><tr><th>Attribute</th><th>Derived from</th><th>Groups</th><th>Model input</th><th>Note</th></tr></thead>
<tbody>
{% for f in card.factors %}<tr><td>{{ f.attribute }}</td><td>{{ f.derived_from or "" }}</td>
<td>{{ f.groups | join(", ") }}</td><td>{{ "yes" if f.model_input else "no" }}</td><td>{{ f.note }}</td></tr>
{% endfor %}</tbody>
</table>
</section>

<section id="metrics">
<h2>Metrics</h2>
<table class="metrics">
<thead><tr><th>Metric</th><th>Slice</th><th>Value</th><th>Interval</th></tr></thead>
<tbody>
{% for m in overall %}<tr><td>{{ m.type }}</td><td>{{ m.slice }}</td><td class="num">{{ m.value | num }}</td>
<td class="num">{{ interval(m.confidence_interval) }}</td></tr>
{% endfor %}</tbody>
</table>
</section>

<section id="evaluation_data"><h2>Evaluation data</h2>{{ dataset(p.data.eval) }}</section>
<section id="training_data"><h2>Training data</h2>{{ dataset(p.data.train) }}</section>

<section id="unitary_fairness">
<h2>Unitary fairness</h2>
{% if card.fairness.unitary %}{{ groups(card.fairness.unitary) }}{% else %}<p>No audit.</p>{% endif %}
</section>

<section id="intersectional_fairness">
<h2>Intersectional fairness</h2>
{% if card.fairness.intersectional %}{{ groups(card.fairness.intersectional) }}{% endif %}
{% if card.fairness.note %}<p>{{ card.fairness.note }}</p>{% endif %}
{% if card.fairness.summaries %}
<h3>Summaries</h3>
<table class="summaries">
<thead><tr><th>Attribute</th><th>Summary</th><th>Value</th><th>Interval</th><th>Groups</th>
<th>Insufficient</th></tr></thead>
<tbody>
{% for s in card.fairness.summaries %}<tr><td>{{ s.attribute }}</td><td>{{ s.name }}</td>
<td class="num">{{ s.value | num }}</td><td class="num">{{ interval(s.confidence_interval) }}</td>
<td class="num">{{ s.groups_compared }}</td><td>{{ "yes" if s.insufficient else "no" }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
</section>

<section id="gate_outcome">
<h2>Gate outcome</h2>
<dl class="meta">
<dt>Outcome</dt><dd>{{ card.gate.outcome or "no audit" }}</dd>
<dt>Audit id</dt><dd>{{ card.gate.audit_id or "—" }}</dd>
<dt>Spec hash</dt><dd>{{ card.gate.spec_hash or "—" }}</dd>
<dt>Rule</dt><dd>{{ card.gate.rule or "—" }}</dd>
</dl>
<p>{{ card.gate.rule_text }}</p>
{% if card.gate.failing_checks %}
<table class="checks">
<thead><tr><th>Check</th><th>Value</th><th>Threshold</th><th>Verdict</th><th>Detail</th></tr></thead>
<tbody>
{% for f in card.gate.failing_checks %}<tr><td>{{ f.id }}</td><td class="num">{{ f.value | num }}</td>
<td class="num">{{ comparator(f.comparator) }} {{ f.threshold | num }}</td>
<td class="verdict-{{ f.verdict }}">{{ f.verdict }}</td><td>{{ f.detail }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
{% if card.gate.waiver %}{% set w = card.gate.waiver %}
<div id="waiver"><h3>Waiver</h3>
<dl class="meta"><dt>Justification</dt><dd>{{ w.justification }}</dd>
<dt>Requested by</dt><dd>{{ w.requested_by }}</dd><dt>Approved by</dt><dd>{{ w.approved_by }}</dd>
<dt>At</dt><dd>{{ w.at }}</dd></dl></div>
{% endif %}
</section>

<section id="review_policy">
<h2>Review policy</h2>
<ul>{% for line in policy_lines %}<li>{{ line }}</li>{% endfor %}</ul>
</section>

<section id="reason_codes">
<h2>Reason-code catalogue</h2>
<p>Catalogue version: {{ card.reason_codes.version or "—" }}</p>
<table class="reasons">
<thead><tr><th>Code</th><th>Features</th><th>Adverse</th><th>Favourable</th></tr></thead>
<tbody>
{% for r in card.reason_codes.codes %}<tr><td>{{ r.code }}</td><td>{{ r.features | join(", ") }}</td>
<td>{{ r.adverse }}</td><td>{{ r.favourable }}</td></tr>
{% endfor %}</tbody>
</table>
</section>

<section id="ethical_considerations">
<h2>Ethical considerations</h2>
<table class="ethics">
<thead><tr><th>Consideration</th><th>Mitigation</th></tr></thead>
<tbody>
{% for r in c.ethical_considerations %}<tr><td>{{ r.name }}</td><td>{{ r.mitigation_strategy }}</td></tr>
{% endfor %}</tbody>
</table>
<h3>Limitations</h3>
<ul>{% for u in c.limitations %}<li>{{ u.description }}</li>{% endfor %}</ul>
<h3>Trade-offs</h3>
<ul>{% for u in c.tradeoffs %}<li>{{ u.description }}</li>{% endfor %}</ul>
</section>

<section id="caveats">
<h2>Caveats</h2>
<ul>{% for text in card.caveats %}<li>{{ text }}</li>{% endfor %}</ul>
</section>

<section id="changes_since_champion">
<h2>Changes since champion</h2>
<p>{{ card.changes_since_champion.summary }}</p>
{% if card.changes_since_champion.deltas %}
<table class="deltas">
<thead><tr><th>Metric</th><th>Previous</th><th>Current</th><th>Change</th></tr></thead>
<tbody>
{% for m in card.changes_since_champion.deltas %}<tr><td>{{ m.metric }}</td>
<td class="num">{{ m.previous | num }}</td><td class="num">{{ m.current | num }}</td>
<td class="num">{{ m.delta | num }}</td></tr>
{% endfor %}</tbody>
</table>
{% endif %}
</section>

{% if q.graphics.collection %}
<section id="graphics">
<h2>Figures</h2>
{% for g in q.graphics.collection %}<figure><img alt="{{ g.name }}" src="data:image/png;base64,{{ g.image }}">
<figcaption>{{ g.name }}</figcaption></figure>
{% endfor %}</section>
{% endif %}
</body>
</html>
"""


def render_html(card: ModelCard) -> str:
    """The card as a self-contained, autoescaped HTML page."""
    check_figures({g.name: g.image for g in card.quantitative_analysis.graphics.collection})
    return _html_template().render(
        d=card.model_details,
        p=card.model_parameters,
        c=card.considerations,
        q=card.quantitative_analysis,
        **_view(card),
    )


@lru_cache(maxsize=1)
def _html_template() -> Template:
    return html_environment().from_string(_HTML)
