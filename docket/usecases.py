"""Find a use case's decision spec by name or path."""

from __future__ import annotations

import os
from pathlib import Path

from models.settings import Settings
from models.spec import DecisionSpec, SpecError, load_spec

SHIPPED_DIR = Path(__file__).resolve().parent / "specs"


class UnknownUseCase(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        self.name = name
        self.known = known
        super().__init__(
            f"unknown use case {name!r}; known use cases: {', '.join(known) or '(none)'}"
            " (or pass the path of a spec .toml file)"
        )


def spec_dirs() -> list[Path]:
    """Shipped specs, then ``$DOCKET_HOME/specs``, then folders in ``DOCKET_SPEC_DIRS``."""
    extra = [Path(p) for p in os.environ.get("DOCKET_SPEC_DIRS", "").split(os.pathsep) if p]
    return [SHIPPED_DIR, Settings.from_env().home / "specs", *extra]


def known_specs() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for folder in spec_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return found


def resolve_spec(name_or_path: str) -> DecisionSpec:
    """A use-case name (``credit-eligibility``) or a path to a spec file."""
    looks_like_path = name_or_path.endswith(".toml") or os.sep in name_or_path
    if looks_like_path:
        path = Path(name_or_path)
        if not path.is_file():
            raise SpecError(name_or_path, [f"file not found: {name_or_path!r}"])
        return load_spec(path)
    known = known_specs()
    if name_or_path not in known:
        raise UnknownUseCase(name_or_path, sorted(known))
    return load_spec(known[name_or_path])
