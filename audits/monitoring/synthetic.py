"""A seeded synthetic stream of logged decisions, for the simulation test and the benchmark.

The applicants' features do not depend on their groups, and every reviewer follows
the model's recommendation except for a small, group-blind override rate, so a stream
without ``shift_day`` and ``bias_day`` should raise no alert. From ``shift_day`` on,
incomes are higher (the population drifts, and the score with it); from ``bias_day``
on, one reviewer declines the cases of one group that the model would approve far
more often (the human-plus-model system treats that group differently).

The model's recommendation on a referred case is its lean: ``approve`` at a score of
0.5 or more, ``decline`` below.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audits.monitoring.frames import (
    APPEAL_UPHELD,
    APPEALED,
    DECIDED_AT,
    DECISION_ID,
    FINAL_OUTCOME,
    LABEL,
    MODEL_RECOMMENDATION,
    OUTCOME,
    RESOLVED_AT,
    REVIEWER,
    SCORE,
    FeatureKind,
)

FEATURES: dict[str, FeatureKind] = {
    "income": "numeric",
    "duration": "numeric",
    "purpose": "categorical",
}
ATTRIBUTES = ("sex", "age_band")
PURPOSES = ("car", "education", "home", "other")
APPROVE_AT, DECLINE_BELOW = 0.6, 0.4


@dataclass(frozen=True)
class SyntheticStream:
    """The decisions, the training reference, and what was planted where."""

    decisions: pd.DataFrame
    reference: pd.DataFrame
    features: dict[str, FeatureKind]
    attributes: tuple[str, ...]
    shift_day: dt.date | None
    bias_day: dt.date | None
    biased_reviewer: str
    disadvantaged_group: str


def _applicants(rng: np.random.Generator, n: int, shifted: np.ndarray) -> pd.DataFrame:
    income = np.exp(rng.normal(8.0, 0.4, n) + np.where(shifted, 0.5, 0.0))
    duration = rng.gamma(4.0, 6.0, n).round()
    purpose = rng.choice(np.array(PURPOSES), n, p=[0.4, 0.2, 0.3, 0.1])
    effect = pd.Series(purpose).map({"car": 0.0, "education": 0.2, "home": 0.3, "other": -0.3})
    logit = 2.5 * (np.log(income) - 8.0) - 0.04 * (duration - 24.0) + effect.to_numpy()
    score = 1.0 / (1.0 + np.exp(-(logit + rng.normal(0.0, 1.0, n))))
    return pd.DataFrame({"income": income, "duration": duration, "purpose": purpose, SCORE: score})


def synthetic_stream(
    n_per_day: int = 20_000,
    days: int = 14,
    *,
    seed: int = 0,
    start: dt.date = dt.date(2026, 11, 2),
    shift_day: int | None = 7,
    bias_day: int | None = 7,
    reviewers: int = 3,
    reference_size: int = 20_000,
    unknown_share: float = 0.03,
) -> SyntheticStream:
    """``days * n_per_day`` decisions from ``start`` (UTC), with drift and bias planted.

    ``shift_day`` and ``bias_day`` count days from ``start`` (None: never). The
    biased reviewer is ``r2`` (``reviewers >= 2``) and the group it disadvantages is
    ``sex = f``.
    """
    if reviewers < 2:
        raise ValueError(f"'reviewers' must be at least 2 (got {reviewers})")
    rng = np.random.default_rng(seed)
    n = n_per_day * days
    day = np.repeat(np.arange(days), n_per_day)
    seconds = rng.integers(0, 86_400, n)
    decided = pd.Timestamp(start) + pd.to_timedelta(day * 86_400 + seconds, unit="s")
    shifted = day >= shift_day if shift_day is not None else np.zeros(n, dtype=bool)
    frame = _applicants(rng, n, shifted)
    score = frame[SCORE].to_numpy()

    sex = rng.choice(np.array(["f", "m"]), n).astype(object)
    age = rng.choice(np.array(["<30", "30+"]), n, p=[0.4, 0.6]).astype(object)
    unknown = rng.random(n) < unknown_share
    sex[unknown] = None

    outcome = np.where(
        score >= APPROVE_AT, "approved", np.where(score < DECLINE_BELOW, "declined", "referred")
    )
    referred = outcome == "referred"
    recommendation = np.full(n, None, dtype=object)
    recommendation[referred] = np.where(score[referred] >= 0.5, "approve", "decline")
    reviewer = np.full(n, None, dtype=object)
    reviewer[referred] = rng.choice(np.array([f"r{i + 1}" for i in range(reviewers)]), n)[referred]

    # reviewers follow the lean, overriding 2% of cases whoever the applicant is
    follows = rng.random(n) >= 0.02
    leans_approve = recommendation == "approve"
    approves = np.where(follows, leans_approve, ~leans_approve)
    if bias_day is not None:
        biased = referred & (reviewer == "r2") & (sex == "f") & leans_approve & (day >= bias_day)
        approves = np.where(biased & (rng.random(n) < 0.5), False, approves)
    final = np.where(referred, np.where(approves, "approved", "declined"), outcome)
    hours = np.where(referred, rng.lognormal(np.log(20.0), 0.3, n), 0.0)
    resolved = decided + pd.to_timedelta(hours, unit="h")

    appealed = (final == "declined") & (rng.random(n) < 0.005)
    upheld = np.full(n, None, dtype=object)
    upheld[appealed] = rng.random(n)[appealed] < 0.2
    label = np.where(rng.random(n) < 0.5, (rng.random(n) < score).astype(float), np.nan)

    frame.insert(0, DECISION_ID, [f"d{i:08d}" for i in range(n)])
    frame.insert(1, DECIDED_AT, decided)
    frame[OUTCOME] = outcome
    frame[MODEL_RECOMMENDATION] = recommendation
    frame[REVIEWER] = reviewer
    frame[FINAL_OUTCOME] = final
    frame[RESOLVED_AT] = resolved
    frame[APPEALED] = appealed
    frame[APPEAL_UPHELD] = pd.array(upheld, dtype="boolean")
    frame[LABEL] = label
    frame["sex"] = sex
    frame["age_band"] = age

    reference = _applicants(
        np.random.default_rng([seed, 1]), reference_size, np.zeros(reference_size, dtype=bool)
    )
    return SyntheticStream(
        decisions=frame,
        reference=reference,
        features=dict(FEATURES),
        attributes=ATTRIBUTES,
        shift_day=None if shift_day is None else start + dt.timedelta(days=shift_day),
        bias_day=None if bias_day is None else start + dt.timedelta(days=bias_day),
        biased_reviewer="r2",
        disadvantaged_group="f",
    )
