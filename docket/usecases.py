"""Find a use case's decision spec by name or path.

A name is looked up in the spec folders (shipped, ``$DOCKET_HOME/specs``, then
``DOCKET_SPEC_DIRS``) by the ``name`` written inside each file, then in the
registry: training from a file records the file's path on the registered model
(``docket.spec_path``), so a use case trained by path is known by its name after.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from models.settings import Settings
from models.spec import DecisionSpec, SpecError, load_spec

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

SHIPPED_DIR = Path(__file__).resolve().parent / "specs"
ADD_A_FOLDER = (
    "pass the path of the spec .toml file instead of a name, or add its folder:"
    f" DOCKET_SPEC_DIRS=/path/to/specs (several folders separated by {os.pathsep!r})"
)


class UnknownUseCase(LookupError):
    """No spec for a name: not in the spec folders, and not found through the registry."""

    def __init__(self, name: str, known: list[str], message: str | None = None) -> None:
        self.name = name
        self.known = known
        super().__init__(
            message
            or (
                f"unknown use case {name!r}; known use cases: {', '.join(known) or '(none)'};"
                f" {ADD_A_FOLDER}"
            )
        )


class SpecMoved(UnknownUseCase):
    """A registered use case whose recorded spec file is gone or now names another use case."""


class NotTrained(UnknownUseCase):
    """A use case with a spec but no registered model yet (so nothing to audit, show or promote)."""


@dataclass(frozen=True)
class UseCase:
    """Where a use case's spec is known from."""

    name: str
    path: Path | None
    origin: str  # "shipped", "DOCKET_HOME/specs", "DOCKET_SPEC_DIRS" or "registry"

    def to_dict(self) -> dict[str, str | bool | None]:
        return {
            "name": self.name,
            "path": None if self.path is None else str(self.path),
            "origin": self.origin,
            "exists": self.path is not None and self.path.is_file(),
        }


def spec_dirs() -> list[Path]:
    """Shipped specs, then ``$DOCKET_HOME/specs``, then folders in ``DOCKET_SPEC_DIRS``."""
    return [folder for folder, _ in _dirs_with_origin()]


def _dirs_with_origin() -> list[tuple[Path, str]]:
    extra = [Path(p) for p in os.environ.get("DOCKET_SPEC_DIRS", "").split(os.pathsep) if p]
    return [
        (SHIPPED_DIR, "shipped"),
        (Settings.from_env().home / "specs", "DOCKET_HOME/specs"),
        *((p, "DOCKET_SPEC_DIRS") for p in extra),
    ]


@lru_cache(maxsize=1024)
def _name_inside(path: Path, mtime_ns: int, size: int) -> str:
    """The ``name`` a spec file declares (its stem if it declares none or is not TOML).

    Keyed by modification time and size, so each file is parsed once until it changes.
    """
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return path.stem  # loading it by this name reports what is wrong with it
    name = raw.get("name")
    return name if isinstance(name, str) and name else path.stem


def folder_specs() -> dict[str, UseCase]:
    """Spec files in the spec folders, by the name inside each; the first folder wins."""
    found: dict[str, UseCase] = {}
    for folder, origin in _dirs_with_origin():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            stat = path.stat()
            name = _name_inside(path.resolve(), stat.st_mtime_ns, stat.st_size)
            found.setdefault(name, UseCase(name, path, origin))
    return found


def registered_use_cases(settings: Settings | None = None) -> dict[str, UseCase]:
    """Registered use cases and the spec file each was last trained from (None: not recorded)."""
    from models import registry

    recorded = registry.registered_spec_paths(settings or Settings.from_env())
    return {
        name: UseCase(name, None if path is None else Path(path), "registry")
        for name, path in recorded.items()
    }


def use_cases() -> dict[str, UseCase]:
    """Every known use case: spec folders first, then those known only from the registry."""
    found = folder_specs()
    for name, entry in registered_use_cases().items():
        found.setdefault(name, entry)
    return dict(sorted(found.items()))


def known_specs() -> dict[str, Path]:
    """Name -> spec file, for every use case whose spec file is known (folders, registry)."""
    return {name: u.path for name, u in use_cases().items() if u.path is not None}


def looks_like_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".toml") or os.sep in name_or_path or "/" in name_or_path


def resolve_spec(name_or_path: str) -> DecisionSpec:
    """A use-case name (``credit-eligibility``) or a path to a spec file."""
    if looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise SpecError(name_or_path, [f"file not found: {name_or_path!r}"])
        return load_spec(path)
    in_folders = folder_specs()
    folder_path = in_folders[name_or_path].path if name_or_path in in_folders else None
    if folder_path is not None:
        return load_spec(folder_path)
    registered = registered_use_cases()
    entry = registered.get(name_or_path)
    if entry is None:
        known = sorted({*in_folders, *registered})
        raise UnknownUseCase(name_or_path, known)
    return _load_recorded(entry)


def _load_recorded(entry: UseCase) -> DecisionSpec:
    name = entry.name
    if entry.path is None:
        raise SpecMoved(
            name,
            [name],
            f"use case {name!r} is registered, but the spec file it was trained from is not"
            f" recorded (it was trained before Docket recorded spec paths); {ADD_A_FOLDER}",
        )
    if not entry.path.is_file():
        raise SpecMoved(
            name,
            [name],
            f"use case {name!r} was trained from {str(entry.path)!r}, which no longer exists"
            f" (moved or renamed?); {ADD_A_FOLDER}",
        )
    spec = load_spec(entry.path)
    if spec.name != name:
        raise SpecMoved(
            name,
            [name],
            f"use case {name!r} was trained from {str(entry.path)!r}, but that file now names"
            f" use case {spec.name!r}; {ADD_A_FOLDER}",
        )
    return spec


def use_case_name(name_or_path: str) -> str:
    """The use case's name: the name inside the spec file for a path, else the name given."""
    if looks_like_path(name_or_path):
        return resolve_spec(name_or_path).name
    return name_or_path


def require_registered(client: MlflowClient, given: str, name: str | None = None) -> str:
    """The registered name of ``given`` (a name or a path); a clear error if it is not trained.

    A use case with a spec but no registered model gets the exact ``docket train``
    command; a name known nowhere gets the known names and how to add a spec folder.
    """
    from models import registry

    name = name or use_case_name(given)
    if registry.is_registered(client, name):
        return name
    if not looks_like_path(given) and name not in folder_specs():
        known = sorted({*folder_specs(), *registry.registered_names(client)})
        raise UnknownUseCase(name, known)
    raise NotTrained(
        name,
        sorted(registry.registered_names(client)),
        f"use case {name!r} has a spec but no registered model yet;"
        f" train it first: docket train {given}",
    )
