"""Data validation: bad files get clear errors; contract breaches are counted and dropped."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from models.spec import load_spec
from training.data import DataError, load_dataset
from training.synthetic import make_frame, write_synthetic


@pytest.fixture
def synth_dir(tmp_path: Path) -> Path:
    write_synthetic(tmp_path, rows=400, disparity=1.0, seed=1)
    return tmp_path


def _write(folder: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(folder / "data.csv", index=False)


def test_valid_file_loads_with_fingerprint(synth_dir: Path) -> None:
    # given a generated data set
    spec = load_spec(synth_dir / "spec.toml")
    # when
    ds = load_dataset(spec)
    # then
    assert ds.report.rows_read == ds.report.rows_kept == 400
    assert set(ds.y) == {0, 1}
    assert list(ds.sensitive.columns) == ["group", "age_band"]
    assert ds.report.fingerprint == load_dataset(spec).report.fingerprint


def test_missing_column_is_named(synth_dir: Path) -> None:
    _write(synth_dir, make_frame(100, 1.0, 0).drop(columns=["debt", "group"]))
    with pytest.raises(
        DataError, match=r"missing columns \['debt', 'group'\] required by the spec"
    ):
        load_dataset(load_spec(synth_dir / "spec.toml"))


def test_wrong_type_is_named(synth_dir: Path) -> None:
    frame = make_frame(100, 1.0, 0).astype({"income": object})
    frame.loc[3, "income"] = "lots"
    _write(synth_dir, frame)
    with pytest.raises(
        DataError,
        match=r"column 'income' must be numeric; found non-numeric values such as \['lots'\]",
    ):
        load_dataset(load_spec(synth_dir / "spec.toml"))


def test_unknown_category_and_out_of_range_are_counted_and_dropped(synth_dir: Path) -> None:
    frame = make_frame(200, 1.0, 0)
    frame.loc[[1, 2], "employment"] = "astronaut"
    frame.loc[5, "debt"] = -5.0
    frame.loc[7, "outcome"] = None
    _write(synth_dir, frame)
    ds = load_dataset(load_spec(synth_dir / "spec.toml"))
    assert ds.report.unknown_category == {"employment": {"astronaut": 2}}
    assert ds.report.out_of_range == {"debt": 1}
    assert ds.report.missing_target == 1
    assert ds.report.rows_kept == 196
    assert any("unknown categories {'astronaut': 2}" in line for line in ds.report.summary_lines())


def test_empty_file(synth_dir: Path) -> None:
    (synth_dir / "data.csv").write_text("")
    with pytest.raises(DataError, match="is empty"):
        load_dataset(load_spec(synth_dir / "spec.toml"))


def test_header_only_file(synth_dir: Path) -> None:
    _write(synth_dir, make_frame(10, 1.0, 0).iloc[:0])
    with pytest.raises(DataError, match="has no rows"):
        load_dataset(load_spec(synth_dir / "spec.toml"))


def test_missing_file(synth_dir: Path) -> None:
    (synth_dir / "data.csv").unlink()
    with pytest.raises(DataError, match="file not found"):
        load_dataset(load_spec(synth_dir / "spec.toml"))


def test_single_class_target(synth_dir: Path) -> None:
    frame = make_frame(50, 1.0, 0).assign(outcome="good")
    _write(synth_dir, frame)
    with pytest.raises(DataError, match="needs both the favourable value 'good'"):
        load_dataset(load_spec(synth_dir / "spec.toml"))


def test_parquet_source(synth_dir: Path) -> None:
    make_frame(300, 1.0, 0).to_parquet(synth_dir / "data.parquet")
    text = (synth_dir / "spec.toml").read_text().replace('"data.csv"', '"data.parquet"')
    (synth_dir / "spec.toml").write_text(text)
    assert load_dataset(load_spec(synth_dir / "spec.toml")).report.rows_kept == 300


def test_shipped_real_data_honours_its_spec() -> None:
    from docket.usecases import resolve_spec

    credit = load_dataset(resolve_spec("credit-eligibility"))
    assert credit.report.rows_kept == 4454
    assert set(credit.sensitive["age_band"]) <= {"18-24", "25-34", "35-44", "45-54", "55+"}
    churn = load_dataset(resolve_spec("retention-propensity"))
    assert churn.report.rows_kept == 7032
    assert churn.report.missing_value == {"total_charges": 11}
