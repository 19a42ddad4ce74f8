"""The judge of recourse re-decides encoded rows exactly as a real request would be.

``judge`` takes a shortcut for rows whose values the spec plainly accepts and may be
given the rows' scores; both must give what decoding each row to raw values, checking
them with ``check_features`` and applying the policy to a fresh score gives, for any
row: valid, missing, out of range, a category code that is not a whole number or names
no category, and the same error for a row a request would have refused.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from docket.usecases import resolve_spec
from models import registry
from models.policy import PolicyResult, apply_policy
from models.recourse import scores_rows_alone
from models.settings import Settings
from serving.decisions.evaluate import decode_row, judge
from serving.decisions.served import ServedModel, load_served
from serving.decisions.validation import check_features
from training.data import load_dataset

N = 60


def _served(settings: Settings, use_case: str) -> ServedModel:
    client = registry.connect(settings)
    version = registry.alias_version(client, use_case, registry.CHAMPION)
    return load_served(client, use_case, str(version))


def _reference(served: ServedModel, row: np.ndarray, consent: bool, stopped: bool) -> Any:
    """What judge gave before its shortcuts: decode, check, score, policy (or the error)."""
    spec, model = served.spec, served.model
    assert spec.policy is not None
    try:
        score = float(model.score(row[None, :])[0])
        ood = model.ood.check(row) if model.ood is not None else []
        features = check_features(spec, decode_row(served, row))
    except Exception as exc:  # the same refusal must come out of judge
        return (type(exc), str(exc))
    return apply_policy(
        spec.policy,
        score,
        features,
        out_of_distribution=ood,
        consent=consent,
        stopped=stopped,
    )


def _judged(served: ServedModel, rows: np.ndarray, **kw: Any) -> Any:
    try:
        return judge(served, rows, **kw)
    except Exception as exc:
        return (type(exc), str(exc))


def _rows(served: ServedModel, seed: int) -> np.ndarray:
    spec = resolve_spec(served.use_case)
    frame = load_dataset(spec).frame[spec.feature_names]
    rng = np.random.default_rng(seed)
    X = served.model.encode(frame.iloc[rng.choice(len(frame), size=N, replace=False)])
    names = served.model.feature_names
    for i in range(N):
        j = int(rng.integers(len(names)))
        f = served.spec.features[names[j]]
        kind = i % 6
        if kind == 1:
            X[i, j] = np.nan
        elif kind == 2 and f.type == "numeric":
            X[i, j] = (f.max or 0.0) + 1.0 if (i // 6) % 2 else (f.min or 0.0) - 1.0
        elif kind == 2:
            X[i, j] = float(len(f.categories or [])) if (i // 6) % 2 else -1.0
        elif kind == 3 and f.type == "categorical":
            X[i, j] = 0.5
        elif kind == 4 and f.type == "numeric":
            X[i, j] = f.max if (i // 6) % 2 else f.min
    return X


@pytest.mark.parametrize("use_case", ["credit-eligibility", "retention-propensity"])
def test_judge_gives_what_a_request_would_get_row_by_row(
    served_settings: Settings, use_case: str
) -> None:
    served = _served(served_settings, use_case)
    X = _rows(served, 7)
    fine: list[int] = []
    for i in range(N):
        consent, stopped = i % 5 != 2, i % 11 == 4
        want = _reference(served, X[i], consent, stopped)
        kw: dict[str, Any] = {"consent": consent, "stopped": stopped}
        got = _judged(served, X[i : i + 1], **kw)
        try:
            score = np.asarray(served.model.score(X[i : i + 1]), dtype=np.float64)
        except IndexError:  # a category code the model has no column for
            score = np.array([np.nan])
        with_score = _judged(served, X[i : i + 1], scores=score, **kw)
        unknown = _judged(served, X[i : i + 1], scores=np.array([np.nan]), **kw)
        if isinstance(want, PolicyResult):
            fine.append(i)
            assert got == with_score == unknown == [want], i
        else:
            assert got == with_score == unknown == want, i
    assert len(fine) > N // 2
    if not scores_rows_alone(served.model):
        return  # a linear model's matrix product is not the same bits for a row alone
    # the accepted rows together: each gets what it got alone
    rows = X[fine]
    each = [i % 5 != 2 for i in fine]
    alone = [judge(served, X[i : i + 1], consent=i % 5 != 2, stopped=False)[0] for i in fine]
    assert judge(served, rows, consent=each, stopped=False) == alone
    partly = np.asarray(served.model.score(rows), dtype=np.float64)
    partly[::3] = np.nan
    assert judge(served, rows, consent=each, stopped=False, scores=partly) == alone
