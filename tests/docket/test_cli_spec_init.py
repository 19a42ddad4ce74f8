"""`docket spec init` and `docket spec validate --data` through the command line."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from training.synthetic import make_frame

runner = CliRunner()


def fill(path: Path) -> None:
    text = path.read_text()
    path.write_text(
        re.sub(r'"TO WRITE:([^"]*)"', lambda m: f'"Written by hand:{m.group(1)}"', text)
    )


@pytest.fixture
def data(tmp_path: Path) -> Path:
    folder = tmp_path / "inputs"
    folder.mkdir()
    path = folder / "Loans 2024.csv"
    make_frame(600, 1.0, 5).to_csv(path, index=False)
    return path


def _init(data: Path, *extra: str) -> object:
    args = ["spec", "init", str(data), "--target", "outcome", "--favourable", "good"]
    return runner.invoke(app, [*args, "--sensitive", "group,age", *extra])


def test_init_prints_the_draft_with_an_absolute_source(data: Path) -> None:
    result = _init(data)
    assert result.exit_code == 0, result.output
    raw = tomllib.loads(result.stdout)
    assert raw["name"] == "loans-2024"  # from the file name
    assert raw["data"]["source"] == data.resolve().as_posix()
    assert raw["sensitive"]["attributes"] == ["group", "age_band"]


def test_init_writes_a_file_relative_to_its_folder_and_refuses_to_overwrite(
    data: Path, tmp_path: Path
) -> None:
    out = tmp_path / "specs" / "loans.toml"
    first = _init(data, "-o", str(out), "--name", "loans")
    assert first.exit_code == 0, first.output
    raw = tomllib.loads(out.read_text())
    assert raw["data"]["source"] == "../inputs/Loans 2024.csv"
    # the count reported is the number of placeholders written
    lines = out.read_text().splitlines()
    placeholders = sum('"TO WRITE:' in x for x in lines if not x.lstrip().startswith("#"))
    assert f"5 features, {placeholders} texts to write" in first.output
    again = _init(data, "-o", str(out))
    assert again.exit_code == 2
    assert f"-o {str(out)!r} exists; pass --force to overwrite it" in again.output
    assert _init(data, "-o", str(out), "--force").exit_code == 0


def test_init_refuses_bad_options_naming_them(data: Path) -> None:
    result = runner.invoke(
        app, ["spec", "init", str(data), "--target", "Outcome", "--favourable", "good"]
    )
    assert result.exit_code == 2
    assert "--target 'Outcome' is not a column of DATA (did you mean 'outcome'?)" in result.output
    missing = runner.invoke(
        app, ["spec", "init", str(data.with_name("nope.csv")), "--target", "a", "--favourable", "b"]
    )
    assert missing.exit_code == 2
    assert f"file not found at {str(data.with_name('nope.csv'))!r}" in missing.output


def test_validate_names_every_text_still_to_write(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "loans.toml"
    _init(data, "-o", str(out))
    result = runner.invoke(app, ["spec", "validate", str(out), "--data"])
    assert result.exit_code == 2
    for key in ("description", "data.datasheet.known_biases", "reasons.codes.INC01.adverse"):
        assert f"key '{key}': still to be written" in result.output


def test_validate_data_exit_status_and_json(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "loans.toml"
    _init(data, "-o", str(out))
    fill(out)
    ok = runner.invoke(app, ["spec", "validate", str(out), "--data"])
    assert ok.exit_code == 0, ok.output
    assert "data " in ok.output and ": 600 rows; 0 errors, 0 warnings" in ok.output
    # the spec no longer lists 'permanent' (nor a reason text for it); the data still has it
    edited = out.read_text().replace('categories = ["permanent", ', "categories = [")
    out.write_text("\n".join(x for x in edited.splitlines() if not x.startswith('"permanent" =')))
    bad = runner.invoke(app, ["spec", "validate", str(out), "--data", "--json"])
    assert bad.exit_code == 2
    problems = json.loads(bad.stdout)["data"]["problems"]
    assert [(p["key"], p["severity"]) for p in problems] == [
        ("features.employment.categories", "error")
    ]
    assert problems[0]["fix"] == "add them to features.employment.categories, or clean the data"


def test_from_init_to_an_audit_through_the_commands(
    data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKET_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    out = tmp_path / "specs" / "loans.toml"
    assert _init(data, "-o", str(out)).exit_code == 0
    fill(out)
    trained = runner.invoke(app, ["train", str(out), "--json"])
    assert trained.exit_code == 0, trained.output
    version = json.loads(trained.stdout)["version"]
    audit = runner.invoke(app, ["audit", str(out), "--version", version])
    assert audit.exit_code in (0, 1, 3), audit.output


def test_validate_warns_when_a_categorical_code_has_one_text(tmp_path: Path) -> None:
    from training.synthetic import write_synthetic

    path = write_synthetic(tmp_path / "s", rows=300, seed=1)
    text = path.read_text().replace(
        'features = ["years_employed", "employment"]\nadverse = "Your employment history is short'
        ' or not permanent"\nfavourable = "Your employment history is long or permanent"',
        'features = ["years_employed"]\nadverse = "Your time in employment is short"\n'
        'favourable = "Your time in employment is long"\n\n[reasons.codes.EMT01]\n'
        'features = ["employment"]\nadverse = "Your employment is not permanent"\n'
        'favourable = "Your employment is permanent"',
    )
    assert "EMT01" in text
    path.write_text(text)
    done = runner.invoke(app, ["spec", "validate", str(path)])
    assert done.exit_code == 0, done.output
    warning = next(line for line in done.stdout.splitlines() if line.startswith("warning:"))
    assert "key 'reasons.codes.EMT01.adverse'" in warning
    assert "'employment'" in warning
    as_json = json.loads(runner.invoke(app, ["spec", "validate", str(path), "--json"]).stdout)
    assert len(as_json["warnings"]) == 2  # the adverse and the favourable text
