"""The `docket` command line, through its real entry point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings

runner = CliRunner()


def _docket(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("docket")
    env = {**os.environ, **Settings.local(home).as_env()}
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_unknown_use_case_lists_known_ones(docket_home: Path) -> None:
    result = runner.invoke(app, ["train", "credit-elegibility"])
    assert result.exit_code == 2
    assert "unknown use case 'credit-elegibility'" in result.output
    assert "credit-eligibility, retention-propensity" in result.output


def test_missing_spec_path_is_a_clear_error(docket_home: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "spec.toml"
    result = runner.invoke(app, ["train", str(missing)])
    assert result.exit_code == 2
    assert f"file not found: {str(missing)!r}" in result.output


def test_invalid_spec_names_file_and_key(docket_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "Bad Name"\n')
    result = runner.invoke(app, ["spec", "validate", str(bad)])
    assert result.exit_code == 2
    assert str(bad) in result.output
    assert "key 'name'" in result.output and "key 'data': is required but missing" in result.output


def test_spec_list_json() -> None:
    result = runner.invoke(app, ["spec", "list", "--json"])
    assert result.exit_code == 0
    assert set(json.loads(result.stdout)) >= {"credit-eligibility", "retention-propensity"}


def test_synth_then_train_through_the_real_command(tmp_path: Path) -> None:
    # given a synthetic use case written by the CLI
    home = tmp_path / "home"
    out = _docket("synth", str(tmp_path / "synth"), "--rows", "800", "--seed", "2", home=home)
    assert out.returncode == 0, out.stderr
    spec_path = out.stdout.strip()
    # when it is trained with --json
    trained = _docket("train", spec_path, "--json", home=home)
    # then stdout is machine-readable and progress went to stderr
    assert trained.returncode == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["version"] == "1" and result["alias"] == "candidate"
    assert 0.5 < result["metrics"]["roc_auc"] <= 1.0
    assert "fitting logistic model" in trained.stderr
    assert (home / "mlflow.db").is_file()


def test_synth_rejects_unknown_family(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", str(tmp_path), "--family", "forest"])
    assert result.exit_code == 2
    assert "--family must be one of ['logistic', 'gbm']; got 'forest'" in result.output
