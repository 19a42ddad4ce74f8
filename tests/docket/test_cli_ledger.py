"""`docket ledger`: keygen, public-key, checkpoint and verify --checkpoints (and the `log` alias)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings
from serving.ledger import DecisionLog
from serving.ledger.signing import Signer
from tests.serving.ledger.test_attacks import rewrite_digest, truncate_end

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKET_LEDGER_KEY", "DOCKET_LEDGER_KEY_FILE", "DOCKET_WITNESS"):
        monkeypatch.delenv(name, raising=False)


def _append(n: int) -> DecisionLog:
    log = DecisionLog(Settings.from_env().ensure().database_url)
    log.migrate()
    for i in range(n):
        log.append("decision", "credit-eligibility", {"i": i})
    return log


def test_keygen_then_public_key(docket_home: Path) -> None:
    made = runner.invoke(app, ["ledger", "keygen"])
    again = runner.invoke(app, ["ledger", "keygen"])
    shown = runner.invoke(app, ["ledger", "public-key", "--json"])

    assert made.exit_code == 0, made.output
    key = docket_home / "ledger-signing.key"
    assert key.exists()
    assert again.exit_code == 2 and "refusing to overwrite" in again.output
    assert json.loads(shown.stdout)["public_key_pem"] == Path(f"{key}.pub").read_text()


def test_checkpoint_without_a_key_says_how_to_make_one(docket_home: Path) -> None:
    out = runner.invoke(app, ["ledger", "checkpoint"])

    assert out.exit_code == 2 and "docket ledger keygen" in out.output


def test_checkpoint_then_verify_then_a_forgery_is_caught(docket_home: Path) -> None:
    assert runner.invoke(app, ["ledger", "keygen"]).exit_code == 0
    log = _append(4)
    first = runner.invoke(app, ["ledger", "checkpoint", "--json"])
    _append(3)
    assert runner.invoke(app, ["ledger", "checkpoint"]).exit_code == 0
    folder = str(docket_home / "checkpoints")

    verified = runner.invoke(app, ["ledger", "verify", "--checkpoints", folder])
    rewrite_digest(log.engine, 3)
    chain_only = runner.invoke(app, ["ledger", "verify", "--json"])
    caught = runner.invoke(app, ["ledger", "verify", "--checkpoints", folder, "--json"])

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["checkpoint"]["tree_size"] == 4
    assert verified.exit_code == 0, verified.output
    assert verified.stdout.startswith("ok: 7 entries verified")
    assert "2 signed checkpoint(s) up to tree size 7" in verified.stdout
    assert chain_only.exit_code == 0  # the forger recomputed the chain
    assert caught.exit_code == 1
    result = json.loads(caught.stdout)
    assert (result["ok"], result["first_broken_seq"]) == (False, 3)
    assert result["chain"]["ok"] is True
    assert result["checkpoints"]["problem"] == "root_mismatch"


def test_the_log_alias_still_verifies_and_names_a_truncation(docket_home: Path) -> None:
    assert runner.invoke(app, ["ledger", "keygen"]).exit_code == 0
    log = _append(5)
    assert runner.invoke(app, ["ledger", "checkpoint"]).exit_code == 0
    truncate_end(log.engine, 4)

    out = runner.invoke(app, ["log", "verify", "--checkpoints", str(docket_home / "checkpoints")])

    assert out.exit_code == 1
    assert out.stdout.startswith("BROKEN at seq 4")
    assert "truncated" in out.stdout


def test_verify_with_a_published_key_of_another_log_fails(
    docket_home: Path, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["ledger", "keygen"]).exit_code == 0
    _append(2)
    assert runner.invoke(app, ["ledger", "checkpoint"]).exit_code == 0
    other = tmp_path / "other.pub"
    other.write_text(Signer.from_raw(bytes(32)).public_key_pem())

    out = runner.invoke(
        app,
        [
            "ledger",
            "verify",
            "--checkpoints",
            str(docket_home / "checkpoints"),
            "--public-key",
            str(other),
        ],
    )

    assert out.exit_code == 1 and "bad_signature" in out.stdout


def test_an_unreachable_witness_is_reported_and_the_folder_still_written(
    docket_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = docket_home / "witness"
    monkeypatch.setenv("DOCKET_WITNESS", f"{folder},http://127.0.0.1:9/none")
    assert runner.invoke(app, ["ledger", "keygen"]).exit_code == 0
    _append(1)

    out = runner.invoke(app, ["ledger", "checkpoint"])

    assert out.exit_code == 1
    assert "http://127.0.0.1:9/none: FAILED" in out.stdout
    assert len(list(folder.glob("checkpoint-*.json"))) == 1


def test_log_is_a_hidden_alias() -> None:
    shown = runner.invoke(app, ["--help"])

    assert "ledger" in shown.stdout
    assert "│ log " not in shown.stdout
