"""Execute every notebook in notebooks/ and write an HTML copy of each, outputs included.

    python tools/run_notebooks.py [OUT_DIR]      # make notebooks; default .docket/notebooks

Starts what they need, as the tests do (tests/notebooks/harness.py): an empty state
folder for 01_data_scientist; for the others one registry serving the synthetic use
case and one `docket serve` on a free loopback port, shared by them in order, then
stopped. The state is made afresh under OUT_DIR/state on every run. Prints each
notebook's execution time; a cell that raises stops the run with exit status 1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import types
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# the repository's tests/ folder has no __init__.py, and an installed package named
# "tests" would otherwise win the import: name the folder explicitly
_tests = types.ModuleType("tests")
_tests.__path__ = [str(ROOT / "tests")]
sys.modules.setdefault("tests", _tests)

from nbclient.exceptions import CellExecutionError  # noqa: E402
from nbconvert import HTMLExporter  # noqa: E402

from tests.notebooks.harness import (  # noqa: E402
    NEEDS_SERVER,
    base_env,
    execute,
    notebook_paths,
    served_for_notebooks,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, default=ROOT / ".docket" / "notebooks")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    state = out / "state"
    shutil.rmtree(state, ignore_errors=True)
    state.mkdir(parents=True)
    exporter = HTMLExporter()
    times: dict[str, float] = {}

    def run(path: Path, env: Mapping[str, str]) -> None:
        workdir = state / path.stem
        workdir.mkdir(parents=True, exist_ok=True)
        nb, seconds = execute(path, env, workdir)
        html, _ = exporter.from_notebook_node(nb)
        target = out / f"{path.stem}.html"
        target.write_text(html, encoding="utf-8")
        times[path.stem] = round(seconds, 1)
        print(f"{path.stem}: executed in {seconds:.1f} s -> {target}", flush=True)

    paths = notebook_paths()
    try:
        for path in paths:
            if path.stem not in NEEDS_SERVER:
                run(path, base_env(state / path.stem / "home"))
        served = [p for p in paths if p.stem in NEEDS_SERVER]
        if served:
            with served_for_notebooks(state / "served") as settings:
                env = {**base_env(state / "served" / "registry"), **settings}
                for path in served:
                    run(path, env)
    except CellExecutionError as error:
        print(f"a cell failed:\n{error}", file=sys.stderr)
        return 1
    print(json.dumps(times))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
