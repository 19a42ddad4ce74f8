"""Request validation: every problem names the field, the rule and the value."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from docket.usecases import resolve_spec
from serving.decisions.validation import DecideRequest, InvalidFeatures, check_features

GOOD = {
    "Seniority": 5,
    "Home": "rent",
    "Time": 36,
    "Records": "no",
    "Job": "fixed",
    "Expenses": 60,
    "Income": 150,
    "Assets": 2000,
    "Debt": 0,
    "Amount": 900,
    "Price": 1200,
}


def _problems(features: dict) -> dict[str, str]:
    with pytest.raises(InvalidFeatures) as info:
        check_features(resolve_spec("credit-eligibility"), features)
    return {".".join(p.loc): p.msg for p in info.value.problems}


def test_valid_features_pass_through() -> None:
    assert check_features(resolve_spec("credit-eligibility"), GOOD) == GOOD


def test_every_problem_is_named() -> None:
    bad = {**GOOD, "Income": "lots", "Amount": 99999, "Home": "castle", "Shoe": 42}
    del bad["Debt"]
    problems = _problems(bad)
    assert problems["features.Income"] == "must be a finite number; got 'lots'"
    assert problems["features.Amount"] == "must be between 100 and 5000; got 99999"
    assert problems["features.Home"].startswith(
        "unknown category 'castle'; allowed: ['owner', 'rent'"
    )
    assert problems["features.Debt"] == "required feature is missing"
    assert problems["features.Shoe"].startswith("unknown feature; allowed features: ['Seniority'")


def test_null_only_where_nullable() -> None:
    assert (
        check_features(resolve_spec("credit-eligibility"), {**GOOD, "Income": None})["Income"]
        is None
    )
    assert _problems({**GOOD, "Seniority": None}) == {"features.Seniority": "may not be null"}


def test_booleans_and_nan_are_not_numbers() -> None:
    assert "features.Time" in _problems({**GOOD, "Time": True})
    assert "features.Time" in _problems({**GOOD, "Time": float("nan")})


def test_envelope_errors_name_field_and_value() -> None:
    with pytest.raises(ValidationError) as info:
        DecideRequest.model_validate(
            {"use_case": 7, "features": [], "automated_decision_consent": "maybe", "x": 1}
        )
    msg = str(info.value)
    assert "use_case: Input should be a valid string; got 7" in msg
    assert "features: Input should be a valid dictionary; got []" in msg
    assert "automated_decision_consent: Input should be a valid boolean" in msg and "'maybe'" in msg
    assert "x: Extra inputs are not permitted; got 1" in msg
