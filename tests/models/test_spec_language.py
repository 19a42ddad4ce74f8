"""The spec language of issue 11: derived maps, per-value reason texts, units and ratio parts.

Expected messages, labels, counts and texts are written by hand from the inputs.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audits.cards import build_card, render_markdown
from models.rationale import RationaleBuilder, approved_reference
from models.recourse import (
    Change,
    RecourseBuilder,
    _Actionable,
    _found_message,
    _parts,
    _Ratio,
    format_value,
)
from models.sensitive import sensitive_labels, unmapped_values
from models.spec import DecisionSpec, MapDerived, SpecError, load_spec, parse_spec
from tests.models.small import APPROVE_AT, CATEGORIES, small_model, small_spec

SPECS = Path(__file__).resolve().parents[2] / "docket" / "specs"


def _raw() -> dict[str, Any]:
    """The small test spec as a mapping, to change one key at a time."""
    return small_spec().model_dump(mode="json", exclude_none=True)


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as exc:
        parse_spec(raw, source="t.toml")
    return exc.value.problems


def _with_region(mapping: Any, **extra: Any) -> dict[str, Any]:
    raw = _raw()
    raw["derived"] = {"region": {"source": "state", "kind": "map", "mapping": mapping, **extra}}
    raw["sensitive"] = {"attributes": ["region"]}
    return raw


REGIONS = {"West": ["CA", "OR"], "East": ["NY", "MA"]}


# -- derived kind = "map" ------------------------------------------------------------------
def test_a_map_parses_and_bands_without_a_kind_still_parse() -> None:
    spec = parse_spec(_with_region(REGIONS))
    region = spec.derived["region"]
    assert isinstance(region, MapDerived)
    assert region.labels == ["West", "East"]
    assert region.group_of() == {"CA": "West", "OR": "West", "NY": "East", "MA": "East"}
    raw = _raw()
    raw["derived"] = {"band": {"source": "age", "edges": [18, 40, 100], "labels": ["a", "b"]}}
    raw["sensitive"] = {"attributes": ["band"]}
    assert parse_spec(raw).derived["band"].kind == "bands"


def test_a_value_in_two_groups_is_refused_naming_both() -> None:
    problems = _problems(_with_region({"West": ["CA", "NY"], "East": ["NY"]}))
    assert problems == [
        "key 'derived.region': 'mapping': value 'NY' is in 'West' and 'East'; a value may"
        " belong to one group only"
    ]


def test_a_group_that_is_not_a_list_is_refused() -> None:
    problems = _problems(_with_region({"West": "CA"}))
    assert problems == [
        "key 'derived.region.mapping': 'mapping.West' must be a list of the source values in"
        " group 'West' (mapping is group = [\"value\", ...]); got 'CA'"
    ]


def test_an_empty_group_and_a_reserved_group_name_are_refused() -> None:
    assert _problems(_with_region({"West": []})) == [
        "key 'derived.region': 'mapping.West' must list at least one source value (got [])"
    ]
    assert "reserved" in _problems(_with_region({"(unmapped)": ["CA"]}))[0]


def test_an_unknown_kind_names_the_allowed_kinds_and_what_was_given() -> None:
    raw = _with_region(REGIONS)
    raw["derived"]["region"]["kind"] = "lookup"
    assert _problems(raw) == [
        "key 'derived.region.kind': 'kind' must be one of ['bands', 'map']; got 'lookup'"
    ]


def test_bands_keys_on_a_map_are_unknown_keys() -> None:
    problems = _problems(_with_region(REGIONS, edges=[1, 2]))
    assert problems == ["key 'derived.region.edges': unknown key (not allowed here); got [1, 2]"]


def test_audit_labels_apply_the_map_and_name_unmapped_and_missing_rows() -> None:
    spec = parse_spec(_with_region(REGIONS))
    frame = pd.DataFrame({"state": ["CA", "NY", "PR", None, "OR", "PR", "GU"]})
    labels = sensitive_labels(spec, frame)
    assert labels["region"].tolist() == [
        "West",
        "East",
        "(unmapped)",
        "(missing)",
        "West",
        "(unmapped)",
        "(unmapped)",
    ]


def test_unmapped_values_are_counted_per_attribute() -> None:
    spec = parse_spec(_with_region(REGIONS))
    frame = pd.DataFrame({"state": ["CA", "PR", "GU", "PR", None, "MA", "PR"]})
    # PR three times, GU once; the missing row is not an unmapped value
    assert unmapped_values(spec, frame) == {"region": {"PR": 3, "GU": 1}}
    assert unmapped_values(spec, pd.DataFrame({"state": ["CA", "NY"]})) == {"region": {}}


def test_numeric_codes_read_as_floats_match_their_text() -> None:
    spec = parse_spec(_with_region({"North": ["1", "2"], "South": ["3"]}))
    frame = pd.DataFrame({"state": [1.0, 3.0, np.nan, 7.0]})  # a gap makes the column float
    assert sensitive_labels(spec, frame)["region"].tolist() == [
        "North",
        "South",
        "(missing)",
        "(unmapped)",
    ]
    assert unmapped_values(spec, frame) == {"region": {"7": 1}}


def test_a_missing_source_column_is_named() -> None:
    spec = parse_spec(_with_region(REGIONS))
    with pytest.raises(KeyError, match="computed from column 'state'"):
        unmapped_values(spec, pd.DataFrame({"other": ["CA"]}))


# -- per-value reason texts ---------------------------------------------------------------
COVER_ADVERSE = {
    "none": "You have no insurance cover",
    "basic": "Your insurance cover is basic",
    "full": "Your full insurance cover counted for less than for approved applicants",
}
COVER_FAVOURABLE = {
    "none": "Having no cover weighed less against you than on average",
    "basic": "Your basic insurance cover counted in your favour",
    "full": "Your full insurance cover counted in your favour",
}


def _cover_code(raw: dict[str, Any], **texts: Any) -> dict[str, Any]:
    """Give the cover feature its own code with the given texts (its file age keeps HIS01)."""
    codes = raw["reasons"]["codes"]
    codes["HIS01"]["features"] = ["age_of_file"]
    codes["COV01"] = {"features": ["cover"], **texts}
    return raw


def test_a_table_keyed_by_an_unknown_value_names_the_key_and_the_allowed_values() -> None:
    raw = _cover_code(_raw(), adverse={**COVER_ADVERSE, "gold": "Your gold cover is unusual"},
                      favourable=COVER_FAVOURABLE)  # fmt: skip
    assert _problems(raw) == [
        "key 'reasons.codes.COV01.adverse.gold': not a value of feature 'cover'; allowed keys:"
        " ['none', 'basic', 'full', 'default'] (got 'gold')"
    ]


def test_a_table_missing_a_value_is_refused_unless_it_has_a_default() -> None:
    partial = {"none": COVER_ADVERSE["none"], "basic": COVER_ADVERSE["basic"]}
    raw = _cover_code(_raw(), adverse=partial, favourable=COVER_FAVOURABLE)
    assert _problems(raw) == [
        "key 'reasons.codes.COV01.adverse': no text for value(s) ['full'] of feature 'cover';"
        " write one for each of ['none', 'basic', 'full'], or a 'default' text for the rest"
        " (got keys ['none', 'basic'])"
    ]
    with_default = {
        **partial,
        "default": "Your insurance cover is not what approved applicants have",
    }
    spec = parse_spec(_cover_code(_raw(), adverse=with_default, favourable=COVER_FAVOURABLE))
    assert spec.reasons is not None
    assert spec.reasons.codes["COV01"].text("adverse", "full") == with_default["default"]
    assert spec.reasons.codes["COV01"].text("adverse", "none") == "You have no insurance cover"


def test_a_nullable_feature_needs_a_default_for_the_missing_value() -> None:
    raw = _cover_code(_raw(), adverse=COVER_ADVERSE, favourable=COVER_FAVOURABLE)
    raw["features"]["cover"]["nullable"] = True
    assert _problems(raw) == [
        "key 'reasons.codes.COV01.adverse': feature 'cover' may be missing, and a person with"
        " no value needs a text too; add 'default' (got keys ['none', 'basic', 'full'])"
    ]


def test_a_table_on_a_numeric_only_code_is_refused() -> None:
    raw = _raw()
    raw["reasons"]["codes"]["DBT01"]["adverse"] = {"high": "Your existing debt is high"}
    assert _problems(raw) == [
        "key 'reasons.codes.DBT01.adverse': a per-value table needs a categorical feature in"
        " the code, but ['debt'] are all numeric; write one text (got keys ['high'])"
    ]


def test_every_text_of_a_table_is_checked_for_length_and_generic_words() -> None:
    raw = _cover_code(_raw(), adverse={**COVER_ADVERSE, "basic": "short"},
                      favourable=COVER_FAVOURABLE)  # fmt: skip
    assert _problems(raw) == [
        "key 'reasons.codes.COV01.adverse': reason text for value 'basic' must have at least"
        " 10 characters (got 'short')"
    ]
    raw = _cover_code(_raw(), adverse={**COVER_ADVERSE, "none": "Your score too low for cover"},
                      favourable=COVER_FAVOURABLE)  # fmt: skip
    assert "not a generic one like 'score too low'" in _problems(raw)[0]


def test_warnings_name_a_categorical_code_with_one_text_for_every_value() -> None:
    raw = _cover_code(
        _raw(),
        adverse="Your insurance cover lowered the estimate",
        favourable=COVER_FAVOURABLE,
    )
    spec = parse_spec(raw)
    assert spec.warnings() == [
        "key 'reasons.codes.COV01.adverse': one text for every value of categorical feature"
        " 'cover' (values: none, basic, full); write one per value (adverse.<value> = ...) so"
        " a person is never told about the value they do not have"
    ]
    # a code of a numeric and a categorical feature is not warned about (no single value)
    assert parse_spec(_raw()).warnings() == []


@pytest.mark.parametrize("name", ["credit-eligibility", "retention-propensity"])
def test_shipped_specs_have_no_warnings(name: str) -> None:
    assert load_spec(SPECS / f"{name}.toml").warnings() == []


def test_the_shipped_credit_spec_tells_each_records_value_its_own_text() -> None:
    spec = load_spec(SPECS / "credit-eligibility.toml")
    assert spec.reasons is not None
    rec = spec.reasons.codes["REC01"]
    assert rec.text("adverse", "yes") == "You have previous default records"
    assert "no previous default records" in rec.text("adverse", "no").lower()
    assert rec.text("favourable", "no") == "You have no previous default records"


def test_rationale_gives_each_person_the_text_for_their_own_value() -> None:
    # given the small model, served under a spec whose cover code has a text per value
    small = small_model()
    served = parse_spec(_cover_code(_raw(), adverse=COVER_ADVERSE, favourable=COVER_FAVOURABLE))
    reference = approved_reference(small.model, small.X_test, APPROVE_AT)
    builder = RationaleBuilder(small.model, served, reference=reference)
    X = small.X_test
    adverse = small.model.score(X) < APPROVE_AT
    # when every held-out row is explained
    seen: dict[tuple[bool, str], int] = {}
    for x, flag in zip(X, adverse, strict=True):
        r = builder.explain(x, adverse=bool(flag))
        cover = CATEGORIES[int(x[3])]
        for reason in r.reasons:
            if reason.code != "COV01":
                continue
            # then the cover reason describes the cover this person has, and no other
            table = COVER_ADVERSE if flag else COVER_FAVOURABLE
            assert reason.text == table[cover]
            others = [t for v, t in table.items() if v != cover]
            assert reason.text not in others
            assert reason.text[0].lower() + reason.text[1:] in r.summary
            seen[(bool(flag), cover)] = seen.get((bool(flag), cover), 0) + 1
    # and the check ran in both directions and for more than one value
    assert {f for f, _ in seen} == {True, False}, seen
    assert len({c for _, c in seen}) >= 2, seen


# -- units and ratio parts ------------------------------------------------------------------
def test_a_unit_on_a_categorical_feature_is_refused() -> None:
    raw = _raw()
    raw["features"]["cover"]["unit"] = "EUR"
    assert _problems(raw) == [
        "key 'features.cover': 'unit' is only allowed on numeric features (got unit='EUR' on"
        " a categorical feature)"
    ]
    raw = _raw()
    raw["features"]["income"]["unit"] = ""
    assert _problems(raw)[0].startswith("key 'features.income.unit': String should have at least 1")


def test_ratio_parts_must_name_other_numeric_features() -> None:
    raw = _raw()
    raw["features"]["debt"]["ratio_of"] = {"numerator": "cover", "denominator": "income"}
    assert _problems(raw) == [
        "key 'features.debt.ratio_of.numerator': must name another numeric feature, one of"
        " ['income', 'age_of_file'] (got 'cover')"
    ]
    raw["features"]["debt"]["ratio_of"] = {"numerator": "income"}
    assert _problems(raw) == ["key 'features.debt.ratio_of.denominator': is required but missing"]


def test_display_label_carries_the_unit_once() -> None:
    raw = _raw()
    raw["features"]["income"]["unit"] = "EUR"
    raw["features"]["debt"].update(unit="EUR", label="Debt (EUR)")
    spec = parse_spec(raw)
    assert spec.features["income"].display_label == "Income (EUR)"
    assert spec.features["debt"].display_label == "Debt (EUR)"
    assert spec.features["age_of_file"].display_label == "Age of credit file"


def test_values_are_shown_with_their_units() -> None:
    assert format_value(1200.0, "EUR") == "1,200 EUR"
    assert format_value(1450.5, "EUR") == "1,450.5 EUR"
    assert format_value(24.0, "months") == "24 months"
    assert format_value(35.0, "%") == "35%"
    assert format_value(0.45) == "0.45"
    assert format_value("rent", "EUR") == "'rent'"
    assert format_value(None, "EUR") == "not given"


def test_a_ratio_change_is_stated_as_the_amount_at_the_persons_denominator() -> None:
    ratio = _Actionable(
        j=0, name="dti", label="Debt-to-income ratio", categorical=False, categories=(),
        grid=np.linspace(0, 1, 21), sign=-1, span=1.0, unit=None,
        ratio=_Ratio("Monthly debt payments", "EUR", 1, "Monthly income", "EUR"),
    )  # fmt: skip
    before = np.array([0.45, 5000.0])
    # 0.45 * 5,000 = 2,250 and 0.35 * 5,000 = 1,750
    assert _parts(ratio, before, np.array([0.35, 5000.0])) == (
        "that is Monthly debt payments from 2,250 EUR to 1,750 EUR at your Monthly income"
        " of 5,000 EUR"
    )
    # with the income changing too, each amount is at its own income: 0.3 * 6,000 = 1,800
    assert _parts(ratio, before, np.array([0.3, 6000.0])) == (
        "that is Monthly debt payments from 2,250 EUR to 1,800 EUR with your Monthly income"
        " from 5,000 EUR to 6,000 EUR"
    )
    assert _parts(ratio, np.array([0.45, np.nan]), np.array([0.35, np.nan])) is None
    change = Change(
        feature="dti",
        label="Debt-to-income ratio",
        from_value=0.45,
        to_value=0.35,
        parts=_parts(ratio, before, np.array([0.35, 5000.0])),
    )
    income = Change(
        feature="income", label="Income", from_value=1200.0, to_value=1450.0, unit="EUR"
    )
    message = _found_message((income, change), 0.8, 0.75, judged=False)
    assert message.startswith(
        "Changing Income from 1,200 EUR to 1,450 EUR and Debt-to-income ratio from 0.45 to 0.35"
        " (that is Monthly debt payments from 2,250 EUR to 1,750 EUR at your Monthly income of"
        " 5,000 EUR) would raise the model's estimate to 80%"
    )


def test_recourse_on_a_real_model_states_units_and_ratio_parts() -> None:
    # given the small model served under a spec with units, debt read as a ratio of income,
    # and only debt left actionable
    small = small_model()
    raw = _raw()
    raw["features"]["income"].update(unit="EUR", actionable=False)
    raw["features"]["cover"]["actionable"] = False
    raw["features"]["debt"]["unit"] = "%"
    raw["features"]["age_of_file"]["unit"] = "EUR"  # the numerator's unit, for this test only
    raw["features"]["debt"]["ratio_of"] = {"numerator": "age_of_file", "denominator": "income"}
    builder = RecourseBuilder(small.model, parse_spec(raw))
    # a declined person: income 80, debt 40
    x = np.array([80.0, 40.0, 10.0, float(CATEGORIES.index("basic"))])
    assert small.model.score(x[None, :])[0] < APPROVE_AT
    rc = builder.find(x, target_score=APPROVE_AT)
    assert rc.found
    (debt,) = rc.changes
    assert debt.feature == "debt" and debt.unit == "%"
    assert isinstance(debt.to_value, float) and debt.to_value.is_integer()  # step 1
    new = int(debt.to_value)
    assert 0 < new < 40
    # then the message states the change in % and, at the income of 80, the amount:
    # 40 * 80 = 3,200 before and new * 80 after
    assert (
        f"Changing Debt from 40% to {new}% (that is Age of credit file from 3,200 EUR to"
        f" {new * 80:,} EUR at your Income of 80 EUR)"
    ) in rc.message


# -- the model card ------------------------------------------------------------------------
def test_the_card_lists_per_value_texts_one_row_per_code() -> None:
    spec: DecisionSpec = parse_spec(
        _cover_code(_raw(), adverse=COVER_ADVERSE, favourable="Your insurance cover helped")
    )
    card = build_card(
        spec,
        version="1",
        created_at="2025-01-02T00:00:00+00:00",
        run_metrics={},
        run_tags={},
        data_report={},
        report=None,
        waiver=None,
        previous=None,
        reason_reference="Against the approved applicants.",
    )
    markdown = render_markdown(card)
    rows = [line for line in markdown.splitlines() if line.startswith("| COV01 |")]
    assert rows == [
        "| COV01 | cover | none: You have no insurance cover; basic: Your insurance cover is"
        " basic; full: Your full insurance cover counted for less than for approved applicants"
        " | Your insurance cover helped |"
    ]
    entry = next(c for c in card.reason_codes.codes if c.code == "COV01")
    assert entry.adverse.splitlines() == [f"{v}: {t}" for v, t in COVER_ADVERSE.items()]


def test_a_shipped_spec_dumps_and_parses_back_to_the_same_hash() -> None:
    spec = load_spec(SPECS / "credit-eligibility.toml")
    again = parse_spec(copy.deepcopy(spec.model_dump(mode="json")))
    assert again.spec_hash() == spec.spec_hash()
