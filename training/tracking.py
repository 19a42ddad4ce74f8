"""MLflow tracking and registration for Docket runs.

One experiment per use case (``docket/<use-case>``), one registered model per
use case (named after it), aliases ``candidate`` (newest trained) and
``champion`` (serving). Test rows are logged as an artifact so audits can
recover the exact held-out split.
"""

from __future__ import annotations

import subprocess
import tempfile
from importlib import metadata
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from models.registry import CANDIDATE
from models.settings import Settings

_LIBRARIES = (
    "scikit-learn",
    "lightgbm",
    "numpy",
    "pandas",
    "mlflow",
    "shap",
    "fairlearn",
    "docket",
)


def experiment_id(client: MlflowClient, settings: Settings, use_case: str) -> str:
    name = f"docket/{use_case}"
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return str(exp.experiment_id)
    location = (settings.artifact_root / use_case).resolve().as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def library_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for lib in _LIBRARIES:
        try:
            versions[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            versions[lib] = "not installed"
    return versions


#: what loading a registered model needs besides Docket itself (which defines its classes)
_MODEL_REQUIREMENTS = ("scikit-learn", "lightgbm", "numpy", "pandas", "scipy", "skops")


def model_requirements() -> list[str]:
    """Pinned requirements of a logged model, from the installed versions.

    Stated explicitly because MLflow would otherwise infer them by loading the
    model in a subprocess on every registration (about 5 s each on this machine).
    """
    found = []
    for dist in _MODEL_REQUIREMENTS:
        try:
            found.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return found


def log_frame(frame: pd.DataFrame, artifact_path: str) -> None:
    """Log a table as a Parquet artifact of the active run."""
    folder, _, filename = artifact_path.rpartition("/")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / filename
        frame.to_parquet(path, index=False)
        mlflow.log_artifact(str(path), artifact_path=folder or None)


def trusted_types(model: object) -> list[str]:
    """Types skops must trust to save and load a Docket model: Docket's own and their parts."""
    from skops.io import dumps, get_untrusted_types

    return sorted(get_untrusted_types(data=dumps(model)))


def register(client: MlflowClient, model_uri: str, name: str, tags: dict[str, str]) -> str:
    """Register a logged model as a new version of ``name`` and point ``candidate`` at it."""
    mv = mlflow.register_model(model_uri, name, tags=tags)
    client.set_registered_model_alias(name, CANDIDATE, mv.version)
    return str(mv.version)
