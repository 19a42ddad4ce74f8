"""Build a model card from facts: the spec, the training run, the audit and any waiver.

Nothing on a card is typed by hand. Ethical considerations and caveats are derived
from facts: the datasheet's gaps and biases, the sensitive attributes, the groups
the audit could not judge or left out of the ratios, the failing checks and any
waiver. The outcome mix comes from the audit report; the provenance from the
version's tags (``docket.mitigation*``, ``docket.alternatives.*``) and the record of the
alternatives search it was chosen from. The same inputs give the same card.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audits.cards.schema import (
    Changes,
    ConfidenceInterval,
    Considerations,
    Dataset,
    DataSets,
    Description,
    Factor,
    FailingCheck,
    Fairness,
    FairnessRow,
    FairnessSummary,
    GateSection,
    Graphic,
    Graphics,
    MetricDelta,
    Mitigation,
    ModelCard,
    ModelDetails,
    ModelParameters,
    OutcomeRow,
    Outcomes,
    Owner,
    PerformanceMetric,
    Provenance,
    QuantitativeAnalysis,
    ReasonCodeEntry,
    ReasonCodes,
    Reference,
    Risk,
    SearchCandidate,
    SearchSummary,
    SensitiveData,
    Version,
)
from audits.display import comparator, gated_decision, num, pct
from audits.report import (
    AttributeResult,
    AuditReport,
    Check,
    FairnessResult,
    GroupRow,
    OutcomeAttribute,
    OutcomeGroup,
    Waiver,
    check_figures,
)
from audits.search import AlternativesSearch, CandidateResult
from models import tags
from models.spec import DecisionSpec

FIRST_VERSION = "first version: no previous champion"
NO_MITIGATION = "none: the spec's model as trained"
OUTCOME_RATES = ("approval_rate", "referral_rate", "decline_rate", "adverse_rate")

_ARCHITECTURE = {
    "logistic": "Logistic regression with sign constraints on monotone features",
    "gbm": "Gradient-boosted decision trees (LightGBM) with monotone constraints",
}


def build_card(
    spec: DecisionSpec,
    *,
    version: str,
    created_at: str,
    run_metrics: dict[str, float],
    run_tags: dict[str, str],
    data_report: dict[str, Any],
    report: AuditReport | None,
    waiver: Waiver | None,
    previous: AuditReport | None,
    figures: dict[str, str] | None = None,
    reason_reference: str | None = None,
    search: AlternativesSearch | None = None,
    search_problem: str = "",
    frontier_figure: str | None = None,
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
    waiver : Waiver or None
        The waiver the version was (or is about to be) promoted under.
    previous : AuditReport or None
        The audit of the previous champion, for the changes section.
    figures : dict of str to str, optional
        Audit figures (base64 PNG), kept under ``quantitative_analysis.graphics``.
    reason_reference : str, optional
        What principal reasons are measured against, in words.
    search : AlternativesSearch, optional
        The record of the alternatives search the version was chosen from (when its
        tags name one).
    search_problem : str
        Why that record could not be read, when it could not.
    frontier_figure : str, optional
        The search's frontier figure (base64 PNG).

    Returns
    -------
    ModelCard
    """
    raw = spec.model_dump(mode="json")
    policy: dict[str, Any] = raw.get("policy") or {}
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
            ethical_considerations=_ethics(spec, policy, report, waiver),
        ),
        fairness=_fairness(spec, report),
        outcomes=_outcomes(report),
        gate=_gate(report, waiver),
        provenance=_provenance(run_tags, search, search_problem, frontier_figure),
        review_policy=policy,
        reason_codes=_reason_codes(raw.get("reasons") or {}, reason_reference),
        factors=_factors(spec, groups),
        caveats=_caveats(spec, run_metrics, run_tags, data_report, report, waiver),
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
    run_tags: dict[str, str],
    changes: Changes,
    report: AuditReport | None,
) -> ModelDetails:
    references = [
        Reference(
            reference=f"Decision spec '{spec.name}' version {spec.version}, hash {spec.spec_hash()}"
        )
    ]
    if run_id := run_tags.get(tags.RUN_ID):
        references.append(Reference(reference=f"MLflow training run {run_id}"))
    if commit := run_tags.get(tags.GIT_COMMIT):
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
        owners=[Owner(name=o) for o in [run_tags.get(tags.OWNER, "")] if o],
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
    if spec.policy is not None:
        decided = (
            f"; approved automatically when the score is >= {spec.policy.approve_at:g} and no"
            f" referral rule fires, declined under {spec.policy.decline_below:g}, referred to a"
            " person in between or when a rule fires"
        )
    elif spec.gate is not None and spec.gate.decision_threshold is not None:
        decided = f"; favourable decision when the score is >= {spec.gate.decision_threshold:g}"
    else:
        decided = ""
    output = (
        f"Probability in [0, 1] that {spec.data.target} is {spec.data.favourable!r} (the"
        " favourable outcome)"
        + decided
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
    if report.outcomes is not None:
        metrics += _outcome_metrics(report.outcomes.overall, "overall (served policy)")
        for o_attr in report.outcomes.attributes:
            for o in o_attr.groups:
                metrics += _outcome_metrics(o, _outcome_slice(o_attr, o), ratio=True)
    return QuantitativeAnalysis(performance_metrics=metrics, graphics=graphics)


def _outcome_metrics(g: OutcomeGroup, slice_: str, ratio: bool = False) -> list[PerformanceMetric]:
    names = (*OUTCOME_RATES, "adverse_impact_ratio") if ratio else OUTCOME_RATES
    return [
        PerformanceMetric(
            type=name,
            value=getattr(g, name),
            slice=slice_,
            confidence_interval=_interval(
                getattr(g, f"{name}_ci_low"), getattr(g, f"{name}_ci_high")
            ),
        )
        for name in names
    ]


def _outcome_slice(attr: OutcomeAttribute, g: OutcomeGroup) -> str:
    return g.group if len(attr.attributes) > 1 else f"{attr.attribute}={g.group}"


def _slice(attr: AttributeResult, g: GroupRow) -> str:
    return g.group if attr.is_intersection else f"{attr.attribute}={g.group}"


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
                description=f"The same thresholds ({_thresholds(spec)}) for every group: the"
                " same score gets the same decision whatever the group, so approval rates can"
                f" differ between groups{seen}."
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
    return f"{c.id} = {num(c.value)} (needs {comparator(c.comparator)} {num(c.threshold)}): {c.verdict}"


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
            f" ({'bands' if derived.kind == 'bands' else 'groups'} of '{derived.source}')"
            if derived
            else ""
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
        (out.intersectional if attr.is_intersection else out.unitary).extend(rows)
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


def _outcome_row(attribute: str, g: OutcomeGroup) -> OutcomeRow:
    intervals = {
        f"{name}_ci": _interval(getattr(g, f"{name}_ci_low"), getattr(g, f"{name}_ci_high"))
        for name in (*OUTCOME_RATES, "adverse_impact_ratio")
    }
    return OutcomeRow(
        attribute=attribute,
        group=g.group,
        n=g.n,
        share=g.share,
        approved=g.approved,
        referred=g.referred,
        declined=g.declined,
        adverse=g.adverse,
        approval_rate=g.approval_rate,
        referral_rate=g.referral_rate,
        decline_rate=g.decline_rate,
        adverse_rate=g.adverse_rate,
        adverse_impact_ratio=g.adverse_impact_ratio,
        included_in_ratios=g.included_in_ratios,
        insufficient=g.insufficient,
        **intervals,
    )


def _outcomes(report: AuditReport | None) -> Outcomes:
    if report is None:
        return Outcomes(note="No audit: no outcomes.")
    gated = gated_decision(report)
    policy = report.policy or {}
    thresholds = (
        f"approve at {policy.get('approve_at')}, decline under {policy.get('decline_below')}"
        f" (policy version {policy.get('version', '?')})"
        if policy
        else ""
    )
    if report.outcomes is None:
        note = (
            "The audit judged no review policy: the spec has none, so the service decides"
            " nothing at operating thresholds and there is no outcome mix to report."
            if not policy and report.schema_version != "1"
            else f"This audit (report schema {report.schema_version}) did not measure the"
            " served policy's outcome mix; audit the version again to report it."
        )
        return Outcomes(basis=report.basis, gated_decision=gated, thresholds=thresholds, note=note)
    o = report.outcomes
    adverse = next(
        (c.basis for c in report.checks if c.kind == "adverse_impact_ratio" and c.basis), ""
    ) or (f"score < decline_below {policy.get('decline_below')} (declined, or referred for review)")
    out = Outcomes(
        basis=report.basis,
        gated_decision=gated,
        thresholds=thresholds,
        adverse_definition=adverse,
        overall=_outcome_row("overall", o.overall),
        referral_rules=dict(o.referral_rules),
        n_boot=o.n_boot,
        confidence=o.confidence,
        seed=o.seed,
    )
    for attr in o.attributes:
        rows = [_outcome_row(attr.attribute, g) for g in attr.groups]
        (out.intersectional if len(attr.attributes) > 1 else out.unitary).extend(rows)
    return out


def _served_rows(served: FairnessResult | None) -> list[FairnessRow]:
    if served is None:
        return []
    return [_fairness_row(attr, g, {}) for attr in served.attributes for g in attr.groups]


def _gate(report: AuditReport | None, waiver: Waiver | None) -> GateSection:
    if report is None:
        return GateSection(waiver=waiver)
    return GateSection(
        outcome=report.outcome,
        audit_id=report.audit_id,
        spec_hash=report.spec_hash,
        rule=report.rule,
        rule_text=report.rule_text,
        basis=report.basis,
        basis_text=gated_decision(report),
        decision_threshold=report.decision_threshold
        if report.basis == "decision_threshold"
        else None,
        decision_threshold_justification=report.decision_threshold_justification,
        thresholds=report.gate,
        served_fairness=_served_rows(report.served_fairness),
        failing_checks=[
            FailingCheck(
                id=c.id,
                metric=c.metric,
                basis=c.basis,
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


def _search_candidate(c: CandidateResult) -> SearchCandidate:
    return SearchCandidate(
        number=c.number,
        name=c.name,
        roc_auc=c.roc_auc,
        roc_auc_ci=_interval(c.roc_auc_ci_low, c.roc_auc_ci_high),
        worst_impact_ratio=c.worst_impact_ratio,
        worst_impact_ratio_ci=_interval(c.worst_impact_ratio_ci_low, c.worst_impact_ratio_ci_high),
        worst_group=c.worst_group,
        equalized_odds_difference=c.equalized_odds_difference,
        equalized_odds_difference_ci=_interval(
            c.equalized_odds_difference_ci_low, c.equalized_odds_difference_ci_high
        ),
        gate_outcome=c.gate_outcome,
        failing=list(c.failing),
        same_predictions_as=c.same_predictions_as,
        on_frontier=c.on_frontier,
    )


def _provenance(
    run_tags: dict[str, str],
    search: AlternativesSearch | None,
    problem: str,
    figure: str | None,
) -> Provenance:
    method = run_tags.get(tags.MITIGATION, "").strip()
    mitigation = (
        Mitigation(
            method=method,
            attribute=run_tags.get(tags.MITIGATION_ATTRIBUTE, ""),
            setting=run_tags.get(tags.MITIGATION_SETTING, ""),
        )
        if method and method != "none"
        else Mitigation(method="none")
    )
    search_id = run_tags.get(tags.ALTERNATIVE_SEARCH) or None
    raw_candidate = run_tags.get(tags.ALTERNATIVE_CANDIDATE, "")
    candidate = int(raw_candidate) if raw_candidate.strip().isdigit() else None
    if search_id is None:
        return Provenance(mitigation=mitigation)
    if search is None:
        return Provenance(
            mitigation=mitigation,
            search_id=search_id,
            candidate=candidate,
            note=f"The version's tags name alternatives search {search_id} (candidate"
            f" {raw_candidate or '?'}), but its record could not be read:"
            f" {problem or 'no record was found'}.",
        )
    notes = []
    if search.search_id != search_id:
        notes.append(
            f"The record is of search {search.search_id}, the version's tags name {search_id}."
        )
    chosen = search.chosen if search.chosen is not None else candidate
    if search.chosen is not None and candidate is not None and search.chosen != candidate:
        notes.append(
            f"The record says candidate {search.chosen} was chosen, the version's tags say"
            f" {candidate}."
        )
    summary = SearchSummary(
        search_id=search.search_id,
        created_at=search.created_at,
        spec_hash=search.spec_hash,
        candidates_tried=len(search.candidates),
        max_candidates=search.max_candidates,
        budget_seconds=search.budget_seconds,
        stopped_by=search.stopped_by,
        best_roc_auc=search.best_roc_auc,
        auc_tolerance=search.auc_tolerance,
        candidates=[_search_candidate(c) for c in search.candidates],
        recommended=search.recommended,
        recommended_why=search.recommended_why,
        chosen=chosen,
        chosen_why=search.chosen_why,
        notes=list(search.notes),
    )
    return Provenance(
        mitigation=mitigation,
        search_id=search_id,
        candidate=candidate,
        search=summary,
        frontier_figure=check_figures({"frontier": figure})["frontier"] if figure else None,
        note=" ".join(notes),
    )


def _reason_codes(reasons: dict[str, Any], reference: str | None) -> ReasonCodes:
    codes = reasons.get("codes") or {}
    return ReasonCodes(
        version=None if reasons.get("version") is None else str(reasons["version"]),
        reference=reference,
        codes=[
            ReasonCodeEntry.model_validate(
                {
                    "code": code,
                    **entry,
                    "adverse": _reason_text(entry.get("adverse")),
                    "favourable": _reason_text(entry.get("favourable")),
                }
            )
            for code, entry in codes.items()
        ],
    )


def _reason_text(text: Any) -> str:
    """A code's text as the card prints it: per-value texts as ``value: text``, one per line.

    Examples
    --------
    >>> _reason_text({"yes": "You have default records", "no": "You have none"})
    'yes: You have default records\\nno: You have none'
    """
    if isinstance(text, dict):
        return "\n".join(f"{value}: {t}" for value, t in text.items())
    return "" if text is None else str(text)


def _groups_by_attribute(report: AuditReport | None) -> dict[str, list[str]]:
    if report is None:
        return {}
    return {
        a.attribute: [g.group for g in a.groups]
        for a in report.fairness.attributes
        if not a.is_intersection
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
    run_tags: dict[str, str],
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
    trained = run_tags.get(tags.SPEC_HASH)
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


def _thresholds(spec: DecisionSpec) -> str:
    if spec.policy is not None:
        return f"approve at {spec.policy.approve_at:g}, decline under {spec.policy.decline_below:g}"
    assert spec.gate is not None and spec.gate.decision_threshold is not None
    return f"decision threshold {spec.gate.decision_threshold:g}"
