"""Search for less discriminatory alternatives to the spec's model (R29).

A bounded, deterministic list of variants of the spec's model is trained on the same
split as ``docket train`` (the spec's seed) and each is judged on the same held-out
rows exactly as the audit judges them (:func:`audits.audit.audit_rows`, the served
policy). In order:

1. the spec's own model (the baseline);
2. dropping the strongest proxies for a sensitive attribute (:mod:`training.proxies`),
   cumulatively, top 1, 2 and 3, only features whose strength reaches ``PROXY_FLOOR``;
3. monotone directions suggested by the data for numeric features without one;
4. regularisation and tree settings;
5. reweighing, and fairlearn's grid reductions (demographic parity, equalized odds) on
   each sensitive attribute with a finer grid (``FINE_GRID``);
6. combinations: the best proxy drop with reweighing, and with stronger regularisation.

The search stops at ``max_candidates`` or when the next candidate would start after
``budget_seconds`` (the baseline always runs). The frontier is the set of candidates
no other candidate beats on all of ROC AUC (higher), worst gated impact ratio (higher)
and worst gated equalized-odds difference (lower). The recommendation is the least
discriminatory candidate (highest worst impact ratio, then lowest equalized-odds
difference) whose ROC AUC is within ``gate.tolerance.roc_auc`` of the best; whether it
passes the gate is said plainly. A candidate whose held-out scores equal an earlier
candidate's changes nothing: it is kept in the table and never offered for registration.

MLflow: one parent run per search (the record as ``SEARCH_ARTIFACT``, the figure as
``FRONTIER_ARTIFACT``) with one nested run per candidate. Candidate models are not
logged: refitting is deterministic, and :func:`register_candidate` refits one through
:func:`training.train.train_use_case` and checks that it reproduces the scores.

What it cannot do: prove that no less discriminatory model exists. It tries a fixed,
small family of changes; a model outside it may do better.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from scipy.stats import spearmanr

from audits.audit import AuditError, GateEvaluation, assemble_report, audit_rows
from audits.frontier_plot import frontier_png
from audits.search import (
    FRONTIER_ARTIFACT,
    SEARCH_ARTIFACT,
    AlternativesSearch,
    CandidateResult,
    ProxyScore,
)
from models import registry, tags
from models.settings import Settings
from models.spec import DecisionSpec
from training import tracking
from training.data import DataError, Dataset
from training.data_check import load_checked
from training.proxies import proxy_scores, ranked_features
from training.split import SplitIndices, split_rows
from training.train import TrainResult, fit_variant, scores_digest, train_use_case
from training.variants import Direction, TrainingSettings

__all__ = [
    "DEFAULT_BUDGET_SECONDS",
    "DEFAULT_MAX_CANDIDATES",
    "FINE_GRID",
    "PROXY_FLOOR",
    "AlternativesError",
    "Searched",
    "frontier",
    "load_search",
    "recommend",
    "register_candidate",
    "run_search",
]

DEFAULT_BUDGET_SECONDS = 300.0
DEFAULT_MAX_CANDIDATES = 16
PROXY_FLOOR = 0.55
FINE_GRID = 41
#: a numeric feature gets a suggested direction only if |Spearman rho| with the outcome
#: on the training rows reaches this
MONOTONE_MIN_RHO = 0.02
RUN_NAME = "alternatives-{use_case}"

Progress = Callable[[str], None]
#: (candidates done, candidates planned, name of the one just done)
OnCandidate = Callable[[int, int, str], None]


class AlternativesError(DataError):
    """A search or a registration from it cannot proceed (a user error: exit status 2)."""


def _quiet(*_: Any) -> None:
    return None


# ---- the plan ----------------------------------------------------------------------------
@dataclass(frozen=True)
class _Plan:
    name: str
    settings: TrainingSettings
    kind: Literal["baseline", "proxy", "other", "combine"] = "other"


def _regularised(spec: DecisionSpec) -> list[tuple[str, dict[str, Any]]]:
    p = spec.model.params
    if spec.model.family == "logistic":
        current = float(p.get("C", 1.0))
        return [(f"C={c:g}", {"C": c}) for c in (0.05, 0.2, 5.0) if c != current]
    leaves = int(p.get("num_leaves", 31))
    child = int(p.get("min_child_samples", 20))
    lam = float(p.get("reg_lambda", 0.0))
    trees = int(p.get("n_estimators", 100))
    return [
        ("fewer leaves", {"num_leaves": max(3, leaves // 2)}),
        ("more samples per leaf", {"min_child_samples": child * 3}),
        ("stronger reg_lambda", {"reg_lambda": max(1.0, lam) * 10}),
        ("fewer trees", {"n_estimators": max(10, trees // 2)}),
    ]


def _stronger(spec: DecisionSpec) -> dict[str, Any]:
    p = spec.model.params
    if spec.model.family == "logistic":
        return {"C": 0.2}
    return {
        "reg_lambda": max(1.0, float(p.get("reg_lambda", 0.0))) * 10,
        "min_child_samples": int(p.get("min_child_samples", 20)) * 3,
    }


def suggested_monotone(
    spec: DecisionSpec, dataset: Dataset, split: SplitIndices
) -> dict[str, Direction]:
    """Directions for numeric features without one: the sign of Spearman's rho on train rows."""
    out: dict[str, Direction] = {}
    y = dataset.y[split.train]
    for name, feature in spec.features.items():
        if feature.type != "numeric" or feature.monotone is not None:
            continue
        x = pd.to_numeric(dataset.frame[name], errors="coerce").to_numpy(dtype=float)[split.train]
        ok = ~np.isnan(x)
        if ok.sum() < 3 or np.ptp(x[ok]) == 0:
            continue
        rho = float(spearmanr(x[ok], y[ok]).statistic)
        if math.isfinite(rho) and abs(rho) >= MONOTONE_MIN_RHO:
            out[name] = "increasing" if rho > 0 else "decreasing"
    return out


def plan_candidates(
    spec: DecisionSpec, dataset: Dataset, split: SplitIndices, proxies: list[ProxyScore]
) -> tuple[list[_Plan], list[str]]:
    """The candidates in order (combinations resolved later), and notes on what was skipped."""
    notes: list[str] = []
    plans = [
        _Plan("spec's own model", TrainingSettings(mitigation=spec.model.mitigation), "baseline")
    ]
    strong = [p for p in ranked_features(proxies) if p.strength >= PROXY_FLOOR][:3]
    strong = strong[: len(spec.feature_names) - 1]
    if not strong:
        notes.append(
            f"no feature reached proxy strength {PROXY_FLOOR} for any sensitive attribute:"
            " no proxy drops and no combinations with one"
        )
    for k in range(1, len(strong) + 1):
        dropped = [p.feature for p in strong[:k]]
        plans.append(
            _Plan("drop " + ", ".join(dropped), TrainingSettings(exclude_features=dropped), "proxy")
        )
    monotone = suggested_monotone(spec, dataset, split)
    if monotone:
        plans.append(_Plan("monotone from data", TrainingSettings(monotone=monotone)))
    else:
        notes.append("no numeric feature without a direction has one suggested by the data")
    for name, params in _regularised(spec):
        plans.append(_Plan(name, TrainingSettings(params=params)))
    plans.append(_Plan("reweighing", TrainingSettings(mitigation="reweighing")))
    for method, short in (("grid-demographic-parity", "DP"), ("grid-equalized-odds", "EO")):
        for attribute in spec.sensitive.attributes:
            settings = TrainingSettings.model_validate(
                {
                    "mitigation": method,
                    "mitigation_attribute": attribute,
                    "mitigation_grid_size": FINE_GRID,
                }
            )
            plans.append(_Plan(f"grid {short} on {attribute}", settings))
    if strong:
        plans.append(
            _Plan(
                "best proxy drop + reweighing", TrainingSettings(mitigation="reweighing"), "combine"
            )
        )
        plans.append(
            _Plan(
                "best proxy drop + stronger regularisation",
                TrainingSettings(params=_stronger(spec)),
                "combine",
            )
        )
    return plans, notes


# ---- judging one candidate ----------------------------------------------------------------
def _judge(spec: DecisionSpec, evaluation: GateEvaluation, spec_hash: str) -> dict[str, Any]:
    report = assemble_report(
        spec,
        evaluation,
        model_version="search",
        run_id="search",
        trained_spec_hash=spec_hash,
        champion_version=None,
    )
    summary = report.gated_summary()
    ratios = [
        c
        for c in report.checks
        if c.kind == "impact_ratio" and c.verdict in ("PASS", "FAIL") and c.value is not None
    ]
    eods = [
        c
        for c in report.checks
        if c.metric == "equalized_odds_difference" and c.verdict != "INFO" and c.value is not None
    ]
    worst_ir = min(ratios, key=lambda c: c.value or 0.0) if ratios else None
    worst_eod = max(eods, key=lambda c: c.value or 0.0) if eods else None
    auc = report.performance["roc_auc"]
    out: dict[str, Any] = {
        "roc_auc": summary["roc_auc"],
        "roc_auc_ci_low": auc.ci_low,
        "roc_auc_ci_high": auc.ci_high,
        "worst_impact_ratio": summary["min_impact_ratio"],
        "worst_impact_ratio_ci_low": worst_ir.ci_low if worst_ir else None,
        "worst_impact_ratio_ci_high": worst_ir.ci_high if worst_ir else None,
        "worst_group": _group_label(worst_ir.group, worst_ir.attribute) if worst_ir else None,
        "equalized_odds_difference": summary["equalized_odds_difference"],
        "equalized_odds_difference_ci_low": worst_eod.ci_low if worst_eod else None,
        "equalized_odds_difference_ci_high": worst_eod.ci_high if worst_eod else None,
        "gate_outcome": report.outcome,
        "failing": [c.id for c in report.failing],
    }
    outcomes = evaluation.outcomes
    if outcomes is not None:
        adverse = [
            g.adverse_impact_ratio
            for a in outcomes.attributes
            for g in a.groups
            if g.included_in_ratios and g.adverse_impact_ratio is not None
        ]
        out["worst_adverse_impact_ratio"] = min(adverse) if adverse else None
        out["approval_rate"] = outcomes.overall.approval_rate
        out["referral_rate"] = outcomes.overall.referral_rate
    else:
        out["approval_rate"] = float(evaluation.decisions.mean())
    return out


def _group_label(group: str | None, attribute: str | None) -> str:
    # intersection labels already name their attributes ("a=x & b=y")
    if group is None or attribute is None or "=" in group:
        return str(group)
    return f"{attribute}={group}"


# ---- frontier and recommendation -----------------------------------------------------------
def _key(c: CandidateResult) -> tuple[float, float, float]:
    """(AUC, worst impact ratio, minus EOD): higher is better on each; undefined is worst."""
    auc = c.roc_auc if c.roc_auc is not None else -math.inf
    ir = c.worst_impact_ratio if c.worst_impact_ratio is not None else -math.inf
    eod = c.equalized_odds_difference if c.equalized_odds_difference is not None else math.inf
    return auc, ir, -eod


def frontier(candidates: list[CandidateResult]) -> set[int]:
    """Numbers of the candidates no other distinct candidate dominates."""
    pool = [c for c in candidates if c.same_predictions_as is None]
    keys = {c.number: _key(c) for c in pool}

    def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        return all(x >= y for x, y in zip(a, b, strict=True)) and a != b

    return {
        c.number
        for c in pool
        if not any(dominates(keys[o.number], keys[c.number]) for o in pool if o is not c)
    }


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def recommend(candidates: list[CandidateResult], tolerance: float) -> tuple[int | None, str]:
    """The least discriminatory candidate within ``tolerance`` of the best AUC, and why."""
    pool = [c for c in candidates if c.same_predictions_as is None and c.roc_auc is not None]
    if not pool:
        return (
            None,
            "No candidate has a defined ROC AUC on the held-out rows; nothing to recommend.",
        )
    best = max(pool, key=lambda c: (c.roc_auc or 0.0, -c.number))
    best_auc = best.roc_auc or 0.0
    near = [c for c in pool if (c.roc_auc or 0.0) >= best_auc - tolerance - 1e-12]
    chosen = max(near, key=lambda c: (_key(c)[1], _key(c)[2], _key(c)[0], -c.number))
    why = (
        f"Candidate {chosen.number} ({chosen.name}) has the highest worst impact ratio"
        f" ({_fmt(chosen.worst_impact_ratio)}"
        + (f", {chosen.worst_group}" if chosen.worst_group else "")
        + f") and then the lowest equalized-odds difference ({_fmt(chosen.equalized_odds_difference)})"
        f" among the {len(near)} of {len(pool)} distinct candidates whose ROC AUC is within"
        f" {tolerance:g} of the best ({best_auc:.3f}, candidate {best.number}); its ROC AUC is"
        f" {_fmt(chosen.roc_auc)}."
    )
    passing = [c.number for c in pool if c.gate_outcome == "PASS"]
    if chosen.gate_outcome == "PASS":
        why += " It passes the gate."
    elif passing:
        why += (
            f" It does not pass the gate (failing: {', '.join(chosen.failing)}); candidates"
            f" {passing} pass it but lie further from the best ROC AUC or are more unequal."
        )
    else:
        why += (
            f" No candidate passes the gate; this one fails {', '.join(chosen.failing)}."
            " Registering it would not make the use case promotable without a waiver."
        )
    return chosen.number, why


# ---- the search -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Searched:
    """A finished search: its record and the frontier figure (PNG bytes)."""

    record: AlternativesSearch
    png: bytes


def _test_rows(dataset: Dataset, split: SplitIndices) -> pd.DataFrame:
    return dataset.frame.iloc[split.test].assign(
        __row_id=split.test, __target=dataset.y[split.test]
    )


def _best_drop(results: list[CandidateResult], plans: list[_Plan]) -> _Plan | None:
    drops = [
        (r, p)
        for r, p in zip(results, plans, strict=False)
        if p.kind == "proxy" and r.same_predictions_as is None
    ]
    if not drops:
        return None
    return max(drops, key=lambda rp: (_key(rp[0])[1], _key(rp[0])[2], _key(rp[0])[0]))[1]


def _metrics(result: CandidateResult) -> dict[str, float]:
    names = (
        "roc_auc",
        "worst_impact_ratio",
        "equalized_odds_difference",
        "worst_adverse_impact_ratio",
        "approval_rate",
        "referral_rate",
        "seconds",
    )
    values = {n: getattr(result, n) for n in names}
    return {n: float(v) for n, v in values.items() if v is not None}


def run_search(
    spec: DecisionSpec,
    settings: Settings,
    *,
    budget_seconds: float = DEFAULT_BUDGET_SECONDS,
    max_candidates: int = DEFAULT_MAX_CANDIDATES,
    progress: Progress = _quiet,
    on_candidate: OnCandidate = _quiet,
) -> Searched:
    """Train and audit the candidates, log the search to MLflow, and return its record."""
    if spec.gate is None:
        raise AuditError(
            f"use case {spec.name!r}: the spec has no [gate] section; a search needs the"
            " gate's thresholds to judge candidates"
        )
    if max_candidates < 1:
        raise AlternativesError(f"max_candidates must be >= 1; got {max_candidates}")
    if budget_seconds < 0:
        raise AlternativesError(f"budget_seconds must be >= 0; got {budget_seconds}")
    gate = spec.gate
    started = time.perf_counter()
    progress(f"[{spec.name}] loading data from {spec.data.source}")
    dataset = load_checked(spec)
    split = split_rows(dataset.y, spec.model.split, spec.model.seed)
    rows = _test_rows(dataset, split)
    proxies = proxy_scores(spec, dataset, split)
    plans, notes = plan_candidates(spec, dataset, split, proxies)
    total = min(len(plans), max_candidates)
    progress(f"[{spec.name}] {len(plans)} candidates planned, at most {total} will run")
    spec_hash = spec.spec_hash()

    client = registry.connect(settings)
    exp_id = tracking.experiment_id(client, settings, spec.name)
    results: list[CandidateResult] = []
    done_plans: list[_Plan] = []
    scores_seen: list[np.ndarray] = []
    stopped_by: Literal["budget", "max_candidates", "exhausted"] = "exhausted"
    with mlflow.start_run(
        experiment_id=exp_id, run_name=RUN_NAME.format(use_case=spec.name)
    ) as parent:
        search_id = parent.info.run_id
        mlflow.set_tags(
            {
                tags.USE_CASE: spec.name,
                tags.SPEC_HASH: spec_hash,
                tags.ALTERNATIVE_SEARCH: search_id,
            }
        )
        mlflow.log_params(
            {
                "budget_seconds": budget_seconds,
                "max_candidates": max_candidates,
                "seed": spec.model.seed,
            }
        )
        for plan in plans:
            if len(results) >= max_candidates:
                stopped_by = "max_candidates"
                break
            if results and time.perf_counter() - started >= budget_seconds:
                stopped_by = "budget"
                break
            number = len(results) + 1
            training, name = plan.settings, plan.name
            if plan.kind == "combine":
                best = _best_drop(results, done_plans)
                if best is None:
                    notes.append(f"{plan.name}: skipped, no proxy drop candidate ran")
                    continue
                training = training.model_copy(
                    update={"exclude_features": best.settings.exclude_features}
                )
                name = f"{best.name} + {plan.name.split(' + ', 1)[1]}"
            t0 = time.perf_counter()
            model = fit_variant(spec, dataset, split, training).model
            evaluation = audit_rows(spec, model, rows)
            scores = model.score(model.encode(rows))
            same = next(
                (i + 1 for i, seen in enumerate(scores_seen) if np.array_equal(seen, scores)), None
            )
            judged = _judge(spec, evaluation, spec_hash)
            with mlflow.start_run(
                experiment_id=exp_id, run_name=f"candidate-{number}", nested=True
            ) as child:
                mlflow.set_tags(
                    {
                        tags.USE_CASE: spec.name,
                        tags.ALTERNATIVE_SEARCH: search_id,
                        tags.ALTERNATIVE_CANDIDATE: str(number),
                    }
                )
                mlflow.log_params(
                    {
                        "name": name,
                        "mitigation": training.mitigation or "none",
                        **training.as_run_params(),
                    }
                )
                result = CandidateResult(
                    number=number,
                    name=name,
                    settings=training.model_dump(mode="json"),
                    same_predictions_as=same,
                    seconds=round(time.perf_counter() - t0, 3),
                    run_id=child.info.run_id,
                    scores_sha256=scores_digest(scores),
                    **judged,
                )
                mlflow.log_metrics(_metrics(result))
            results.append(result)
            done_plans.append(plan if plan.kind != "combine" else _Plan(name, training, "combine"))
            scores_seen.append(scores)
            on_candidate(len(results), total, name)
        on_front = frontier(results)
        results = [r.model_copy(update={"on_frontier": r.number in on_front}) for r in results]
        recommended, why = recommend(results, gate.tolerance.roc_auc)
        aucs = [r.roc_auc for r in results if r.roc_auc is not None]
        record = AlternativesSearch(
            search_id=search_id,
            use_case=spec.name,
            spec_hash=spec_hash,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            budget_seconds=budget_seconds,
            max_candidates=max_candidates,
            stopped_by=stopped_by,
            proxies=proxies,
            candidates=results,
            best_roc_auc=max(aucs) if aucs else None,
            auc_tolerance=gate.tolerance.roc_auc,
            recommended=recommended,
            recommended_why=why,
            proxy_floor=PROXY_FLOOR,
            notes=notes,
        )
        png = frontier_png(record, gate)
        mlflow.log_dict(record.model_dump(mode="json"), SEARCH_ARTIFACT)
        _log_png(client, search_id, png)
        mlflow.log_metrics({"candidates": len(results), "seconds": time.perf_counter() - started})
    return Searched(record=record, png=png)


def _log_png(client: MlflowClient, run_id: str, png: bytes) -> None:
    folder, _, filename = FRONTIER_ARTIFACT.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        path.write_bytes(png)
        client.log_artifact(run_id, str(path), artifact_path=folder or None)


# ---- reading a search back and registering a candidate -------------------------------------------
MESSAGE_NO_SEARCH = (
    "use case {use_case!r} has no finished search for less discriminatory alternatives;"
    " run 'docket alternatives {use_case}' first"
)


def load_search(
    client: MlflowClient, use_case: str, search_id: str | None = None
) -> AlternativesSearch:
    """The record of search ``search_id``, or of the latest finished search of the use case."""
    if search_id is None:
        exp = client.get_experiment_by_name(f"docket/{use_case}")
        if exp is None:
            raise AlternativesError(MESSAGE_NO_SEARCH.format(use_case=use_case))
        runs = client.search_runs(
            [exp.experiment_id],
            filter_string=(
                f"attributes.run_name = '{RUN_NAME.format(use_case=use_case)}'"
                " and attributes.status = 'FINISHED'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            raise AlternativesError(MESSAGE_NO_SEARCH.format(use_case=use_case))
        search_id = runs[0].info.run_id
    else:
        try:
            run = client.get_run(search_id)
        except MlflowException:
            raise AlternativesError(
                f"--search must be the id of a search of use case {use_case!r}; got"
                f" {search_id!r}, which is not a run"
            ) from None
        if (
            run.data.tags.get(tags.ALTERNATIVE_SEARCH) != search_id
            or run.data.tags.get(tags.USE_CASE) != use_case
        ):
            raise AlternativesError(
                f"--search must be the id of a search of use case {use_case!r}; got"
                f" {search_id!r}, a run that is not one"
            )
    try:
        raw = registry.load_json(client, search_id, SEARCH_ARTIFACT)
    except (MlflowException, OSError):
        raise AlternativesError(
            f"search {search_id} of use case {use_case!r} has no record {SEARCH_ARTIFACT!r}"
            " (it did not finish)"
        ) from None
    return AlternativesSearch.model_validate(raw)


def register_candidate(
    spec: DecisionSpec,
    settings: Settings,
    number: int,
    *,
    search_id: str | None = None,
    why: str | None = None,
    progress: Progress = _quiet,
) -> tuple[TrainResult, AlternativesSearch]:
    """Refit candidate ``number`` of a search and register it as a version ('candidate').

    The version's tags name the search and the candidate; its run holds the search
    record with ``chosen`` and ``chosen_why`` set, and the frontier figure.
    """
    client = registry.connect(settings)
    record = load_search(client, spec.name, search_id)
    current = spec.spec_hash()
    if record.spec_hash != current:
        raise AlternativesError(
            f"search {record.search_id} was made under spec hash {record.spec_hash[:12]}, but"
            f" the spec of {spec.name!r} now has hash {current[:12]}; run the search again"
        )
    numbers = [c.number for c in record.candidates]
    if number not in numbers:
        raise AlternativesError(
            f"--register must be a candidate number of search {record.search_id}, one of"
            f" {numbers}; got {number}"
        )
    candidate = record.candidate(number)
    if candidate.same_predictions_as is not None:
        raise AlternativesError(
            f"candidate {number} ({candidate.name}) gives exactly the same held-out scores as"
            f" candidate {candidate.same_predictions_as}; it is not offered for registration"
        )
    reason = (why or "").strip()
    if not reason:
        if number != record.recommended:
            raise AlternativesError(
                f"--why is required to register candidate {number}: it is not the recommended"
                f" candidate ({record.recommended}); say why it was chosen"
            )
        reason = record.recommended_why
    training = TrainingSettings.model_validate(candidate.settings)
    progress(f"[{spec.name}] refitting candidate {number}: {candidate.name}")
    result = train_use_case(
        spec,
        settings,
        progress=progress,
        training=training,
        expect_scores=candidate.scores_sha256,
        version_tags={
            tags.ALTERNATIVE_SEARCH: record.search_id,
            tags.ALTERNATIVE_CANDIDATE: str(number),
        },
    )
    chosen = record.model_copy(update={"chosen": number, "chosen_why": reason})
    client.log_dict(result.run_id, chosen.model_dump(mode="json"), SEARCH_ARTIFACT)
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(record.search_id, FRONTIER_ARTIFACT, tmp)
        _log_png(client, result.run_id, Path(local).read_bytes())
    return result, chosen
