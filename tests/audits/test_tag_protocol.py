"""Every MLflow tag key Docket writes or reads is spelled once, in ``models/tags.py``.

Any other string literal in ``audits/``, ``training/`` or ``models/`` that starts like a
tag key (``audit.``, ``waiver.``, ``docket.``) is a second spelling that can drift.
Docstrings are prose and may name keys.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

from models import tags

PACKAGES = ("audits", "training", "models")
PREFIXES = ("audit.", "waiver.", "docket.")


def _package_root(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations)))


def tag_literals(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every non-docstring string literal that looks like a tag key."""
    tree = ast.parse(source)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and node.value.startswith(PREFIXES)
    ]


def test_the_finder_sees_literals_and_f_strings_but_not_docstrings() -> None:
    # given
    source = '''"""Writes docket.seed."""
def f(run):
    """Reads audit.status."""
    run.tags.get("audit.status")
    return f"docket.history.{run.id}"
'''
    # when / then
    assert tag_literals(source) == [(4, "audit.status"), (5, "docket.history.")]


def test_tags_module_holds_every_documented_prefix() -> None:
    keys = [getattr(tags, name) for name in tags.__all__]
    assert len(keys) == len(set(keys))
    assert {key.split(".")[0] + "." for key in keys} == set(PREFIXES)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_tag_key_is_spelled_outside_models_tags(package: str) -> None:
    # given
    root = _package_root(package)
    tags_file = Path(tags.__file__).resolve()
    # when
    found = [
        f"{path.relative_to(root.parent)}:{line}: {text!r}"
        for path in sorted(root.rglob("*.py"))
        if path.resolve() != tags_file
        for line, text in tag_literals(path.read_text(encoding="utf-8"))
    ]
    # then
    assert found == []
