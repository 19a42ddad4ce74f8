"""The notebooks in notebooks/ run top to bottom in a kernel of the project's venv.

Each test executes one notebook with nbclient (tests/notebooks/harness.py): a cell
that raises fails the test, and the notebooks assert their own key results. The
data scientist's notebook gets an empty state folder; the others get their own
running `docket serve` (its own state folder and loopback port), so the tests are
independent of each other and of the order they run in.

The stripping check (tools/strip_notebooks.py) is tested on notebooks written
here: the shipped ones must be clean, one with an output or an execution count is
refused naming the file and the cell, and stripping makes it clean.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient.exceptions import CellExecutionError
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from tests.notebooks.harness import (
    NEEDS_SERVER,
    NOTEBOOKS,
    ROOT,
    base_env,
    execute,
    notebook_paths,
    served_for_notebooks,
)

STRIP = ROOT / "tools" / "strip_notebooks.py"
EXPECTED = ["01_data_scientist", "02_application", "03_reviewer", "04_auditor"]


def test_the_four_notebooks_are_there() -> None:
    assert [p.stem for p in notebook_paths()] == EXPECTED


def test_the_data_scientist_notebook_runs(tmp_path: Path) -> None:
    # the notebook asserts its own results (a cell that raises raises here)
    execute(NOTEBOOKS / "01_data_scientist.ipynb", base_env(tmp_path / "home"), tmp_path)


@pytest.mark.e2e
@pytest.mark.parametrize("name", NEEDS_SERVER)
def test_a_notebook_against_a_running_service_runs(name: str, tmp_path: Path) -> None:
    with served_for_notebooks(tmp_path / "served") as settings:
        env = {**base_env(tmp_path / "served" / "registry"), **settings}
        execute(NOTEBOOKS / f"{name}.ipynb", env, tmp_path)


def _notebook(path: Path, *, output: bool = False, count: int | None = None) -> Path:
    cell = new_code_cell("print('hello')", execution_count=count)
    if output:
        cell.outputs = [new_output("stream", name="stdout", text="hello\n")]
    nb = new_notebook(cells=[new_markdown_cell("# a title"), cell])
    nbformat.write(nb, path)
    return path


def _strip(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(STRIP), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_shipped_notebooks_are_stored_without_outputs() -> None:
    done = _strip("--check", NOTEBOOKS)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(("output", "count"), [(True, None), (False, 3), (True, 3)])
def test_the_check_refuses_a_stored_output_naming_file_and_cell(
    tmp_path: Path, output: bool, count: int | None
) -> None:
    clean = _notebook(tmp_path / "clean.ipynb")
    dirty = _notebook(tmp_path / "dirty.ipynb", output=output, count=count)
    before = dirty.read_bytes()

    refused = _strip("--check", tmp_path)

    assert refused.returncode == 1
    [line] = [x for x in refused.stderr.splitlines() if x.startswith(str(dirty))]
    assert "cell 1" in line  # the code cell (cell 0 is the title)
    assert ("output" in line) == output and ("execution count 3" in line) == (count is not None)
    assert str(clean) not in refused.stderr
    assert dirty.read_bytes() == before  # --check changes nothing


def test_stripping_removes_outputs_and_counts_and_keeps_the_source(tmp_path: Path) -> None:
    dirty = _notebook(tmp_path / "dirty.ipynb", output=True, count=7)

    assert _strip(dirty).returncode == 0

    assert _strip("--check", dirty).returncode == 0
    stored = json.loads(dirty.read_text())
    [code] = [c for c in stored["cells"] if c["cell_type"] == "code"]
    source = "".join(code["source"])  # nbformat stores it as a list of lines
    assert (code["outputs"], code["execution_count"], source) == ([], None, "print('hello')")
    nbformat.validate(nbformat.reads(dirty.read_text(), as_version=4))


def test_a_cell_that_raises_fails_the_run(tmp_path: Path) -> None:
    path = tmp_path / "raises.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("assert 1 + 1 == 3, 'arithmetic'")]), path)
    with pytest.raises(CellExecutionError, match="arithmetic"):
        execute(path, base_env(tmp_path / "home"), tmp_path)
