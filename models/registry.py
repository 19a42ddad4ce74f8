"""Read access to the MLflow registry shared by training, audits and serving.

Registered model = use case; aliases ``candidate`` (newest trained) and
``champion`` (serving); Docket's facts live in version tags whose keys are all in
:mod:`models.tags`.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from models import tags
from models.settings import Settings
from models.spec import DecisionSpec, parse_spec

CANDIDATE = "candidate"
CHAMPION = "champion"
TEST_SPLIT_ARTIFACT = "split/test.parquet"
SERVING_SPEC_TAG = tags.SERVING_SPEC  # kept for callers that import it from here


class RegistryError(LookupError):
    """A use case, version or alias is not in the registry."""


def connect(settings: Settings) -> MlflowClient:
    """Point MLflow at Docket's store (set on use, never at import)."""
    settings.ensure()
    mlflow.set_tracking_uri(settings.tracking_uri)
    mlflow.set_registry_uri(settings.tracking_uri)
    return MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)


def is_registered(client: MlflowClient, use_case: str) -> bool:
    try:
        client.get_registered_model(use_case)
    except MlflowException:
        return False
    return True


def registered_names(client: MlflowClient) -> list[str]:
    return sorted(registered_spec_paths_of(client))


def registered_spec_paths_of(client: MlflowClient) -> dict[str, str | None]:
    """Every registered use case and the spec file it was last trained from (None: unrecorded)."""
    found: dict[str, str | None] = {}
    token: str | None = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        for m in page:
            found[m.name] = (m.tags or {}).get(tags.SPEC_PATH)
        token = page.token
        if not token:
            return found


def registered_spec_paths(settings: Settings) -> dict[str, str | None]:
    """As :func:`registered_spec_paths_of`, without creating a store that does not exist yet."""
    store = urlparse(settings.tracking_uri)
    if store.scheme == "sqlite" and not Path(url2pathname(store.path[1:])).is_file():
        return {}  # nothing trained here yet: no use case is known from the registry
    return registered_spec_paths_of(connect(settings))


def require_model(client: MlflowClient, use_case: str) -> None:
    """Raise :class:`RegistryError` naming the registered use cases if ``use_case`` is not one."""
    if not is_registered(client, use_case):
        names = registered_names(client)
        raise RegistryError(
            f"use case {use_case!r} has no registered model; registered: {names or '(none)'}"
            f" (train it first: docket train {use_case}, or docket train path/to/spec.toml)"
        )


@dataclass(frozen=True)
class RunArtifact:
    """Where an artifact of a run is: its URI, and its file when the store is local."""

    experiment_id: str
    run_id: str
    artifact_path: str
    uri: str
    local_path: Path | None  # None: not a local file, or not there

    def to_dict(self) -> dict[str, str | None]:
        return {
            "experiment_id": self.experiment_id,
            "run_id": self.run_id,
            "artifact_path": self.artifact_path,
            "uri": self.uri,
            "local_path": None if self.local_path is None else str(self.local_path),
        }


def run_artifact(client: MlflowClient, run_id: str, artifact_path: str) -> RunArtifact:
    info = client.get_run(run_id).info
    root = str(info.artifact_uri).rstrip("/")
    parsed = urlparse(root)
    local: Path | None = None
    if parsed.scheme in ("", "file"):
        candidate = Path(url2pathname(parsed.path)) / artifact_path
        local = candidate if candidate.is_file() else None
    return RunArtifact(
        experiment_id=str(info.experiment_id),
        run_id=run_id,
        artifact_path=artifact_path,
        uri=f"{root}/{artifact_path}",
        local_path=local,
    )


def get_version(
    client: MlflowClient, use_case: str, version: str | int | None = None, alias: str | None = None
) -> ModelVersion:
    """One registered version, by number or alias (default: ``candidate``)."""
    require_model(client, use_case)
    if version is not None:
        try:
            return client.get_model_version(use_case, str(version))
        except MlflowException:
            known = sorted(
                int(v.version) for v in client.search_model_versions(f"name='{use_case}'")
            )
            raise RegistryError(
                f"use case {use_case!r} has no version {version}; versions: {known}"
            ) from None
    alias = alias or CANDIDATE
    try:
        return client.get_model_version_by_alias(use_case, alias)
    except MlflowException:
        aliases = sorted(client.get_registered_model(use_case).aliases)
        raise RegistryError(
            f"use case {use_case!r} has no version with alias {alias!r}; aliases: {aliases}"
        ) from None


def alias_version(client: MlflowClient, use_case: str, alias: str) -> str | None:
    """The version an alias points at, or None."""
    try:
        return str(client.get_model_version_by_alias(use_case, alias).version)
    except MlflowException:
        return None


def load_model(client: MlflowClient, use_case: str, version: str | int) -> Any:
    mv = client.get_model_version(use_case, str(version))
    return mlflow.sklearn.load_model(f"models:/{use_case}/{mv.version}")


def run_id_of(mv: ModelVersion) -> str:
    run_id = mv.run_id or (mv.tags or {}).get(tags.RUN_ID)
    if not run_id:
        raise RegistryError(f"version {mv.version} of {mv.name!r} has no training run recorded")
    return str(run_id)


def load_frame(client: MlflowClient, run_id: str, artifact_path: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, artifact_path, tmp)
        return pd.read_parquet(local)


def load_text(client: MlflowClient, run_id: str, artifact_path: str) -> str:
    """A text artifact of a run."""
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, artifact_path, tmp)
        return Path(local).read_text(encoding="utf-8")


def load_json(client: MlflowClient, run_id: str, artifact_path: str) -> Any:
    return json.loads(load_text(client, run_id, artifact_path))


def serving_spec(
    client: MlflowClient, mv: ModelVersion, fallback: DecisionSpec, path: str | None = None
) -> DecisionSpec:
    """The spec a version was promoted under (or the artifact ``path``), else ``fallback``."""
    path = path or (mv.tags or {}).get(tags.SERVING_SPEC)
    if not path:
        return fallback
    raw = load_json(client, run_id_of(mv), path)
    return parse_spec(raw, source=f"{mv.name} v{mv.version}:{path}")
