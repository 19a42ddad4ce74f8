"""Imports flow one way (architecture.md, "Layers and folders"), with no cycles.

Every module of the packages is parsed with ``ast`` (module-level and
function-level imports alike), so a cycle cannot hide behind a local import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("models", "training", "audits", "serving", "docket")

#: what each top-level package may import of the others
MAY_IMPORT = {
    "models": set(),
    "training": {"models", "audits"},
    "audits": {"models"},
    "serving": {"models", "audits"},
    "docket": {"models", "training", "audits", "serving"},
}
#: inside serving, a subpackage imports only itself and those below it
SERVING_RANK = {
    "ledger": 0,
    "access": 1,
    "decisions": 2,
    "review": 3,
    "console": 4,
    "batch": 4,
    "monitoring": 4,
    "http": 5,
    "tables": 5,
}
#: the only code that imports the web frameworks
WEB = {"bentoml", "fastapi", "starlette"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {
        _module_name(p): p
        for package in PACKAGES
        for p in (ROOT / package).rglob("*.py")
        if "migrations" not in p.parts
    }
    return {name: {i for i in _imports(path) if i in modules} for name, path in modules.items()}


GRAPH = _graph()


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_flow_one_way(module: str) -> None:
    top = module.split(".")[0]
    path = ROOT / Path(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    for imported in sorted(_imports(path)):
        target = imported.split(".")[0]
        if target in PACKAGES and target != top:
            assert target in MAY_IMPORT[top], f"{module} imports {imported}"
        if target in WEB:
            assert module.startswith("serving.http"), f"{module} imports {imported}"
        if top == target == "serving" and module.count(".") >= 1 and imported.count(".") >= 1:
            mine, theirs = module.split(".")[1], imported.split(".")[1]
            if mine in SERVING_RANK and theirs in SERVING_RANK:
                assert SERVING_RANK[theirs] <= SERVING_RANK[mine] or mine == theirs, (
                    f"{module} (serving.{mine}) imports {imported} (serving.{theirs}), a layer above"
                )


def test_no_import_cycles() -> None:
    # given: the graph of module imports; when: depth-first search for a back edge
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(GRAPH.get(node, ())):
            if nxt == node or nxt.startswith(node + "."):
                continue  # a package re-exporting its own modules
            if state.get(nxt) == 1:
                cycle = [*stack[stack.index(nxt) :], nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module)


def test_importing_every_module_does_no_work(tmp_path: Path) -> None:
    # given: an empty working folder and Docket home
    home = tmp_path / "home"
    code = (
        "import importlib, os\n"
        f"for name in {sorted(GRAPH)!r}:\n"
        "    importlib.import_module(name)\n"
        "print(os.environ.get('MLFLOW_TRACKING_URI', ''))\n"
    )
    env = {**os.environ, "DOCKET_HOME": str(home), "BENTOML_HOME": str(tmp_path / "bentoml")}
    env.pop("MLFLOW_TRACKING_URI", None)

    # when
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )

    # then: nothing created, no tracking URI set
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == ""
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bentoml"] or not any(
        p.name != "bentoml" for p in tmp_path.iterdir()
    )
