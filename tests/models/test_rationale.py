"""Rationales: exact contributions (R2) and principal reason codes (R1) on the shipped models."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from models.rationale import (
    MAX_REASONS,
    SPACE,
    ApprovedReference,
    Rationale,
    RationaleBuilder,
    approved_reference,
    describe_reference,
    explain,
    explain_batch,
    explainer_version,
)
from models.spec import _GENERIC_REASONS
from tests.models.small import APPROVE_AT, CATEGORIES, Small, small_model

USE_CASES = ["credit-eligibility", "retention-propensity"]
EXPECTED_EXPLAINER = {
    "credit-eligibility": "treeshap-lightgbm/2",
    "retention-propensity": "exact-linear/2",
}


@pytest.fixture(scope="module")
def small() -> Small:
    return small_model()


def _reference(t: Any) -> ApprovedReference:
    """The approved population of a shipped model's held-out rows, at its policy's threshold."""
    return approved_reference(t.model, _test_matrix(t), t.spec.policy.approve_at)


def _test_matrix(t: Any, n: int | None = None) -> np.ndarray:
    rows = t.split.test if n is None else t.split.test[:n]
    return t.model.encode(t.dataset.frame.iloc[rows])


def _code_totals(r: Rationale, catalogue: Any) -> dict[str, float]:
    """Per-code totals recomputed from the rationale's own feature contributions."""
    by_feature = {c.feature: c.contribution for c in r.contributions}
    return {code: sum(by_feature[f] for f in rc.features) for code, rc in catalogue.codes.items()}


def _expected_text(spec: Any, code: Any, r: Rationale) -> str:
    """The code's text for this person: a per-value table is looked up by the value of the
    first categorical feature the code lists, ``default`` for a value it does not name."""
    table = code.adverse if r.adverse else code.favourable
    if isinstance(table, str):
        return table
    by = next(f for f in code.features if spec.features[f].type == "categorical")
    value = {c.feature: c.value for c in r.contributions}[by]
    return table[value] if value in table else table["default"]


def _lower_first(text: str) -> str:
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


def _check_reasons(r: Rationale, model: Any) -> None:
    """R1 rules for one rationale, checked from first principles."""
    catalogue = model.spec.reasons
    names = set(model.feature_names)
    totals = _code_totals(r, catalogue)
    contributions = [x.contribution for x in r.reasons]
    for reason in r.reasons:
        assert reason.code in catalogue.codes
        assert list(reason.features) == catalogue.codes[reason.code].features
        assert set(reason.features) <= names  # a factor the served model actually uses
        assert reason.contribution == pytest.approx(totals[reason.code], abs=1e-9)
        low = reason.text.lower()
        assert not any(g in low for g in _GENERIC_REASONS), reason.text
        expected = catalogue.codes[reason.code]
        assert reason.text == _expected_text(model.spec, expected, r)
        assert _lower_first(reason.text) in r.summary
    assert len({x.code for x in r.reasons}) == len(r.reasons)
    outcome = f"{model.spec.data.target} = {model.spec.data.favourable}"
    assert outcome in r.summary
    assert 1 <= r.summary.count(".") <= 3 + sum(x.text.count(".") for x in r.reasons)
    if r.adverse:
        # only factors that lowered the score, each with its adverse text, most first
        assert all(c < 0 for c in contributions)
        assert all(x.direction == "adverse" for x in r.reasons)
        assert contributions == sorted(contributions)
        negative = sorted(v for v in totals.values() if v < 0)
        assert contributions == pytest.approx(negative[:MAX_REASONS], abs=1e-12)
        assert "not favourable" in r.summary
        if r.reference_kind == "approved_population":
            assert 1 <= len(r.reasons) <= MAX_REASONS
    else:
        assert len(r.reasons) <= MAX_REASONS
        assert all(c > 0 for c in contributions)
        assert contributions == sorted(contributions, reverse=True)
        positive = sorted((v for v in totals.values() if v >= 1e-12), reverse=True)
        assert contributions == pytest.approx(positive[:MAX_REASONS], abs=1e-12)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_additivity_holds_on_every_test_row(shipped: dict, use_case: str) -> None:
    # given every test row of a shipped model, explained as a batch
    t = shipped[use_case]
    X = _test_matrix(t)
    scores = t.model.score(X)
    log_odds = t.model.log_odds(X)
    rationales = explain_batch(t.model, X, scores < 0.5, reference=_reference(t))
    assert len(rationales) == X.shape[0]
    names = t.model.feature_names
    for i, r in enumerate(rationales):
        # then base + contributions equals the model's own log-odds, in the reported space
        total = r.base_value + sum(c.contribution for c in r.contributions)
        assert abs(total - log_odds[i]) <= 1e-6
        assert r.additivity_error <= 1e-6
        assert r.log_odds == log_odds[i]
        assert r.score == scores[i]
        assert r.space == SPACE
        assert [c.feature for c in r.contributions] == names
        assert r.explainer_version == EXPECTED_EXPLAINER[use_case]
        assert r.catalogue_version == t.spec.reasons.version


@pytest.mark.parametrize("use_case", USE_CASES)
def test_single_row_explain_matches_the_model_and_the_batch(shipped: dict, use_case: str) -> None:
    t = shipped[use_case]
    X = _test_matrix(t, 40)
    scores = t.model.score(X)
    reference = _reference(t)
    builder = RationaleBuilder(t.model, reference=reference)
    batch = builder.explain_batch(X, scores < 0.5)
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        r = builder.explain(x, adverse=bool(scores[i] < 0.5))
        assert r.score == float(t.model.score(x)[0])
        assert r.additivity_error <= 1e-6
        # the same decision explained twice gives the same rationale (replay, R3)
        assert explain(t.model, x, adverse=bool(scores[i] < 0.5), reference=reference) == r
        assert [x.code for x in r.reasons] == [x.code for x in batch[i].reasons]
        assert r.base_value == pytest.approx(batch[i].base_value, abs=1e-12)
        # raw values are decoded from the encoded row
        for j, c in enumerate(r.contributions):
            assert c.value == t.model.encoder.decode_value(j, X[i, j])


@pytest.mark.parametrize("use_case", USE_CASES)
def test_reason_rules_on_a_batch(shipped: dict, use_case: str) -> None:
    # given 300 test rows, adverse where the score is below 0.5
    t = shipped[use_case]
    X = _test_matrix(t, 300)
    adverse = t.model.score(X) < 0.5
    assert adverse.any() and (~adverse).any()
    rationales = explain_batch(t.model, X, adverse, reference=_reference(t))
    # then every rationale follows the reason-code rules
    for r, flag in zip(rationales, adverse, strict=True):
        assert r.adverse == bool(flag)
        _check_reasons(r, t.model)
    assert any(len(r.reasons) == MAX_REASONS for r in rationales if r.adverse)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_catalogues_hold_no_generic_reason(shipped: dict, use_case: str) -> None:
    catalogue = shipped[use_case].spec.reasons
    assert catalogue is not None
    for code in catalogue.codes.values():
        for table in (code.adverse, code.favourable):
            for text in table.values() if isinstance(table, dict) else [table]:
                assert not any(g in text.lower() for g in _GENERIC_REASONS), text


@pytest.mark.parametrize("use_case", USE_CASES)
def test_explainer_version_names_the_method(shipped: dict, use_case: str) -> None:
    model = shipped[use_case].model
    assert explainer_version(model) == EXPECTED_EXPLAINER[use_case]
    assert RationaleBuilder(model).explainer_version == EXPECTED_EXPLAINER[use_case]


def test_rationale_is_frozen_and_round_trips_through_json(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    X = _test_matrix(t)
    x = X[t.model.score(X) < t.spec.policy.approve_at][:1]
    r = explain(t.model, x, adverse=True, reference=_reference(t))
    assert Rationale.model_validate_json(r.model_dump_json()) == r
    with pytest.raises(ValidationError):
        r.score = 0.5  # type: ignore[misc]


def test_bad_input_is_refused(shipped: dict) -> None:
    model = shipped["credit-eligibility"].model
    builder = RationaleBuilder(model)
    with pytest.raises(ValueError, match="columns"):
        builder.explain(np.zeros((1, 3)), adverse=True)
    with pytest.raises(ValueError, match="flags"):
        builder.explain_batch(np.zeros((2, len(model.feature_names))), [True])
    assert builder.explain_batch(np.zeros((0, len(model.feature_names))), []) == []


# -- controlled cases with a stub model ---------------------------------------------


class _Estimator:
    pass


class MonotoneLogistic(_Estimator):
    """Named like the real family so the explainer version resolves."""


class _StubModel:
    """A model with fixed contributions, for the rules' edge cases."""

    def __init__(self, spec: Any, phi: list[float], base: float, estimator: Any = None) -> None:
        self.spec = spec
        self.feature_names = spec.feature_names
        self.estimator = estimator or MonotoneLogistic()
        self._phi = np.asarray([phi], dtype=float)
        self._base = base

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(self._phi, X.shape[0], axis=0), np.full(X.shape[0], self._base)

    def log_odds(self, X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], self._base + float(self._phi.sum()))


def _credit_row(spec: Any) -> np.ndarray:
    return np.zeros((1, len(spec.feature_names)))


def test_without_a_reference_no_factor_below_the_average_means_no_reason_said_plainly(
    shipped: dict,
) -> None:
    # given a decline where the base value alone is adverse and every factor helps a little
    spec = shipped["credit-eligibility"].spec
    p = len(spec.feature_names)
    phi = [0.01 * (j + 1) for j in range(p)]
    stub = _StubModel(spec, phi, base=-3.0)
    # when it is explained without an approved reference
    r = explain(stub, _credit_row(spec), adverse=True)  # type: ignore[arg-type]
    # then no favourable factor is passed off as a reason, and the summary says why
    assert r.reasons == ()
    assert r.reference_kind == "training_average"
    assert "None of your factors lowered this estimate below the model's average" in r.summary
    _check_reasons(r, stub)


def test_with_a_reference_the_same_stub_decline_gets_adverse_reasons(shipped: dict) -> None:
    # given the same decline and an approved population whose mean contributions are 0.5 each
    spec = shipped["credit-eligibility"].spec
    names = tuple(spec.feature_names)
    phi = [0.01 * (j + 1) for j in range(len(names))]
    stub = _StubModel(spec, phi, base=-3.0)
    mean = np.full(len(names), 0.5)
    reference = ApprovedReference(
        features=names,
        approve_at=spec.policy.approve_at,
        n=10,
        n_rows=20,
        source="stub applicants",
        mean_contributions=mean,
        base_value=-3.0 + 0.5 * len(names),
    )
    # when it is explained against them
    r = explain(stub, _credit_row(spec), adverse=True, reference=reference)  # type: ignore[arg-type]
    # then every contribution is phi - 0.5 and the base moves by the same total
    assert [c.contribution for c in r.contributions] == pytest.approx([v - 0.5 for v in phi])
    assert r.base_value == pytest.approx(-3.0 + 0.5 * len(names))
    assert r.additivity_error <= 1e-12
    assert (
        r.reference
        == "the average of the 10 stub applicants the policy approves (score >= 0.75): average log-odds 2.5000"
    )
    # and the reasons are the four codes whose features' shifted sum is most negative
    catalogue = spec.reasons.codes
    by_code = {
        code: sum(phi[names.index(f)] - 0.5 for f in c.features) for code, c in catalogue.items()
    }
    expected = sorted(by_code, key=lambda c: by_code[c])[:MAX_REASONS]
    assert [x.code for x in r.reasons] == expected
    assert [x.text for x in r.reasons] == [_expected_text(spec, catalogue[c], r) for c in expected]
    _check_reasons(r, stub)


def test_adverse_with_one_negative_code_gives_one_reason(shipped: dict) -> None:
    spec = shipped["credit-eligibility"].spec
    p = len(spec.feature_names)
    phi = [0.0] * p
    phi[spec.feature_names.index("Debt")] = -0.7
    r = explain(_StubModel(spec, phi, base=0.2), _credit_row(spec), adverse=True)  # type: ignore[arg-type]
    assert [x.code for x in r.reasons] == ["DBT01"]
    assert r.reasons[0].text == spec.reasons.codes["DBT01"].adverse
    assert r.contributions[0].direction == "neutral"


def test_codes_aggregate_their_features(shipped: dict) -> None:
    # given a catalogue code with several features (retention's add-ons)
    spec = shipped["retention-propensity"].spec
    names = spec.feature_names
    phi = [0.0] * len(names)
    for f in ("online_security", "online_backup", "device_protection", "tech_support"):
        phi[names.index(f)] = -0.1
    phi[names.index("tenure")] = -0.3
    r = explain(_StubModel(spec, phi, base=0.0), np.zeros((1, len(names))), adverse=True)  # type: ignore[arg-type]
    # then the code's contribution is their sum and it outranks the single larger feature
    assert [x.code for x in r.reasons] == ["ADD01", "TEN01"]
    assert r.reasons[0].contribution == pytest.approx(-0.4)


def test_favourable_with_no_positive_code_gives_no_reasons(shipped: dict) -> None:
    spec = shipped["credit-eligibility"].spec
    phi = [-0.01] * len(spec.feature_names)
    r = explain(_StubModel(spec, phi, base=3.0), _credit_row(spec), adverse=False)  # type: ignore[arg-type]
    assert r.reasons == ()
    assert "No single factor raised" in r.summary


def test_spec_without_catalogue_is_refused(shipped: dict) -> None:
    spec = shipped["credit-eligibility"].spec.model_copy(update={"reasons": None})
    stub = _StubModel(spec, [0.0] * len(spec.feature_names), base=0.0)
    with pytest.raises(ValueError, match="no \\[reasons\\] catalogue"):
        explain(stub, _credit_row(spec), adverse=True)  # type: ignore[arg-type]


def test_catalogue_naming_a_feature_the_model_does_not_use_is_refused(shipped: dict) -> None:
    spec = shipped["credit-eligibility"].spec
    stub = _StubModel(spec, [0.0] * len(spec.feature_names), base=0.0)
    stub.feature_names = [n for n in spec.feature_names if n != "Debt"]
    with pytest.raises(ValueError, match="does not use"):
        RationaleBuilder(stub)  # type: ignore[arg-type]


def test_unknown_estimator_has_no_explainer_version(shipped: dict) -> None:
    spec = shipped["credit-eligibility"].spec
    stub = _StubModel(spec, [0.0] * len(spec.feature_names), base=0.0, estimator=_Estimator())
    with pytest.raises(ValueError, match="no exact explainer"):
        explainer_version(stub)  # type: ignore[arg-type]


# -- property test -------------------------------------------------------------------


def _row_strategy(spec: Any) -> st.SearchStrategy[list[float]]:
    parts: list[st.SearchStrategy[float]] = []
    for name in spec.feature_names:
        f = spec.features[name]
        if f.type == "categorical":
            value: st.SearchStrategy[float] = st.integers(0, len(f.categories) - 1).map(float)
        else:
            value = st.floats(f.min, f.max, allow_nan=False)
        if f.nullable:
            value = st.one_of(value, st.just(float("nan")))
        parts.append(value)
    return st.tuples(*parts).map(list)


@pytest.mark.parametrize("use_case", USE_CASES)
def test_property_additivity_and_reason_order_on_random_valid_rows(
    shipped: dict, use_case: str
) -> None:
    t = shipped[use_case]
    approve_at = t.spec.policy.approve_at
    builder = RationaleBuilder(t.model, reference=_reference(t))

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(row=_row_strategy(t.spec))
    def check(row: list[float]) -> None:
        x = np.asarray([row], dtype=float)
        adverse = bool(t.model.score(x)[0] < approve_at)
        r = builder.explain(x, adverse=adverse)
        assert abs(r.base_value + sum(c.contribution for c in r.contributions) - r.log_odds) <= 1e-6
        assert r.log_odds == float(t.model.log_odds(x)[0])
        assert r.score == float(t.model.score(x)[0])
        assert r.reference_kind == ("approved_population" if adverse else "training_average")
        _check_reasons(r, t.model)

    check()


def test_a_serving_spec_may_supply_the_catalogue(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    catalogue = t.spec.reasons.model_copy(update={"version": "2"})
    spec = t.spec.model_copy(update={"reasons": catalogue})
    r = RationaleBuilder(t.model, spec).explain(_test_matrix(t, 1), adverse=True)
    assert r.catalogue_version == "2"
    other = shipped["retention-propensity"].spec
    with pytest.raises(ValueError, match="lists features"):
        RationaleBuilder(t.model, other)


def test_a_reference_built_for_another_threshold_is_refused(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    other = approved_reference(t.model, _test_matrix(t), 0.6)
    with pytest.raises(
        ValueError, match=r"approve_at 0\.6, but spec 'credit-eligibility' approves at 0\.75"
    ):
        RationaleBuilder(t.model, reference=other)
    with pytest.raises(ValueError, match="computed for features"):
        RationaleBuilder(shipped["retention-propensity"].model, reference=other)


# -- the approved population as reference, on a small logistic model ------------------
#
# Its favourable outcome is rare (a large negative intercept), so its base value alone is
# below the line and some adverse cases have no factor below the training average.


def test_adverse_case_with_every_factor_above_average_gets_only_adverse_reasons(
    small: Small,
) -> None:
    # given a row just better than average on every factor, still below the line
    model, spec = small.model, small.spec
    x = np.array([[65.0, 28.0, 11.0, float(CATEGORIES.index("full"))]])
    phi, _ = model.contributions(x)
    assert (phi > 0).all()  # measured from the training average, nothing lowered it
    assert model.score(x)[0] < APPROVE_AT
    reference = approved_reference(model, small.X_test, APPROVE_AT)
    # when the decline is explained against the applicants the policy approves
    r = RationaleBuilder(model, reference=reference).explain(x, adverse=True)
    # then every principal reason lowered the score and carries its adverse text
    assert 1 <= len(r.reasons) <= MAX_REASONS
    assert all(x.contribution < 0 for x in r.reasons)
    assert [x.text for x in r.reasons] == [
        _expected_text(spec, spec.reasons.codes[x.code], r) for x in r.reasons
    ]
    assert [x.contribution for x in r.reasons] == sorted(x.contribution for x in r.reasons)
    # and the contributions add up exactly to the model's own log-odds
    total = r.base_value + sum(c.contribution for c in r.contributions)
    assert abs(total - float(model.log_odds(x)[0])) <= 1e-9
    # and the reference is the approved rows' average log-odds, stated with their count
    approved = small.X_test[model.score(small.X_test) >= APPROVE_AT]
    assert r.base_value == pytest.approx(float(model.log_odds(approved).mean()), abs=1e-9)
    assert r.reference_kind == "approved_population"
    assert f"the average of the {approved.shape[0]} held-out applicants" in r.reference
    assert "(score >= 0.6)" in r.reference
    assert "Compared with the applicants who are approved" in r.summary
    _check_reasons(r, model)


def test_linear_contributions_are_weight_times_gap_to_the_approved_mean(small: Small) -> None:
    # given the small logistic model, its approved test rows and a few declined rows
    model = small.model
    scores = model.score(small.X_test)
    approved = small.X_test[scores >= APPROVE_AT]
    declined = small.X_test[scores < APPROVE_AT][:25]
    reference = approved_reference(model, small.X_test, APPROVE_AT)
    builder = RationaleBuilder(model, reference=reference)

    def log_odds_with(x: np.ndarray, j: int, value: float) -> float:
        z = x.copy()
        z[0, j] = value
        return float(model.log_odds(z)[0])

    for i in range(declined.shape[0]):
        x = declined[i : i + 1]
        # when it is explained
        r = builder.explain(x, adverse=True)
        got = [c.contribution for c in r.contributions]
        # then a numeric feature's contribution is w_j * (x_j - mean_A x_j), with w_j the
        # model's slope in x_j measured by a unit step of its own log-odds
        for j in range(3):
            w = log_odds_with(x, j, x[0, j] + 1.0) - log_odds_with(x, j, x[0, j])
            assert got[j] == pytest.approx(w * (x[0, j] - approved[:, j].mean()), abs=1e-9)
        # and the categorical one is its effect g(c) minus the approved rows' mean effect
        g = [log_odds_with(x, 3, c) - log_odds_with(x, 3, 0.0) for c in range(len(CATEGORIES))]
        mean_g = np.mean([g[int(c)] for c in approved[:, 3]])
        assert got[3] == pytest.approx(g[int(x[0, 3])] - mean_g, abs=1e-9)


def test_property_every_adverse_rationale_has_one_to_four_negative_reasons(small: Small) -> None:
    model = small.model
    builder = RationaleBuilder(model, reference=approved_reference(model, small.X_test, APPROVE_AT))

    @settings(max_examples=200, deadline=None)
    @given(row=_row_strategy(small.spec))
    def check(row: list[float]) -> None:
        x = np.asarray([row], dtype=float)
        log_odds = float(model.log_odds(x)[0])
        adverse = bool(model.score(x)[0] < APPROVE_AT)
        r = builder.explain(x, adverse=adverse)
        assert abs(r.base_value + sum(c.contribution for c in r.contributions) - log_odds) <= 1e-9
        if adverse:
            contributions = [x.contribution for x in r.reasons]
            assert 1 <= len(contributions) <= MAX_REASONS
            assert all(c < 0 for c in contributions)
            assert contributions == sorted(contributions)
        _check_reasons(r, model)

    check()


def test_no_approved_row_names_the_threshold_and_the_best_score(small: Small) -> None:
    best = float(small.model.score(small.X_test).max())
    with pytest.raises(ValueError) as info:
        approved_reference(small.model, small.X_test, 0.99)
    message = str(info.value)
    assert "approve_at 0.99" in message
    assert f"the highest score among the 300 rows is {best:.4f}" in message
    with pytest.raises(
        ValueError, match=re.escape("must be strictly between 0 and 1; got 1.5 instead")
    ):
        approved_reference(small.model, small.X_test, 1.5)


def test_an_adverse_flag_above_the_reference_threshold_is_refused(small: Small) -> None:
    model = small.model
    builder = RationaleBuilder(model, reference=approved_reference(model, small.X_test, APPROVE_AT))
    x = small.X_test[model.score(small.X_test) >= APPROVE_AT][:1]
    with pytest.raises(
        ValueError, match=re.escape("must score below the reference's approve_at 0.6")
    ):
        builder.explain(x, adverse=True)


def test_describe_reference_states_population_threshold_and_value(small: Small) -> None:
    model = small.model
    reference = approved_reference(model, small.X_test, APPROVE_AT)
    approved = small.X_test[model.score(small.X_test) >= APPROVE_AT]
    text = describe_reference(reference)
    assert (
        f"the average of the {approved.shape[0]} held-out applicants the policy approves"
        " (score >= 0.6), out of 300" in text
    )
    assert f"{float(model.log_odds(approved).mean()):.4f}" in text
    assert "most negative contributions" in text
    assert "Favourable decisions are explained against the model's base value" in text
    assert "may have no factor that lowered its score" in describe_reference(None)
