"""Audit one registered model version against its spec's gate, and store the result.

The audit scores the exact held-out test rows of the version's training run,
turns scores into decisions with the gate's threshold, and evaluates
performance and group fairness with seeded bootstrap intervals. The report is
schema-versioned JSON (plus HTML) logged to the version's run, and the outcome
is set as version tags where promotion and auditors look.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.tracking import MlflowClient

from audits.checks import RULE_TEXT, fairness_checks, outcome_of, threshold_check
from audits.fairness import evaluate_fairness
from audits.plots import audit_figures
from audits.report import AuditReport, Check, FairnessResult, Interval
from audits.report_html import render_report
from models import registry, tags
from models.metrics import performance
from models.sensitive import sensitive_labels
from models.settings import Settings
from models.spec import DecisionSpec, Gate

Progress = Callable[[str], None]


class AuditError(ValueError):
    """The audit cannot run: the spec has no gate, or the model does not fit the spec."""


def _quiet(_: str) -> None:
    return None


def performance_intervals(
    y: np.ndarray, scores: np.ndarray, n_boot: int, confidence: float, seed: int
) -> dict[str, Interval]:
    """Performance metrics with a seeded row-bootstrap percentile interval."""
    point = performance(y, scores)
    rng = np.random.default_rng([seed, 7])
    draws: dict[str, list[float]] = {k: [] for k in point}
    n = len(y)
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if y[idx].min() == y[idx].max():
            continue
        for k, v in performance(y[idx], scores[idx]).items():
            draws[k].append(v)
    tail = (1 - confidence) / 2
    out: dict[str, Interval] = {}
    for k, v in point.items():
        if draws[k]:
            lo, hi = np.quantile(draws[k], [tail, 1 - tail])
            out[k] = Interval(value=v, ci_low=float(lo), ci_high=float(hi))
        else:
            out[k] = Interval(value=v)
    return out


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


def evaluate_gate(
    gate: Gate, y: np.ndarray, scores: np.ndarray, groups: pd.DataFrame
) -> tuple[np.ndarray, FairnessResult, dict[str, Interval], list[Check]]:
    """Decisions, fairness, performance and the gate's checks for scored, grouped rows."""
    decisions = (scores >= gate.decision_threshold).astype(np.int64)
    fairness = evaluate_fairness(
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
    perf = performance_intervals(y, scores, gate.n_boot, gate.confidence, gate.seed)
    checks = _performance_checks(perf, gate) + fairness_checks(fairness, gate)
    return decisions, fairness, perf, checks


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
    model = registry.load_model(client, spec.name, version)
    if model.feature_names != spec.feature_names:
        raise AuditError(
            f"use case {spec.name!r}: version {version} was trained on features"
            f" {model.feature_names}, but the current spec lists {spec.feature_names};"
            " retrain before auditing under this spec"
        )
    rows = registry.load_frame(client, run_id, registry.TEST_SPLIT_ARTIFACT)
    y = rows["__target"].to_numpy(dtype=np.int64)
    scores = model.score(model.encode(rows))
    groups = sensitive_labels(spec, rows)
    progress(f"[{spec.name}] {len(rows)} test rows; bootstrap with {gate.n_boot} resamples")
    decisions, fairness, perf, checks = evaluate_gate(gate, y, scores, groups)

    champion = registry.alias_version(client, spec.name, registry.CHAMPION)
    report = AuditReport(
        audit_id=uuid.uuid4().hex,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        use_case=spec.name,
        model_version=version,
        run_id=run_id,
        spec_hash=spec.spec_hash(),
        trained_spec_hash=(mv.tags or {}).get(tags.SPEC_HASH, ""),
        spec_version=spec.version,
        gate=gate.model_dump(mode="json"),
        rule=gate.rule,
        rule_text=RULE_TEXT[gate.rule],
        decision_threshold=gate.decision_threshold,
        n_test=len(rows),
        selection_rate=float(decisions.mean()),
        performance=perf,
        fairness=fairness,
        checks=checks,
        champion_version=champion if champion != version else None,
        outcome="PASS",
    )
    if report.champion_version is not None:
        previous = latest_report(client, spec.name, report.champion_version)
        if previous is not None:
            report.checks += champion_checks(
                report.gated_summary(), previous.gated_summary(), gate, report.champion_version
            )
    report.outcome = outcome_of(report.checks)
    progress(f"[{spec.name}] version {version}: {report.outcome}")
    if store:
        store_report(client, report, audit_figures(report, y, scores, groups))
    return report


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
