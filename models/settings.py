"""Where Docket keeps its state, read from the environment when asked (never at import)."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Settings(BaseModel):
    """Resolved state locations: ``DOCKET_HOME`` (default ``./.docket``) and service URLs."""

    model_config = ConfigDict(frozen=True)

    home: Path
    tracking_uri: str
    artifact_root: Path
    database_url: str

    @classmethod
    def from_env(cls, home: str | Path | None = None) -> Settings:
        root = Path(home or os.environ.get("DOCKET_HOME") or ".docket").resolve()
        tracking = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{root / 'mlflow.db'}"
        database = os.environ.get("DOCKET_DATABASE_URL") or f"sqlite:///{root / 'decisions.db'}"
        return cls(
            home=root,
            tracking_uri=tracking,
            artifact_root=root / "artifacts",
            database_url=database,
        )

    @classmethod
    def local(cls, home: str | Path) -> Settings:
        """The embedded defaults under ``home``, ignoring the environment."""
        root = Path(home).resolve()
        return cls(
            home=root,
            tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
            artifact_root=root / "artifacts",
            database_url=f"sqlite:///{root / 'decisions.db'}",
        )

    def as_env(self) -> dict[str, str]:
        """Environment variables that give a child process these same settings.

        MLflow's ``set_tracking_uri``/``set_registry_uri`` write ``MLFLOW_*`` variables
        into this process's environment, so children must get them set explicitly.
        """
        return {
            "DOCKET_HOME": str(self.home),
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_REGISTRY_URI": self.tracking_uri,
            "DOCKET_DATABASE_URL": self.database_url,
        }

    def ensure(self) -> Settings:
        """Create the state folder (called by commands, not at import)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.artifact_root.mkdir(parents=True, exist_ok=True)
        return self


def positive_from_env(name: str, default: float, unit: str) -> float:
    """A finite number above 0 from environment variable ``name`` (unset or blank: ``default``).

    A bad value is a ``ValueError`` naming the variable, the unit and what it held.
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a number of {unit} above 0; got {raw!r} instead")
    return value
