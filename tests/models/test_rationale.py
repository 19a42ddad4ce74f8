"""Rationales: exact contributions (R2) and principal reason codes (R1) on the shipped models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from models.rationale import (
    MAX_REASONS,
    SPACE,
    Rationale,
    RationaleBuilder,
    explain,
    explain_batch,
    explainer_version,
)
from models.spec import _GENERIC_REASONS

USE_CASES = ["credit-eligibility", "retention-propensity"]
EXPECTED_EXPLAINER = {
    "credit-eligibility": "treeshap-lightgbm/1",
    "retention-propensity": "exact-linear/1",
}


def _test_matrix(t: Any, n: int | None = None) -> np.ndarray:
    rows = t.split.test if n is None else t.split.test[:n]
    return t.model.encode(t.dataset.frame.iloc[rows])


def _code_totals(r: Rationale, catalogue: Any) -> dict[str, float]:
    """Per-code totals recomputed from the rationale's own feature contributions."""
    by_feature = {c.feature: c.contribution for c in r.contributions}
    return {code: sum(by_feature[f] for f in rc.features) for code, rc in catalogue.codes.items()}


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
        assert reason.text == (expected.adverse if reason.contribution < 0 else expected.favourable)
        assert _lower_first(reason.text) in r.summary
    assert len({x.code for x in r.reasons}) == len(r.reasons)
    outcome = f"{model.spec.data.target} = {model.spec.data.favourable}"
    assert outcome in r.summary
    assert 1 <= r.summary.count(".") <= 3 + sum(x.text.count(".") for x in r.reasons)
    if r.adverse:
        assert 1 <= len(r.reasons) <= MAX_REASONS
        # ordered by how much each pushed toward the adverse outcome, most first
        assert contributions == sorted(contributions)
        negative = sorted(v for v in totals.values() if v <= -1e-12)
        if negative:
            assert all(c < 0 for c in contributions)
            # exactly the most adverse codes, no more than four
            assert contributions == pytest.approx(negative[:MAX_REASONS], abs=1e-12)
            assert "not favourable" in r.summary
        else:
            assert "None of your factors lowered" in r.summary
            assert contributions == pytest.approx(
                sorted(totals.values())[: len(contributions)], abs=1e-12
            )
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
    rationales = explain_batch(t.model, X, scores < 0.5)
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
    builder = RationaleBuilder(t.model)
    batch = builder.explain_batch(X, scores < 0.5)
    for i in range(X.shape[0]):
        x = X[i : i + 1]
        r = builder.explain(x, adverse=bool(scores[i] < 0.5))
        assert r.score == float(t.model.score(x)[0])
        assert r.additivity_error <= 1e-6
        # the same decision explained twice gives the same rationale (replay, R3)
        assert explain(t.model, x, adverse=bool(scores[i] < 0.5)) == r
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
    rationales = explain_batch(t.model, X, adverse)
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
        for text in (code.adverse, code.favourable):
            assert not any(g in text.lower() for g in _GENERIC_REASONS), text


@pytest.mark.parametrize("use_case", USE_CASES)
def test_explainer_version_names_the_method(shipped: dict, use_case: str) -> None:
    model = shipped[use_case].model
    assert explainer_version(model) == EXPECTED_EXPLAINER[use_case]
    assert RationaleBuilder(model).explainer_version == EXPECTED_EXPLAINER[use_case]


def test_rationale_is_frozen_and_round_trips_through_json(shipped: dict) -> None:
    t = shipped["credit-eligibility"]
    x = _test_matrix(t, 1)
    r = explain(t.model, x, adverse=True)
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


def test_adverse_with_no_negative_code_gives_least_favourable_and_says_so(shipped: dict) -> None:
    # given a decline where the base value alone is adverse and every factor helps a little
    spec = shipped["credit-eligibility"].spec
    p = len(spec.feature_names)
    phi = [0.01 * (j + 1) for j in range(p)]
    stub = _StubModel(spec, phi, base=-3.0)
    r = explain(stub, _credit_row(spec), adverse=True)  # type: ignore[arg-type]
    # then the one to four least favourable codes are given, and the summary says why
    assert [x.code for x in r.reasons] == list(spec.reasons.codes)[:4]
    assert all(x.contribution > 0 for x in r.reasons)
    assert "None of your factors lowered" in r.summary
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
    builder = RationaleBuilder(t.model)

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(row=_row_strategy(t.spec), adverse=st.booleans())
    def check(row: list[float], adverse: bool) -> None:
        x = np.asarray([row], dtype=float)
        r = builder.explain(x, adverse=adverse)
        assert abs(r.base_value + sum(c.contribution for c in r.contributions) - r.log_odds) <= 1e-6
        assert r.log_odds == float(t.model.log_odds(x)[0])
        assert r.score == float(t.model.score(x)[0])
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
