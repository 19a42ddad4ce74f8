"""`docket audit` says what decision it judged and what the policy does to each group."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from models.settings import Settings


def _docket(*args: str, home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("docket")
    env = {**os.environ, **Settings.local(home).as_env()}
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def test_audit_prints_the_basis_and_the_outcome_mix_by_group(tmp_path: Path) -> None:
    home = tmp_path / "home"
    spec = _docket(
        "synth", str(tmp_path / "s"), "--rows", "1500", "--seed", "3", home=home
    ).stdout.strip()
    assert _docket("train", spec, home=home).returncode == 0
    as_json = _docket("audit", spec, "--version", "1", "--json", home=home)
    report = json.loads(as_json.stdout)
    text = _docket("audit", spec, "--version", "1", home=home).stdout

    policy = report["policy"]
    assert report["basis"] == "policy"
    assert (
        f"fairness judged on: automated approval under policy version {policy['version']}:"
        f" score >= approve_at {policy['approve_at']:g} and no referral rule fired" in text
    )
    overall = report["outcomes"]["overall"]
    n = overall["n"]
    assert n == report["n_test"]
    assert overall["approved"] + overall["referred"] + overall["declined"] == n
    # rates printed are the counts over n, computed here from the counts
    assert f"approved {overall['approved'] / n:.3f} [" in text
    assert f"referred {overall['referred'] / n:.3f} [" in text
    for g in report["outcomes"]["attributes"][0]["groups"]:
        line = next(x for x in text.splitlines() if f"group={g['group']} (n={g['n']})" in x)
        assert f"approved {g['approved'] / g['n']:.3f}" in line
        assert f"adverse {g['adverse'] / g['n']:.3f}" in line
    # the gate's selection is the automated approval: selection rate = approved / n
    assert report["selection_rate"] == overall["approved"] / n
