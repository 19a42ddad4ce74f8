"""Keep notebooks stored without outputs: strip them, or (``--check``) fail naming each one.

    python tools/strip_notebooks.py --check notebooks/   # exit 1, naming file and cell
    python tools/strip_notebooks.py notebooks/           # strip in place

A notebook is clean when no code cell has outputs or an execution count. Paths may
be ``.ipynb`` files or folders (searched recursively). Only the standard library is
used, so the check runs before anything is installed; stripping rewrites the JSON
with the layout Jupyter writes (one-space indent, keys sorted, trailing newline).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def notebooks(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
            )
        elif path.suffix == ".ipynb":
            yield path
        else:
            raise SystemExit(f"error: {path}: not a .ipynb file or a folder")


def problems(nb: dict[str, Any]) -> list[str]:
    """What is stored that should not be, one line per cell."""
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        what = []
        if cell.get("outputs"):
            what.append(f"{len(cell['outputs'])} output(s)")
        if cell.get("execution_count") is not None:
            what.append(f"execution count {cell['execution_count']}")
        if what:
            name = f"cell {index}" + (f" (id {cell['id']})" if "id" in cell else "")
            found.append(f"{name}: {', '.join(what)}")
    return found


def strip(nb: dict[str, Any]) -> None:
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, help=".ipynb files or folders")
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if any has outputs"
    )
    args = parser.parse_args(argv)
    dirty = 0
    for path in notebooks(args.paths):
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            print(f"{path}: cannot be read as a notebook: {error}", file=sys.stderr)
            return 2
        found = problems(nb)
        if not found:
            continue
        dirty += 1
        if args.check:
            for line in found:
                print(f"{path}: {line}", file=sys.stderr)
        else:
            strip(nb)
            path.write_text(
                json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                encoding="utf-8",
            )
            print(f"stripped {path} ({len(found)} cell(s))")
    if args.check and dirty:
        print(
            f"{dirty} notebook(s) stored with outputs: run python tools/strip_notebooks.py on them",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
