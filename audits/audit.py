"""Audit one registered model version against its spec's gate, and store the result.

The audit scores the exact held-out test rows of the version's training run and
decides each one as the service would (:func:`models.policy.policy_outcomes`:
thresholds, high-stakes rules, out-of-distribution check). The gate judges the
automated approvals (R28), unless the spec justifies a separate
``gate.decision_threshold``; the outcome mix (approved, referred, declined,
adverse) is reported by group either way. Performance and group fairness come
with seeded bootstrap intervals. The report is
schema-versioned JSON (plus HTML) logged to the version's run, and the outcome
is set as version tags where promotion and auditors look.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from audits.bootstrap import performance_with_intervals
from audits.checks import (
    RULE_TEXT,
    adverse_impact_checks,
    fairness_checks,
    outcome_of,
    threshold_check,
)
from audits.display import served_decision
from audits.fairness import evaluate_fairness
from audits.outcomes import evaluate_outcomes
from audits.plots import audit_figures
from audits.report import AuditReport, Check, FairnessResult, Interval, Outcome, OutcomeResult
from audits.report_html import render_report
from models import registry, tags
from models.decision_model import DecisionModel
from models.policy import policy_outcomes
from models.sensitive import sensitive_labels
from models.settings import Settings
from models.spec import DecisionSpec, Gate

Progress = Callable[[str], None]
Basis = Literal["policy", "decision_threshold"]


class AuditError(ValueError):
    """The audit cannot run: the spec has no gate, or the model does not fit the spec."""


def _quiet(_: str) -> None:
    return None


def _performance_checks(perf: dict[str, Interval], gate: Gate) -> list[Check]:
    rule = "point" if gate.rule == "significance" else gate.rule
    limits: list[tuple[str, float | None, Literal[">=", "<="]]] = [
        ("roc_auc", gate.min_roc_auc, ">="),
        ("calibration_error", gate.max_calibration_error, "<="),
    ]
    return [
        threshold_check(
            id=metric,
            kind="performance",
            metric=metric,
            value=perf[metric].value,
            ci_low=perf[metric].ci_low,
            ci_high=perf[metric].ci_high,
            threshold=limit,
            comparator=comparator,
            rule=rule,
        )
        for metric, limit, comparator in limits
        if limit is not None
    ]


def champion_checks(
    candidate: dict[str, float | None], champion: dict[str, float | None], gate: Gate, version: str
) -> list[Check]:
    """Regression against the serving champion's own audit, within the spec's tolerances."""
    tol = gate.tolerance
    specs: list[tuple[str, float, Any]] = [
        ("roc_auc", tol.roc_auc, ">="),
        ("min_impact_ratio", tol.min_impact_ratio, ">="),
        ("equalized_odds_difference", tol.equalized_odds_difference, "<="),
    ]
    checks: list[Check] = []
    for metric, allowed, comparator in specs:
        ref = champion.get(metric)
        if ref is None:
            continue
        threshold = ref - allowed if comparator == ">=" else ref + allowed
        checks.append(
            threshold_check(
                id=f"champion.{metric}",
                kind="champion",
                metric=metric,
                value=candidate.get(metric),
                ci_low=None,
                ci_high=None,
                threshold=threshold,
                comparator=comparator,
                rule="point",
                detail=f"champion version {version}: {ref:.4f}, tolerance {allowed}",
            )
        )
    return checks


def latest_report(client: MlflowClient, use_case: str, version: str) -> AuditReport | None:
    """The most recent audit report stored for a version, if any."""
    mv = client.get_model_version(use_case, version)
    audit_id = (mv.tags or {}).get(tags.AUDIT_ID)
    if not audit_id:
        return None
    raw = registry.load_json(client, registry.run_id_of(mv), f"audits/{audit_id}/report.json")
    return AuditReport.model_validate(raw)


def latest_report_html(client: MlflowClient, mv: ModelVersion) -> str | None:
    """The HTML of the version's most recent audit (the one its tags name), if any."""
    audit_id = (mv.tags or {}).get(tags.AUDIT_ID)
    if not audit_id:
        return None
    return registry.load_text(client, registry.run_id_of(mv), f"audits/{audit_id}/report.html")


@dataclass(frozen=True)
class GateEvaluation:
    """Everything the gate judged on a set of scored, grouped held-out rows.

    ``decisions`` is the gated decision per row (1 favourable): the policy's automated
    approval, or ``score >= decision_threshold`` when the spec justifies a separate one.
    """

    basis: Basis
    basis_text: str
    decisions: np.ndarray
    fairness: FairnessResult
    served_fairness: FairnessResult | None
    outcomes: OutcomeResult | None
    performance: dict[str, Interval]
    checks: list[Check]

    @property
    def outcome(self) -> Outcome:
        return outcome_of(self.checks)


def _fairness(
    gate: Gate, y: np.ndarray, decisions: np.ndarray, scores: np.ndarray, groups: pd.DataFrame
) -> FairnessResult:
    return evaluate_fairness(
        y,
        decisions,
        {c: groups[c].to_numpy() for c in groups.columns},
        scores,
        min_group_size=gate.min_group_size,
        min_share=gate.min_share_for_ratios,
        n_boot=gate.n_boot,
        confidence=gate.confidence,
        seed=gate.seed,
        correction=gate.correction,
    )


def evaluate_gate(
    spec: DecisionSpec,
    y: np.ndarray,
    scores: np.ndarray,
    groups: pd.DataFrame,
    frame: pd.DataFrame | None = None,
    out_of_distribution: np.ndarray | None = None,
) -> GateEvaluation:
    """Decisions, outcomes, fairness, performance and the gate's checks for held-out rows.

    Parameters
    ----------
    spec : DecisionSpec
        Its gate, and its policy when it has one.
    y, scores : ndarray
        Observed outcomes (1 favourable) and the model's scores.
    groups : DataFrame
        One column per sensitive attribute.
    frame : DataFrame, optional
        The rows' raw feature values, for the policy's high-stakes rules (needed when
        the policy has rules).
    out_of_distribution : ndarray of bool, optional
        Per row, whether the model's out-of-distribution check fires.
    """
    gate = spec.gate
    if gate is None:
        raise AuditError(f"use case {spec.name!r}: the spec has no [gate] section")
    outcomes: OutcomeResult | None = None
    approved: np.ndarray | None = None
    policy_text = ""
    if spec.policy is not None:
        decided = policy_outcomes(
            spec.policy,
            scores,
            frame if frame is not None else pd.DataFrame(index=range(len(scores))),
            out_of_distribution,
        )
        approved = decided.approved
        policy_text = served_decision(spec.policy.model_dump(mode="json"))
        outcomes = evaluate_outcomes(
            decided,
            {c: groups[c].to_numpy() for c in groups.columns},
            min_group_size=gate.min_group_size,
            min_share=gate.min_share_for_ratios,
            n_boot=gate.n_boot,
            confidence=gate.confidence,
            seed=gate.seed,
        )
    served_fairness: FairnessResult | None = None
    if gate.decision_threshold is None:
        assert approved is not None  # the spec validator requires a policy then
        basis: Basis = "policy"
        basis_text = policy_text
        decisions = approved
        fairness = _fairness(gate, y, decisions, scores, groups)
    else:
        basis = "decision_threshold"
        basis_text = f"score >= decision_threshold {gate.decision_threshold:g}"
        if gate.decision_threshold_justification:
            basis_text += f" (justified in the spec: {gate.decision_threshold_justification})"
        decisions = (scores >= gate.decision_threshold).astype(np.int64)
        fairness = _fairness(gate, y, decisions, scores, groups)
        if approved is not None:
            served_fairness = _fairness(gate, y, approved, scores, groups)
    perf = performance_with_intervals(y, scores, gate.n_boot, gate.confidence, gate.seed)
    checks = _performance_checks(perf, gate) + [
        c.model_copy(update={"basis": basis_text}) for c in fairness_checks(fairness, gate)
    ]
    if outcomes is not None and spec.policy is not None:
        checks += adverse_impact_checks(outcomes, gate, spec.policy)
    return GateEvaluation(
        basis=basis,
        basis_text=basis_text,
        decisions=decisions,
        fairness=fairness,
        served_fairness=served_fairness,
        outcomes=outcomes,
        performance=perf,
        checks=checks,
    )


@dataclass(frozen=True)
class ScoredRows:
    """Held-out rows scored by a model, with what the policy and the audit need of them."""

    rows: pd.DataFrame
    scores: np.ndarray
    out_of_distribution: np.ndarray | None
    groups: pd.DataFrame


def score_rows(spec: DecisionSpec, model: DecisionModel, rows: pd.DataFrame) -> ScoredRows:
    """Score raw rows as serving does, with the out-of-distribution check and the groups."""
    X = model.encode(rows)
    return ScoredRows(
        rows=rows,
        scores=model.score(X),
        out_of_distribution=None if model.ood is None else ~model.ood.inside(X),
        groups=sensitive_labels(spec, rows),
    )


def load_held_out(
    client: MlflowClient, spec: DecisionSpec, mv: ModelVersion
) -> tuple[DecisionModel, pd.DataFrame]:
    """A version's model and the exact held-out rows of its training run.

    Raises :class:`AuditError` when the version was trained on other features than the
    spec lists: its figures would not describe what this spec serves.
    """
    version = str(mv.version)
    model = registry.load_model(client, spec.name, version)
    if model.feature_names != spec.feature_names:
        raise AuditError(
            f"use case {spec.name!r}: version {version} was trained on features"
            f" {model.feature_names}, but the current spec lists {spec.feature_names};"
            " retrain under this spec (or pick a version trained under it)"
        )
    return model, registry.load_frame(client, registry.run_id_of(mv), registry.TEST_SPLIT_ARTIFACT)


def audit_rows(spec: DecisionSpec, model: DecisionModel, rows: pd.DataFrame) -> GateEvaluation:
    """Score held-out rows (with their ``__target``) with ``model`` and judge them under the gate."""
    y = rows["__target"].to_numpy(dtype=np.int64)
    scored = score_rows(spec, model, rows)
    return evaluate_gate(spec, y, scored.scores, scored.groups, rows, scored.out_of_distribution)


def assemble_report(
    spec: DecisionSpec,
    evaluation: GateEvaluation,
    *,
    model_version: str,
    run_id: str,
    trained_spec_hash: str,
    champion_version: str | None,
    audit_id: str | None = None,
    created_at: str | None = None,
) -> AuditReport:
    """The report of one evaluation (its outcome from its checks alone)."""
    gate = spec.gate
    assert gate is not None
    return AuditReport(
        audit_id=audit_id or uuid.uuid4().hex,
        created_at=created_at or datetime.now(UTC).isoformat(timespec="seconds"),
        use_case=spec.name,
        model_version=model_version,
        run_id=run_id,
        spec_hash=spec.spec_hash(),
        trained_spec_hash=trained_spec_hash,
        spec_version=spec.version,
        gate=gate.model_dump(mode="json"),
        rule=gate.rule,
        rule_text=RULE_TEXT[gate.rule],
        basis=evaluation.basis,
        decision_threshold=gate.decision_threshold,
        decision_threshold_justification=gate.decision_threshold_justification,
        policy=None if spec.policy is None else spec.policy.model_dump(mode="json"),
        n_test=len(evaluation.decisions),
        selection_rate=float(evaluation.decisions.mean()),
        performance=evaluation.performance,
        fairness=evaluation.fairness,
        outcomes=evaluation.outcomes,
        served_fairness=evaluation.served_fairness,
        checks=evaluation.checks,
        champion_version=champion_version,
        outcome=evaluation.outcome,
    )


def run_audit(
    spec: DecisionSpec,
    settings: Settings,
    version: str | None = None,
    alias: str | None = None,
    progress: Progress = _quiet,
    store: bool = True,
) -> AuditReport:
    """Audit a version (default: alias ``candidate``) under the current spec's gate."""
    gate = spec.gate
    if gate is None:
        raise AuditError(
            f"use case {spec.name!r}: the spec has no [gate] section; the gate's thresholds must"
            " be fixed in the spec before an audit runs"
        )
    client = registry.connect(settings)
    mv = registry.get_version(client, spec.name, version=version, alias=alias)
    version = str(mv.version)
    run_id = registry.run_id_of(mv)
    progress(f"[{spec.name}] auditing version {version} (run {run_id[:8]})")
    model, rows = load_held_out(client, spec, mv)
    progress(f"[{spec.name}] {len(rows)} test rows; bootstrap with {gate.n_boot} resamples")
    y = rows["__target"].to_numpy(dtype=np.int64)
    scored = score_rows(spec, model, rows)  # once: for the gate and for the figures
    evaluation = evaluate_gate(
        spec, y, scored.scores, scored.groups, rows, scored.out_of_distribution
    )
    progress(f"[{spec.name}] gate judges {evaluation.basis_text}")

    champion = registry.alias_version(client, spec.name, registry.CHAMPION)
    report = assemble_report(
        spec,
        evaluation,
        model_version=version,
        run_id=run_id,
        trained_spec_hash=(mv.tags or {}).get(tags.SPEC_HASH, ""),
        champion_version=champion if champion != version else None,
    )
    if report.champion_version is not None:
        previous = latest_report(client, spec.name, report.champion_version)
        if previous is not None and _same_decisions(previous, report):
            report.checks += champion_checks(
                report.gated_summary(), previous.gated_summary(), gate, report.champion_version
            )
        elif previous is not None:
            report.checks.append(_not_comparable(previous, report.champion_version))
    report.outcome = outcome_of(report.checks)
    progress(f"[{spec.name}] version {version}: {report.outcome}")
    if store:
        store_report(client, report, audit_figures(report, y, scored.scores, scored.groups))
    return report


def _same_decisions(previous: AuditReport, report: AuditReport) -> bool:
    """Whether two audits judged the same decision rule, so their figures compare."""
    return (previous.basis, previous.decision_threshold, previous.policy) == (
        report.basis,
        report.decision_threshold,
        report.policy,
    )


def _not_comparable(previous: AuditReport, version: str) -> Check:
    judged = (
        f"decision_threshold {previous.decision_threshold:g}"
        if previous.basis == "decision_threshold" and previous.decision_threshold is not None
        else f"policy {(previous.policy or {}).get('version', '?')}"
    )
    return Check(
        id="champion.comparable",
        kind="champion",
        metric="same_decision_rule",
        value=None,
        threshold=None,
        comparator=">=",
        verdict="INFO",
        detail=f"champion version {version}'s audit ({previous.audit_id[:12]}) judged {judged},"
        " not this audit's decision rule: no regression check against it; audit the champion"
        " again under the current spec to compare",
    )


def store_report(
    client: MlflowClient, report: AuditReport, figures: dict[str, str] | None = None
) -> None:
    """Log the report (JSON and HTML with figures) to the version's run and tag the version."""
    base = f"audits/{report.audit_id}"
    client.log_dict(report.run_id, report.model_dump(mode="json"), f"{base}/report.json")
    client.log_text(report.run_id, render_report(report, figures), f"{base}/report.html")
    version_tags = {
        tags.AUDIT_STATUS: report.outcome,
        tags.AUDIT_ID: report.audit_id,
        tags.AUDIT_SPEC_HASH: report.spec_hash,
        tags.AUDIT_CREATED_AT: report.created_at,
        tags.AUDIT_REPORT: f"{base}/report.json",
    }
    for key, value in version_tags.items():
        client.set_model_version_tag(report.use_case, report.model_version, key, value)
