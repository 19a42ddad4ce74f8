"""API key changes made with the CLI are ledger entries naming who made them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings
from serving.ledger import DecisionLog

runner = CliRunner()


def test_key_creation_and_revocation_are_ledger_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings.local(tmp_path / "home").ensure()
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    made = runner.invoke(
        app,
        ["keys", "create", "--role", "auditor", "--name", "audit desk", "--by", "Ola", "--json"],
    )
    assert made.exit_code == 0, made.output
    created = json.loads(made.stdout)
    revoked = runner.invoke(app, ["keys", "revoke", created["key_id"], "--by", "Ola"])
    assert revoked.exit_code == 0, revoked.output
    log = DecisionLog(settings.database_url)
    admin = [e.digest for e in log.iter_entries() if e.kind == "admin"]
    assert [(d["action"], d["key_id"], d["by"]) for d in admin] == [
        ("key_created", created["key_id"], "Ola"),
        ("key_revoked", created["key_id"], "Ola"),
    ]
    assert created["key"] not in json.dumps(admin)  # never the secret
    assert log.verify().ok
