"""One path from raw features to an outcome and its reasons, shared by decide and replay.

``evaluate`` is what a real request goes through: validation against the spec,
the training encoder, the served model's score, the out-of-distribution check,
the policy (thresholds and every referral rule) and the exact rationale.
Replaying a logged decision runs the same function with the recorded inputs, and
recourse re-decides each counterfactual with :func:`judge`, the same checks
applied to encoded rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from models.policy import PolicyResult, apply_policy
from models.rationale import Rationale
from models.recourse import Recourse, Verdict
from serving.decisions.served import ServedModel
from serving.decisions.validation import check_features

__all__ = ["Evaluation", "decode_row", "evaluate", "find_recourse", "judge"]


@dataclass(frozen=True)
class Evaluation:
    """Everything one request's features lead to, before anything is recorded."""

    features: dict[str, Any]
    x: np.ndarray
    log_odds: float
    score: float
    out_of_distribution: list[str]
    policy: PolicyResult
    rationale: Rationale


def evaluate(
    served: ServedModel, raw_features: dict[str, Any], *, consent: bool, stopped: bool
) -> Evaluation:
    """Validate, encode, score, apply the policy and explain one person's features."""
    spec, model = served.spec, served.model
    assert spec.policy is not None
    features = check_features(spec, raw_features)
    x = model.encode_records([features])
    log_odds = float(model.log_odds(x)[0])
    score = float(expit(log_odds))  # exactly as DecisionModel.score, so replay matches
    ood = model.out_of_distribution(x)
    result = apply_policy(
        spec.policy, score, features, out_of_distribution=ood, consent=consent, stopped=stopped
    )
    rationale = served.builder.explain(x, adverse=result.adverse, log_odds=log_odds)
    return Evaluation(features, x, log_odds, score, ood, result, rationale)


def decode_row(served: ServedModel, x: np.ndarray) -> dict[str, Any]:
    """Raw feature values of one encoded row (categories by name, missing as None)."""
    out: dict[str, Any] = {}
    for name, code in zip(served.model.feature_names, np.asarray(x).reshape(-1), strict=True):
        feature = served.spec.features[name]
        if code != code:
            out[name] = None
        elif feature.type == "categorical":
            out[name] = (feature.categories or [])[int(code)]
        else:
            out[name] = float(code)
    return out


def judge(
    served: ServedModel, X: np.ndarray, *, consent: bool, stopped: bool
) -> list[PolicyResult]:
    """The policy result each encoded row would get as a real request (same checks, no record)."""
    spec, model = served.spec, served.model
    assert spec.policy is not None
    rows = np.atleast_2d(np.asarray(X, dtype=np.float64))
    scores = np.asarray(model.score(rows), dtype=np.float64)
    results = []
    for i in range(rows.shape[0]):
        features = check_features(spec, decode_row(served, rows[i]))
        results.append(
            apply_policy(
                spec.policy,
                float(scores[i]),
                features,
                out_of_distribution=model.out_of_distribution(rows[i : i + 1]),
                consent=consent,
                stopped=stopped,
            )
        )
    return results


def find_recourse(
    served: ServedModel, ev: Evaluation, *, consent: bool, stopped: bool
) -> Recourse | None:
    """Recourse for an adverse evaluation (None otherwise), each counterfactual re-decided.

    Every counterfactual is judged as a real request would be (:func:`judge`), so the
    recourse never promises an approval a referral rule would stop.
    """
    if not ev.policy.adverse:
        return None
    assert served.spec.policy is not None

    def as_verdicts(rows: np.ndarray) -> list[Verdict]:
        return [
            Verdict(outcome=r.outcome, reasons=tuple(f.detail for f in r.referral_reasons))
            for r in judge(served, rows, consent=consent, stopped=stopped)
        ]

    return served.recourse.find(ev.x, target_score=served.spec.policy.approve_at, judge=as_verdicts)
