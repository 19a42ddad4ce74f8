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


def _docket(
    *args: str, home: Path, spec_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("docket")
    env = {**os.environ, **Settings.local(home).as_env()}
    if spec_dir is not None:
        env["DOCKET_SPEC_DIRS"] = str(spec_dir)
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


def test_promote_and_history_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = _docket(
        "synth", str(tmp_path / "s"), "--rows", "3000", "--seed", "3", home=home
    ).stdout.strip()
    assert _docket("train", spec, home=home).returncode == 0
    audit = _docket("audit", spec, "--version", "1", home=home)
    assert audit.returncode == 1 and "FAIL" in audit.stdout  # the plain model fails the gate
    refused = _docket("promote", spec, "--version", "1", "--requested-by", "ann", home=home)
    assert refused.returncode == 1 and "did not pass its audit (FAIL)" in refused.stderr
    same = _docket(
        "promote",
        spec,
        "--version",
        "1",
        "--requested-by",
        "ann",
        "--approved-by",
        "Ann",
        "--waiver",
        "Pilot accepted by the business for two weeks.",
        home=home,
    )
    assert same.returncode == 1 and "approver other than the requester" in same.stderr
    waived = _docket(
        "promote",
        spec,
        "--version",
        "1",
        "--requested-by",
        "ann",
        "--approved-by",
        "bob",
        "--waiver",
        "Pilot accepted by the business for two weeks.",
        "--json",
        home=home,
    )
    assert waived.returncode == 0, waived.stderr
    assert json.loads(waived.stdout)["approved_by"] == "bob"
    history = json.loads(
        _docket(
            "history", "synthetic-eligibility", "--json", home=home, spec_dir=Path(spec).parent
        ).stdout
    )
    assert [e["action"] for e in history] == ["refused", "refused", "promote"]
    assert history[1]["approved_by"] == "Ann"
    card = _docket("card", spec, "--format", "md", home=home)
    assert card.returncode == 0 and "bob" in card.stdout and "Pilot accepted" in card.stdout
