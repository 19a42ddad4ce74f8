"""The walkthroughs in notebooks/ run top to bottom (as scripts, in a fresh DOCKET_HOME)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_walkthrough_runs(notebook: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DOCKET_"))}
    env.update({"DOCKET_HOME": str(tmp_path / "home"), "MPLBACKEND": "Agg"})
    out = subprocess.run(
        [sys.executable, str(notebook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]
