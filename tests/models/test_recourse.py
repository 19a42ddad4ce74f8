"""Counterfactual recourse (R4): only actionable moves within the training support,
re-scored by the same model and re-decided by an independent judge."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from models.recourse import (
    NO_RECOURSE_MESSAGE,
    NO_RECOURSE_UNJUDGED_MESSAGE,
    Recourse,
    RecourseBuilder,
    Verdict,
    find_recourse,
    numeric_grid,
)
from tests.models.small import APPROVE_AT, Small, small_model

USE_CASES = ["credit-eligibility", "retention-propensity"]
N_DECLINED = 50


def _declined(t: Any, target: float, n: int = N_DECLINED) -> np.ndarray:
    X = t.model.encode(t.dataset.frame.iloc[t.split.test])
    return X[t.model.score(X) < target][:n]


def _counterfactual(model: Any, x: np.ndarray, rc: Recourse, *, best: bool = False) -> np.ndarray:
    """Rebuild the counterfactual (or the best attempt) from the raw values in the answer."""
    spec = model.spec
    out = x.copy()
    for ch in rc.best_attempt if best else rc.changes:
        j = model.feature_names.index(ch.feature)
        f = spec.features[ch.feature]
        if f.type == "categorical":
            assert isinstance(ch.to_value, str)
            out[0, j] = float(f.categories.index(ch.to_value))
        else:
            assert isinstance(ch.to_value, float)
            out[0, j] = ch.to_value
    return out


def _judge_for(model: Any) -> Any:
    """A real request's outcome, written from the spec's policy independently of serving:
    the spec's ranges and categories (a bad value would be refused, so the search must never
    propose one), the thresholds, the high-stakes rules and the out-of-distribution rule."""
    spec = model.spec
    policy = spec.policy

    def judge(rows: np.ndarray) -> list[Verdict]:
        out = []
        for row in rows:
            values = {n: model.encoder.decode_value(j, row[j]) for j, n in enumerate(spec.features)}
            for name, value in values.items():
                f = spec.features[name]
                if value is None:
                    assert f.nullable, name
                elif f.type == "numeric":
                    assert f.min <= value <= f.max, (name, value)
                else:
                    assert value in f.categories, (name, value)
            score = float(model.score(row[None, :])[0])
            why = []
            if policy.decline_below <= score < policy.approve_at:
                why.append("uncertain score")
            if score < policy.decline_below and policy.refer_adverse:
                why.append("every adverse outcome is reviewed")
            for rule in policy.rules:
                value = values[rule.feature]
                if value is not None and (
                    (rule.above is not None and value > rule.above)
                    or (rule.below is not None and value < rule.below)
                    or (rule.equals is not None and value == rule.equals)
                ):
                    why.append(rule.reason)
            if policy.refer_out_of_distribution and model.out_of_distribution(row[None, :]):
                why.append("unlike the training data")
            if why:
                out.append(Verdict(outcome="referred", reasons=tuple(why)))
            else:
                approved = score >= policy.approve_at
                out.append(Verdict(outcome="approved" if approved else "declined"))
        return out

    return judge


def _check_moves(model: Any, x: np.ndarray, changes: Any, max_changes: int) -> None:
    """Every change is actionable, allowed, in the favourable direction and on the grid."""
    spec = model.spec
    assert 1 <= len(changes) <= max_changes
    assert len({c.feature for c in changes}) == len(changes)
    for ch in changes:
        f = spec.features[ch.feature]
        j = model.feature_names.index(ch.feature)
        # only features a person can act on; never sensitive ones
        assert f.actionable, ch.feature
        assert ch.feature not in spec.sensitive.attributes
        assert ch.label == f.label
        assert ch.from_value == model.encoder.decode_value(j, x[0, j])
        assert ch.from_value is not None
        assert ch.to_value != ch.from_value
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


def _check(
    model: Any,
    x: np.ndarray,
    rc: Recourse,
    target: float,
    max_changes: int = 3,
    judge: Any = None,
) -> None:
    assert rc.target_score == target
    assert rc.original_score == float(model.score(x)[0])
    assert rc.re_decided == (judge is not None)
    if not rc.found:
        assert rc.changes == ()
        assert rc.message.startswith(
            NO_RECOURSE_MESSAGE if judge is not None else NO_RECOURSE_UNJUDGED_MESSAGE
        )
        assert "would change this decision" not in rc.message
        assert rc.new_score == rc.original_score
        if rc.best_attempt:
            # the best attempt is reported as such, within the support, with its outcome
            _check_moves(model, x, rc.best_attempt, max_changes)
            x_best = _counterfactual(model, x, rc, best=True)
            assert model.out_of_distribution(x_best) == []
            assert rc.best_attempt_score == float(model.score(x_best)[0])
            assert f"would give an estimate of {rc.best_attempt_score:.0%}" in rc.message
            if judge is not None:
                assert rc.would_be == judge(x_best)[0]
                assert rc.would_be.outcome != "approved"
        return
    _check_moves(model, x, rc.changes, max_changes)
    for ch in rc.changes:
        assert ch.label in rc.message
    # the proof: the same model re-scores the counterfactual at or above the target ...
    x_new = _counterfactual(model, x, rc)
    changed = np.flatnonzero(~((x_new == x) | (np.isnan(x_new) & np.isnan(x)))[0])
    assert sorted(model.feature_names[j] for j in changed) == sorted(c.feature for c in rc.changes)
    rescored = float(model.score(x_new)[0])
    assert rescored >= target
    assert rescored == rc.new_score
    assert rc.original_score < target
    # ... it lies inside the training support ...
    assert model.out_of_distribution(x_new) == []
    # ... and, re-decided like a real request, it is approved automatically
    if judge is not None:
        assert judge(x_new)[0] == Verdict(outcome="approved")
        assert rc.would_be == Verdict(outcome="approved")
        assert "would lead to an automated approval" in rc.message
    else:
        assert rc.would_be is None
        assert "not re-decided" in rc.message


FOUND_RATE: dict[str, float] = {}


@pytest.mark.parametrize("judged", [True, False], ids=["judged", "score-only"])
@pytest.mark.parametrize("use_case", USE_CASES)
def test_counterfactuals_of_declined_rows_are_valid_and_flip_the_outcome(
    shipped: dict, use_case: str, judged: bool
) -> None:
    # given declined test rows of a shipped model and its approval threshold
    t = shipped[use_case]
    target = t.spec.policy.approve_at
    X = _declined(t, target)
    assert X.shape[0] == N_DECLINED
    builder = RecourseBuilder(t.model)
    judge = _judge_for(t.model) if judged else None
    found = 0
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        rc = find_recourse(t.model, x, target_score=target, builder=builder, judge=judge)
        # then every counterfactual is valid, inside the support, re-scores at the target
        # and, when judged, would be approved automatically
        _check(t.model, x, rc, target, judge=judge)
        found += rc.found
    FOUND_RATE[use_case] = found / X.shape[0]
    # and some are found (the rest say plainly that none exists)
    assert found >= 5, f"{use_case}: only {found}/{X.shape[0]} counterfactuals found"


def test_a_stricter_target_and_one_change_still_hold_the_rules(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    target = t.spec.policy.approve_at
    X = _declined(t, target, 30)
    judge = _judge_for(t.model)
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        rc = find_recourse(t.model, x, target_score=target, max_changes=1, judge=judge)
        _check(t.model, x, rc, target, max_changes=1, judge=judge)


def test_retention_counterfactuals_stay_inside_the_training_support(shipped: dict) -> None:
    # given every adverse held-out customer of the retention model (no offer)
    t = shipped["retention-propensity"]
    model, policy = t.model, t.spec.policy
    X = t.model.encode(t.dataset.frame.iloc[t.split.test])
    X = X[model.score(X) < policy.approve_at][:150]
    builder = RecourseBuilder(model)
    judge = _judge_for(model)
    found = 0
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        if model.out_of_distribution(x):
            continue  # nothing moved can bring back a value no one can act on
        # when a counterfactual is searched and re-decided
        rc = builder.find(x, target_score=policy.approve_at, judge=judge)
        # then what is returned is inside the support (monthly_charges included) and,
        # when found, approved by a judge written from the spec's policy
        _check(model, x, rc, policy.approve_at, judge=judge)
        if rc.found:
            found += 1
            j = model.feature_names.index("monthly_charges")
            x_new = _counterfactual(model, x, rc)
            assert model.ood.low_[j] <= x_new[0, j] <= model.ood.high_[j]
    assert found >= 20, f"only {found}/{X.shape[0]} counterfactuals found"


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

    def reaches(row: np.ndarray) -> bool:
        return bool(t.model.score(row)[0] >= 0.5) and t.model.out_of_distribution(row) == []

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
            assert not reaches(undone), ch
            # ... and one grid step back toward the original loses it too
            back = (
                float(ch.to_value) + f.step
                if f.monotone == "decreasing"
                else float(ch.to_value) - f.step
            )
            if (back < float(ch.from_value)) == (f.monotone == "decreasing"):
                stepped = x_new.copy()
                stepped[0, j] = back
                assert not reaches(stepped), ch


def test_a_row_already_at_the_target_needs_no_change(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    X = t.model.encode(t.dataset.frame.iloc[t.split.test])
    x = X[t.model.score(X) >= 0.5][:1]
    rc = find_recourse(t.model, x, target_score=0.5)
    assert rc.found and rc.changes == ()
    assert rc.new_score == rc.original_score >= 0.5
    assert "no change is needed to reach the score" in rc.message


class _Proxy:
    """The real model under another spec, counting score calls."""

    def __init__(self, model: Any, spec: Any = None) -> None:
        self._model = model
        self.spec = spec or model.spec
        self.feature_names = model.feature_names
        self.encoder = model.encoder
        self.ood = model.ood
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
    assert rc.message == NO_RECOURSE_UNJUDGED_MESSAGE
    assert rc.changes == () and rc.best_attempt == ()


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


# -- judged searches on the small seeded model ----------------------------------------


@pytest.fixture(scope="module")
def small() -> Small:
    return small_model()


def _small_declined(small: Small, n: int = 40) -> np.ndarray:
    X = small.X_test
    scores = small.model.score(X)
    inside = small.model.ood.inside(X)
    return X[(scores < APPROVE_AT) & inside][:n]


def test_a_judge_that_refers_everything_gets_no_recourse_and_the_best_attempt_said(
    small: Small,
) -> None:
    # given a judge under which every case goes to a person
    reason = "Every application is reviewed this week."

    def refer_all(rows: np.ndarray) -> list[Verdict]:
        return [Verdict(outcome="referred", reasons=(reason,)) for _ in rows]

    x = _small_declined(small, 1)
    # when a counterfactual is searched
    rc = RecourseBuilder(small.model).find(x, target_score=APPROVE_AT, judge=refer_all)
    # then none is claimed, and the message says plainly what the best attempt would get
    assert not rc.found and rc.changes == ()
    assert rc.best_attempt, "the best attempt is reported"
    assert rc.would_be == Verdict(outcome="referred", reasons=(reason,))
    assert rc.message.startswith(NO_RECOURSE_MESSAGE)
    assert rc.message.endswith(f"would still be referred to a person because: {reason}.")
    _check(small.model, x, rc, APPROVE_AT, judge=refer_all)


def test_the_search_avoids_a_move_the_policy_would_refer(small: Small) -> None:
    # given a policy that also refers incomes above 90, and rows whose score-only
    # counterfactual raises income above 90
    model = small.model
    plain = _judge_for(model)
    reason = "Incomes above 90 are reviewed by a person."

    def income_rule(rows: np.ndarray) -> list[Verdict]:
        verdicts = plain(rows)
        return [
            Verdict(outcome="referred", reasons=(*v.reasons, reason)) if row[0] > 90 else v
            for row, v in zip(rows, verdicts, strict=True)
        ]

    builder = RecourseBuilder(model)
    X = _small_declined(small)
    above = [
        X[i : i + 1]
        for i in range(X.shape[0])
        if any(
            c.feature == "income" and float(c.to_value) > 90
            for c in builder.find(X[i : i + 1], target_score=APPROVE_AT).changes
        )
    ]
    assert len(above) >= 10
    rerouted = 0
    for x in above:
        # when the search is judged
        rc = builder.find(x, target_score=APPROVE_AT, judge=income_rule)
        # then a found counterfactual keeps income at 90 or below and is approved;
        # otherwise the best attempt says why it would still be referred
        _check(model, x, rc, APPROVE_AT, judge=income_rule)
        if rc.found:
            assert all(float(c.to_value) <= 90 for c in rc.changes if c.feature == "income")
            rerouted += 1
        elif rc.would_be is not None and rc.would_be.outcome == "referred":
            assert rc.message.endswith(
                "which would still be referred to a person because: "
                + "; ".join(rc.would_be.reasons)
                + "."
            )
    assert rerouted >= 1


def test_without_a_judge_the_message_promises_only_the_score(small: Small) -> None:
    x = _small_declined(small, 1)
    rc = RecourseBuilder(small.model).find(x, target_score=APPROVE_AT)
    assert rc.found and not rc.re_decided and rc.would_be is None
    assert "reaching the 60% needed for approval" in rc.message
    assert "not re-decided with the policy's other rules" in rc.message
    assert "would change this decision" not in rc.message


def test_an_approved_row_needs_no_change_when_judged(small: Small) -> None:
    model = small.model
    judge = _judge_for(model)
    X = small.X_test[(model.score(small.X_test) >= APPROVE_AT) & model.ood.inside(small.X_test)]
    x = X[X[:, 1] <= 60][:1]  # below the debt rule
    rc = RecourseBuilder(model).find(x, target_score=APPROVE_AT, judge=judge)
    assert rc.found and rc.changes == () and rc.would_be == Verdict(outcome="approved")
    assert "would be approved automatically; no change is needed" in rc.message


def test_a_judge_must_answer_every_row(small: Small) -> None:
    x = _small_declined(small, 1)
    with pytest.raises(ValueError, match="one verdict per row"):
        RecourseBuilder(small.model).find(x, target_score=APPROVE_AT, judge=lambda rows: [])


def test_without_a_detector_the_spec_ranges_bound_the_search(small: Small) -> None:
    # given the same model without its out-of-distribution detector
    model = small.model
    bare = type(model)(
        spec=model.spec,
        encoder=model.encoder,
        estimator=model.estimator,
        calibrator=model.calibrator,
        ood=None,
    )
    target = 0.8  # a high bar, so some rows need more income than training typically saw
    X = small.X_test[(model.score(small.X_test) < target) & model.ood.inside(small.X_test)]
    beyond = 0
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        with_support = RecourseBuilder(model).find(x, target_score=target)
        without = RecourseBuilder(bare).find(x, target_score=target)
        # then with the detector nothing leaves the band; without it the spec range applies
        for rc in (with_support, without):
            for c in rc.changes:
                f = model.spec.features[c.feature]
                if f.type == "numeric":
                    assert f.min <= float(c.to_value) <= f.max
        if with_support.found:
            assert model.out_of_distribution(_counterfactual(model, x, with_support)) == []
        if without.found and model.out_of_distribution(_counterfactual(model, x, without)):
            beyond += 1
    assert beyond >= 1  # the support restriction is what keeps the others inside
