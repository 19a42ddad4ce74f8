"""The shape of ``audits/``: no import cycles, and renderers never reach the orchestration.

The import graph is read from the source with ``ast`` (module-level and function-level
imports alike), so an import hidden inside a function to dodge a cycle still counts.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

PACKAGE = "audits"
# Modules that draw documents from report data: they must not depend on the code that
# runs audits, promotes models or reads the registry.
RENDERERS = (
    "audits.cards.render",
    "audits.display",
    "audits.plots",
    "audits.rendering",
    "audits.report_html",
)
ORCHESTRATION = ("audits.audit", "audits.card_source", "audits.promotion")


def _package_root() -> Path:
    spec = importlib.util.find_spec(PACKAGE)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def _modules(root: Path) -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imported(module: str, path: Path, known: Iterable[str]) -> set[str]:
    """The ``audits.*`` modules that ``module`` imports anywhere in its source."""
    known = set(known)
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {name for name in found if name in known and name != module}


def import_graph() -> dict[str, set[str]]:
    modules = _modules(_package_root())
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for child in sorted(graph.get(node, ())):
            if state.get(child) == 1:
                return [*path[path.index(child) :], child]
            if child not in state and (cycle := visit(child)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def reachable(graph: Mapping[str, Iterable[str]], start: str) -> set[str]:
    seen: set[str] = set()
    stack = [start]
    while stack:
        for child in graph.get(stack.pop(), ()):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_graph_holds_the_modules_and_their_imports(graph: dict[str, set[str]]) -> None:
    # given: modules and imports that exist today
    expected = {*RENDERERS, *ORCHESTRATION, "audits.report", "audits.cards", "audits.cards.facts"}
    # then
    assert expected <= set(graph)
    assert "audits.report" in graph["audits.fairness"]
    assert {"audits.cards.facts", "audits.cards.render", "audits.cards.schema"} <= graph[
        "audits.cards"
    ]


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    # given: b imports a inside a function, a imports b at module level
    (tmp_path / "a.py").write_text("import pkg.b\n")
    (tmp_path / "b.py").write_text("def f():\n    from pkg import a\n    return a\n")
    known = {"pkg.a", "pkg.b"}
    graph = {name: _imported(name, tmp_path / f"{name[4:]}.py", known) for name in known}
    # then
    assert graph == {"pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}}
    assert find_cycle(graph) == ["pkg.a", "pkg.b", "pkg.a"]
    assert find_cycle({"x": {"y"}, "y": set()}) is None


def test_audits_has_no_import_cycle(graph: dict[str, set[str]]) -> None:
    assert find_cycle(graph) is None


@pytest.mark.parametrize("renderer", RENDERERS)
def test_renderers_do_not_reach_the_orchestration(
    graph: dict[str, set[str]], renderer: str
) -> None:
    # when
    reached = reachable(graph, renderer)
    # then
    assert not reached & set(ORCHESTRATION), sorted(reached)


@pytest.mark.parametrize("renderer", RENDERERS)
def test_renderers_do_not_touch_the_registry(renderer: str) -> None:
    # given
    path = _modules(_package_root())[renderer]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # when
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    # then
    assert not {n for n in names if n.split(".")[0] == "mlflow" or n == "models.registry"}
