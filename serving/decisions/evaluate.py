"""One path from raw features to an outcome and its reasons, shared by decide and replay.

``evaluate`` is what a real request goes through: validation against the spec,
the training encoder, the served model's score, the out-of-distribution check,
the policy (thresholds and every referral rule) and the exact rationale.
Replaying a logged decision runs the same function with the recorded inputs, and
recourse re-decides each counterfactual with :func:`judge`, the same checks
applied to encoded rows.

Batch runs decide many rows with :func:`evaluate_many` and :func:`find_recourse_many`,
and a single request is the batch of one, so there is one way a decision is made.
Batching shares the calls (one encode, one model call, one contributions call, one
out-of-distribution pass) but every row's numbers are computed independently of
the other rows, so a row gets the same result alone or in a batch.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from models.policy import PolicyResult, apply_policy
from models.rationale import Rationale
from models.recourse import Recourse, ScoredJudge, Verdict, scores_rows_alone
from models.spec import DecisionSpec
from serving.decisions.served import ServedModel
from serving.decisions.validation import InvalidFeatures, check_features

__all__ = [
    "Evaluation",
    "decode_row",
    "evaluate",
    "evaluate_many",
    "find_recourse",
    "find_recourse_many",
    "judge",
]


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
    (ev,) = evaluate_many(served, [raw_features], consent=[consent], stopped=stopped)
    if isinstance(ev, InvalidFeatures):
        raise ev
    return ev


def _out_of_distribution(served: ServedModel, X: np.ndarray) -> list[list[str]]:
    ood = served.model.ood
    if ood is None:
        return [[] for _ in range(X.shape[0])]
    # one row (a request alone): the row check is cheaper than the vectorised pass
    return [ood.check(X[0])] if X.shape[0] == 1 else ood.check_many(X)


# a row's place in the answer until its evaluation is made
_PENDING: Any = None


def evaluate_many(
    served: ServedModel,
    rows: Sequence[dict[str, Any]],
    *,
    consent: Sequence[bool],
    stopped: bool,
) -> list[Evaluation | InvalidFeatures]:
    """:func:`evaluate` for many rows: per row its evaluation, or why its features are invalid.

    ``consent[i]`` is row ``i``'s ``automated_decision_consent``.
    """
    spec, model = served.spec, served.model
    assert spec.policy is not None
    if len(consent) != len(rows):
        raise ValueError(f"consent has {len(consent)} values for {len(rows)} rows")
    out: list[Evaluation | InvalidFeatures] = []
    valid: list[int] = []
    clean: list[dict[str, Any]] = []
    for i, raw in enumerate(rows):
        try:
            clean.append(check_features(spec, raw))
        except InvalidFeatures as exc:
            out.append(exc)
            continue
        out.append(_PENDING)
        valid.append(i)
    if not valid:
        return out
    X = model.encode_records(clean)
    if scores_rows_alone(model):
        log_odds = model.log_odds(X).tolist()
    else:  # each row alone, as a single request computes it (bit for bit)
        log_odds = [float(model.log_odds(X[k : k + 1])[0]) for k in range(X.shape[0])]
    ood = _out_of_distribution(served, X)
    scores: list[float] = []
    results: list[PolicyResult] = []
    for k, i in enumerate(valid):
        score = float(expit(log_odds[k]))  # exactly as DecisionModel.score, so replay matches
        scores.append(score)
        results.append(
            apply_policy(
                spec.policy,
                score,
                clean[k],
                out_of_distribution=ood[k],
                consent=consent[i],
                stopped=stopped,
            )
        )
    rationales = served.builder.explain_batch(X, [r.adverse for r in results], log_odds=log_odds)
    for k, i in enumerate(valid):
        out[i] = Evaluation(
            clean[k], X[k : k + 1], log_odds[k], scores[k], ood[k], results[k], rationales[k]
        )
    return out


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


@dataclass(frozen=True)
class _Contract:
    """What :func:`check_features` accepts, per column of an encoded row, for many rows at once."""

    names: tuple[str, ...]
    low: np.ndarray  # per column: the spec's min; 0 for a category code
    high: np.ndarray  # the spec's max; the last category's code
    categorical: np.ndarray  # whether the column holds category codes
    nullable: np.ndarray  # whether the feature may be missing
    categories: tuple[tuple[int, tuple[str, ...]], ...]  # (column, its categories)
    nullable_numeric: tuple[int, ...]  # numeric columns that may be missing

    def plainly_valid(self, rows: np.ndarray) -> np.ndarray:
        """Rows whose decoded values :func:`check_features` surely accepts as they are.

        A missing value where the feature is nullable, a finite number within the spec's
        ``[min, max]``, a whole category code that names one of the spec's categories.
        Any other row (which a real request might have refused) gets the full check.
        """
        fine = (rows >= self.low) & (rows <= self.high) & np.isfinite(rows)
        fine &= ~self.categorical | (rows == np.floor(rows))
        fine |= np.isnan(rows) & self.nullable
        return np.asarray(fine.all(axis=1))

    def features(self, values: list[float]) -> dict[str, Any]:
        """What :func:`check_features` returns for a plainly valid row: the decoded values."""
        out: dict[str, Any] = dict(zip(self.names, values, strict=True))
        for j, categories in self.categories:
            v = values[j]
            out[self.names[j]] = None if v != v else categories[int(v)]
        for j in self.nullable_numeric:
            if values[j] != values[j]:
                out[self.names[j]] = None
        return out


# per loaded model: the spec the contract was made for, and the contract
_CONTRACTS: weakref.WeakKeyDictionary[Any, tuple[DecisionSpec, _Contract | None]] = (
    weakref.WeakKeyDictionary()
)


def _contract(served: ServedModel) -> _Contract | None:
    """The spec's contract per encoded column; None when the spec's features are not
    exactly the model's (then every row goes through :func:`check_features`)."""
    try:
        cached = _CONTRACTS.get(served.model)
    except TypeError:  # a model that cannot be weakly referenced: made each time
        return _make_contract(served)
    if cached is not None and cached[0] is served.spec:
        return cached[1]
    out = _make_contract(served)
    _CONTRACTS[served.model] = (served.spec, out)
    return out


def _make_contract(served: ServedModel) -> _Contract | None:
    spec = served.spec
    names = list(served.model.feature_names)
    if sorted(names) != sorted(spec.feature_names) or len(set(names)) != len(names):
        return None
    low, high, categorical, nullable = [], [], [], []
    categories: list[tuple[int, tuple[str, ...]]] = []
    nullable_numeric: list[int] = []
    for j, name in enumerate(names):
        f = spec.features[name]
        nullable.append(f.nullable)
        categorical.append(f.type == "categorical")
        if f.type == "categorical":
            cats = tuple(f.categories or ())
            categories.append((j, cats))
            low.append(0.0)
            high.append(float(len(cats) - 1))
            continue
        assert f.min is not None and f.max is not None
        if float(f.min) != f.min or float(f.max) != f.max:
            return None  # bounds a float cannot hold exactly: compare as check_features does
        low.append(float(f.min))
        high.append(float(f.max))
        if f.nullable:
            nullable_numeric.append(j)
    return _Contract(
        tuple(names),
        np.array(low),
        np.array(high),
        np.array(categorical, dtype=bool),
        np.array(nullable, dtype=bool),
        tuple(categories),
        tuple(nullable_numeric),
    )


def judge(
    served: ServedModel,
    X: np.ndarray,
    *,
    consent: bool | Sequence[bool],
    stopped: bool,
    scores: np.ndarray | None = None,
) -> list[PolicyResult]:
    """The policy result each encoded row would get as a real request (same checks, no record).

    ``consent``: one value for every row, or one per row. ``scores``: the rows'
    ``model.score`` when the caller has them (NaN where not), for a model that scores
    rows alone (:func:`models.recourse.scores_rows_alone`); the others are computed.
    """
    spec, model = served.spec, served.model
    assert spec.policy is not None
    rows = np.atleast_2d(np.asarray(X, dtype=np.float64))
    if scores is None:
        scores = np.asarray(model.score(rows), dtype=np.float64)
    else:
        scores = np.array(scores, dtype=np.float64)
        unknown = np.isnan(scores)
        if unknown.any():
            scores[unknown] = np.asarray(model.score(rows[unknown]), dtype=np.float64)
    ood = _out_of_distribution(served, rows)
    each = [consent] * rows.shape[0] if isinstance(consent, bool) else list(consent)
    contract = _contract(served)
    plain = [False] * rows.shape[0] if contract is None else contract.plainly_valid(rows).tolist()
    values = rows.tolist()
    results = []
    for i in range(rows.shape[0]):
        if contract is not None and plain[i]:
            features = contract.features(values[i])
        else:
            features = check_features(spec, decode_row(served, rows[i]))
        results.append(
            apply_policy(
                spec.policy,
                float(scores[i]),
                features,
                out_of_distribution=ood[i],
                consent=each[i],
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
    return find_recourse_many(served, [ev], consent=[consent], stopped=stopped)[0]


def find_recourse_many(
    served: ServedModel, evs: Sequence[Evaluation], *, consent: Sequence[bool], stopped: bool
) -> list[Recourse | None]:
    """:func:`find_recourse` for many evaluations, the searches side by side.

    The searches share their model and judge calls (see
    :meth:`models.recourse.RecourseBuilder.find_many`); each row is judged with its
    own consent, so the rows are grouped by it.
    """
    assert served.spec.policy is not None
    out: list[Recourse | None] = [None] * len(evs)
    # verdicts are immutable: rows with the same outcome and reasons share one
    made: dict[tuple[str, tuple[str, ...]], Verdict] = {}
    for given in (True, False):
        idx = [i for i, ev in enumerate(evs) if ev.policy.adverse and bool(consent[i]) == given]
        if not idx:
            continue

        def as_verdicts(
            rows: np.ndarray, scores: np.ndarray | None, given: bool = given
        ) -> list[Verdict]:
            out = []
            for r in judge(served, rows, consent=given, stopped=stopped, scores=scores):
                key = (r.outcome, tuple(f.detail for f in r.referral_reasons))
                v = made.get(key)
                if v is None:
                    v = made[key] = Verdict(outcome=r.outcome, reasons=key[1])
                out.append(v)
            return out

        found = served.recourse.find_many(
            [evs[i].x for i in idx],
            target_score=served.spec.policy.approve_at,
            judge=ScoredJudge(as_verdicts),
            scores=[evs[i].score for i in idx],
        )
        for i, r in zip(idx, found, strict=True):
            out[i] = r
    return out
