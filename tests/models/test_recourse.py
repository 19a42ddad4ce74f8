"""Counterfactual recourse (R4): only actionable moves, within range, re-scored by the same model."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.recourse import (
    NO_RECOURSE_MESSAGE,
    Recourse,
    RecourseBuilder,
    find_recourse,
    numeric_grid,
)

USE_CASES = ["credit-eligibility", "retention-propensity"]
N_DECLINED = 50


def _declined(t: Any, target: float, n: int = N_DECLINED) -> np.ndarray:
    X = t.model.encode(t.dataset.frame.iloc[t.split.test])
    return X[t.model.score(X) < target][:n]


def _counterfactual(model: Any, x: np.ndarray, rc: Recourse) -> np.ndarray:
    """Rebuild the counterfactual from the raw values in the answer, independently."""
    spec = model.spec
    out = x.copy()
    for ch in rc.changes:
        j = model.feature_names.index(ch.feature)
        f = spec.features[ch.feature]
        if f.type == "categorical":
            assert isinstance(ch.to_value, str)
            out[0, j] = float(f.categories.index(ch.to_value))
        else:
            assert isinstance(ch.to_value, float)
            out[0, j] = ch.to_value
    return out


def _check(model: Any, x: np.ndarray, rc: Recourse, target: float, max_changes: int = 3) -> None:
    spec = model.spec
    assert rc.target_score == target
    assert rc.original_score == float(model.score(x)[0])
    if not rc.found:
        assert rc.changes == ()
        assert rc.message == NO_RECOURSE_MESSAGE
        assert rc.new_score == rc.original_score
        return
    assert 1 <= len(rc.changes) <= max_changes
    assert len({c.feature for c in rc.changes}) == len(rc.changes)
    for ch in rc.changes:
        f = spec.features[ch.feature]
        j = model.feature_names.index(ch.feature)
        # only features a person can act on; never sensitive ones
        assert f.actionable, ch.feature
        assert ch.feature not in spec.sensitive.attributes
        assert ch.label == f.label
        assert ch.from_value == model.encoder.decode_value(j, x[0, j])
        assert ch.from_value is not None
        assert ch.to_value != ch.from_value
        assert ch.label in rc.message
        if f.type == "categorical":
            assert ch.to_value in f.categories
            continue
        v, v0 = float(ch.to_value), float(ch.from_value)
        # within the allowed range, on the step grid, in the favourable direction
        assert f.min <= v <= f.max, (ch.feature, v)
        if f.step is not None:
            assert abs(v / f.step - round(v / f.step)) < 1e-9, (ch.feature, v)
        if f.monotone == "increasing":
            assert v > v0, (ch.feature, v0, v)
        elif f.monotone == "decreasing":
            assert v < v0, (ch.feature, v0, v)
    # the proof: the same model re-scores the counterfactual at or above the target
    x_new = _counterfactual(model, x, rc)
    changed = np.flatnonzero(~((x_new == x) | (np.isnan(x_new) & np.isnan(x)))[0])
    assert sorted(model.feature_names[j] for j in changed) == sorted(c.feature for c in rc.changes)
    rescored = float(model.score(x_new)[0])
    assert rescored >= target
    assert rescored == rc.new_score
    assert rc.original_score < target


FOUND_RATE: dict[str, float] = {}


@pytest.mark.parametrize("use_case", USE_CASES)
def test_counterfactuals_of_declined_rows_are_valid_and_flip_the_outcome(
    shipped: dict, use_case: str
) -> None:
    # given declined test rows of a shipped model and its decision threshold
    t = shipped[use_case]
    target = t.spec.gate.decision_threshold
    X = _declined(t, target)
    assert X.shape[0] == N_DECLINED
    builder = RecourseBuilder(t.model)
    found = 0
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        rc = find_recourse(t.model, x, target_score=target, builder=builder)
        # then every counterfactual is valid and re-scores at the target
        _check(t.model, x, rc, target)
        found += rc.found
    FOUND_RATE[use_case] = found / X.shape[0]
    # and some are found (the rest say plainly that none exists)
    assert found >= 5, f"{use_case}: only {found}/{X.shape[0]} counterfactuals found"


def test_a_stricter_target_and_one_change_still_hold_the_rules(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    target = t.spec.policy.approve_at
    X = _declined(t, target, 30)
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        rc = find_recourse(t.model, x, target_score=target, max_changes=1)
        _check(t.model, x, rc, target, max_changes=1)


def test_credit_recourse_moves_only_term_debt_or_amount(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    assert RecourseBuilder(t.model).actionable == ["Time", "Debt", "Amount"]
    X = _declined(t, 0.5)
    moved = {
        c.feature
        for i in range(X.shape[0])
        for c in find_recourse(t.model, X[i : i + 1], target_score=0.5).changes
    }
    assert moved and moved <= {"Time", "Debt", "Amount"}


def test_changes_are_shrunk_toward_the_original(shipped: dict) -> None:
    # given found counterfactuals on the credit model's step grids
    t = shipped["credit-eligibility"]
    X = _declined(t, 0.5)
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        rc = find_recourse(t.model, x, target_score=0.5)
        if not rc.found:
            continue
        x_new = _counterfactual(t.model, x, rc)
        for ch in rc.changes:
            j = t.model.feature_names.index(ch.feature)
            f = t.spec.features[ch.feature]
            # then undoing any one change loses the outcome (no needless change) ...
            undone = x_new.copy()
            undone[0, j] = x[0, j]
            assert t.model.score(undone)[0] < 0.5, ch
            # ... and one grid step back toward the original loses it too
            back = (
                float(ch.to_value) + f.step
                if f.monotone == "decreasing"
                else float(ch.to_value) - f.step
            )
            if (back < float(ch.from_value)) == (f.monotone == "decreasing"):
                stepped = x_new.copy()
                stepped[0, j] = back
                assert t.model.score(stepped)[0] < 0.5, ch


def test_a_row_already_at_the_target_needs_no_change(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    X = t.model.encode(t.dataset.frame.iloc[t.split.test])
    x = X[t.model.score(X) >= 0.5][:1]
    rc = find_recourse(t.model, x, target_score=0.5)
    assert rc.found and rc.changes == ()
    assert rc.new_score == rc.original_score >= 0.5


class _Proxy:
    """The real model under another spec, counting score calls."""

    def __init__(self, model: Any, spec: Any = None) -> None:
        self._model = model
        self.spec = spec or model.spec
        self.feature_names = model.feature_names
        self.encoder = model.encoder
        self.calls = 0

    def score(self, X: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self._model.score(X)


def test_no_actionable_feature_means_no_recourse_said_plainly(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    features = {n: f.model_copy(update={"actionable": False}) for n, f in t.spec.features.items()}
    proxy = _Proxy(t.model, t.spec.model_copy(update={"features": features}))
    x = _declined(t, 0.5, 1)
    rc = find_recourse(proxy, x, target_score=0.5)  # type: ignore[arg-type]
    assert not rc.found
    assert rc.message == NO_RECOURSE_MESSAGE
    assert rc.changes == ()


@pytest.mark.parametrize("use_case", USE_CASES)
def test_model_calls_per_search_are_few(shipped: dict, use_case: str) -> None:
    t = shipped[use_case]
    proxy = _Proxy(t.model)
    X = _declined(t, 0.5, 20)
    worst = 0
    for i in range(X.shape[0]):
        proxy.calls = 0
        find_recourse(proxy, X[i : i + 1], target_score=0.5)  # type: ignore[arg-type]
        worst = max(worst, proxy.calls)
    # original + up to 3 search rounds + up to 2 shrink levels per change + final re-score
    assert worst <= 1 + 3 + 2 * 3 + 1


def test_builder_must_belong_to_the_model(shipped: dict) -> None:
    a = shipped["credit-eligibility"]
    b = shipped["retention-propensity"]
    with pytest.raises(ValueError, match="another model"):
        find_recourse(
            a.model, _declined(a, 0.5, 1), target_score=0.5, builder=RecourseBuilder(b.model)
        )
    with pytest.raises(ValueError, match="max_changes"):
        find_recourse(a.model, _declined(a, 0.5, 1), target_score=0.5, max_changes=0)
    with pytest.raises(ValueError, match="target_score"):
        find_recourse(a.model, _declined(a, 0.5, 1), target_score=1.0)


def test_numeric_grid() -> None:
    np.testing.assert_array_equal(numeric_grid(6, 72, 6), np.arange(1, 13) * 6.0)
    np.testing.assert_array_equal(numeric_grid(100, 5000, 50)[[0, -1]], [100.0, 5000.0])
    np.testing.assert_array_equal(numeric_grid(5, 20, 10), [10.0, 20.0])
    np.testing.assert_array_equal(numeric_grid(0, 1, None), [0.0, 1.0])
    grid = numeric_grid(0, 200, None)
    assert grid.size == 21 and grid[0] == 0 and grid[-1] == 200


def test_a_rationale_builder_may_be_passed_as_builder(shipped: dict) -> None:
    # the service keeps one RationaleBuilder per model and passes it along
    from models.rationale import RationaleBuilder

    t = shipped["credit-eligibility"]
    x = _declined(t, 0.5, 1)
    rc = find_recourse(t.model, x, target_score=0.5, builder=RationaleBuilder(t.model))
    assert rc == find_recourse(t.model, x, target_score=0.5)
    _check(t.model, x, rc, 0.5)
