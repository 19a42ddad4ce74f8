"""`docket alternatives` through the CLI: the table, the JSON record, exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from docket.cli import app
from training.synthetic import write_synthetic

runner = CliRunner()


def test_search_then_refusals(docket_home: Path, tmp_path: Path) -> None:
    # given
    spec = str(write_synthetic(tmp_path / "s", rows=600, seed=5))
    plot = tmp_path / "frontier.png"
    # when: a two-candidate search
    found = runner.invoke(
        app, ["alternatives", spec, "--max-candidates", "2", "--plot", str(plot), "--json"]
    )
    # then: the record and the figure, nothing registered
    assert found.exit_code == 0, found.output
    out = json.loads(found.stdout)
    assert [c["number"] for c in out["search"]["candidates"]] == [1, 2]
    assert out["search"]["stopped_by"] == "max_candidates"
    assert plot.read_bytes().startswith(b"\x89PNG")
    human = runner.invoke(app, ["alternatives", spec, "--max-candidates", "1"])
    assert human.exit_code == 0, human.output
    assert "spec's own model" in human.stdout and "search id:" in human.stdout
    assert "nothing was registered" in human.stdout
    # bad inputs exit with status 2 and say what was wrong
    bad = runner.invoke(app, ["alternatives", spec, "--register", "7"])
    assert bad.exit_code == 2
    assert "one of [1]; got 7" in bad.output  # the latest search had one candidate
    stray = runner.invoke(app, ["alternatives", spec, "--why", "because"])
    assert stray.exit_code == 2
    assert "only used with --register" in stray.output
    wrong = runner.invoke(app, ["alternatives", spec, "--register", "1", "--search", "nope"])
    assert wrong.exit_code == 2
    assert "got 'nope'" in wrong.output


def test_register_without_a_search_is_a_clear_error(docket_home: Path, tmp_path: Path) -> None:
    spec = str(write_synthetic(tmp_path / "s", rows=600, seed=5))
    result = runner.invoke(app, ["alternatives", spec, "--register", "1"])
    assert result.exit_code == 2
    assert "has no finished search" in result.output
