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


def _person(home: Path, name: str, role: str) -> str:
    added = runner.invoke(
        app,
        ["people", "add", "--name", name, "--role", role, "--by", "test", "--json"],
        env=Settings.local(home).as_env(),
    )
    assert added.exit_code == 0, added.output
    return str(json.loads(added.stdout)["token"])


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

    # the typed-names waiver is gone
    typed = _docket(
        "promote", spec, "--version", "1", "--waiver", "x" * 30, "--approved-by", "bob", home=home
    )
    assert typed.returncode == 2 and "No such option: --approved-by" in typed.stderr

    # a waiver is asked for with the requester's own token: nothing is promoted yet
    ann = _person(home, "Ann Lee", "senior_reviewer")
    bob = _person(home, "Bob Ng", "admin")
    justification = "Pilot accepted by the business for two weeks."
    asked = _docket(
        "promote",
        spec,
        "--version",
        "1",
        "--waiver",
        justification,
        "--token",
        ann,
        "--json",
        home=home,
    )
    assert asked.returncode == 0, asked.stderr
    request_id = json.loads(asked.stdout)["request_id"]
    assert json.loads(asked.stdout)["status"] == "pending"

    # the requester cannot approve it; another person can
    same = _docket("promote", "--approve", request_id, "--token", ann, home=home)
    assert same.returncode == 1 and "the approver must be another person" in same.stderr
    waived = _docket("promote", "--approve", request_id, "--token", bob, "--json", home=home)
    assert waived.returncode == 0, waived.stderr
    promoted = json.loads(waived.stdout)
    assert (promoted["requested_by"], promoted["approved_by"]) == ("Ann Lee", "Bob Ng")
    read = json.loads(
        _docket(
            "history", "synthetic-eligibility", "--json", home=home, spec_dir=Path(spec).parent
        ).stdout
    )
    # the history is the ledger's: the waiver request is in it, and MLflow's copy agrees
    history = read["events"]
    assert [e["action"] for e in history] == [
        "refused",
        "waiver_requested",
        "waiver_approval_refused",
        "promote",
    ]
    assert (history[2]["requested_by"], history[2]["approved_by"]) == ("Ann Lee", "Ann Lee")
    assert (history[3]["requested_by"], history[3]["approved_by"]) == ("Ann Lee", "Bob Ng")
    assert read["mismatches"] == []
    verified = _docket("log", "verify", "--json", home=home)
    assert verified.returncode == 0 and json.loads(verified.stdout)["ok"]
    card = _docket("card", spec, "--format", "md", home=home)
    assert card.returncode == 0 and "Bob Ng" in card.stdout and "Pilot accepted" in card.stdout
