"""`docket demo`: the main job reports every gate outcome honestly and promotes only on PASS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from models.settings import Settings

pytestmark = pytest.mark.slow  # trains both shipped use cases on their real data


def test_demo_pipeline(tmp_path: Path) -> None:
    env = {**os.environ, **Settings.local(tmp_path / "home").as_env()}
    exe = str(Path(sys.executable).with_name("docket"))
    out = subprocess.run(
        [exe, "demo", "--no-serve", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    results = json.loads(out.stdout)
    by_case: dict[str, list[dict]] = {}
    for r in results:
        by_case.setdefault(r["use_case"], []).append(r)
    assert set(by_case) == {"credit-eligibility", "retention-propensity", "synthetic-eligibility"}
    uri = Settings.local(tmp_path / "home").tracking_uri
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    for name, runs in by_case.items():
        for r in runs:
            assert r["metrics"]["roc_auc"] > 0.5
            promoted = r["promotion"].startswith("promoted")
            # promotion happens exactly when the audit passed
            assert promoted == (r["audit"]["outcome"] == "PASS"), r
            tags = client.get_model_version(name, r["version"]).tags
            assert tags["audit.status"] == r["audit"]["outcome"]
    plain, mitigated = by_case["synthetic-eligibility"]
    assert (
        plain["audit"]["outcome"] == "FAIL" and "impact_ratio[group=B]" in plain["audit"]["failing"]
    )
    assert mitigated["mitigation"] == "reweighing" and mitigated["audit"]["outcome"] == "PASS"
    champion = client.get_model_version_by_alias("synthetic-eligibility", "champion")
    assert str(champion.version) == mitigated["version"]
