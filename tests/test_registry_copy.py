"""copy_registry: a write in the copy leaves the original as it was, and the copy stands alone."""

from __future__ import annotations

import re
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from models import registry
from models.settings import Settings
from models.spec import load_spec
from tests.built_once import fingerprint
from tests.registry_copy import copy_registry
from training.data import load_dataset
from training.train import train_use_case

USE_CASE = "synthetic-eligibility"


def _cells_naming(database: Path, folder: Path) -> list[str]:
    # brute force: every cell of every table, read back as text
    found = []
    with closing(sqlite3.connect(database)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            for row in db.execute(f'SELECT * FROM "{table}"'):
                found += [f"{table}: {cell}" for cell in row if str(folder) in str(cell)]
    return found


def _versions(settings: Settings) -> list[str]:
    client = registry.connect(settings)
    return sorted(str(v.version) for v in client.search_model_versions(f"name='{USE_CASE}'"))


def test_a_write_in_the_copy_leaves_the_original_unchanged(
    small_registry: Settings, tmp_path: Path
) -> None:
    # given: a copy of a registry with one version
    before = fingerprint(small_registry.home)
    copy = copy_registry(small_registry, tmp_path / "copy")
    # when: a new version is trained and registered through the copy
    spec = load_spec(copy.home / "synth" / "spec.toml")
    train_use_case(spec, copy, seed=11)
    # then: the copy holds both versions, the original still one, with the same content
    assert _versions(copy) == ["1", "2"]
    assert _versions(small_registry) == ["1"]
    assert fingerprint(small_registry.home) == before
    client = registry.connect(copy)
    source = client.get_model_version_download_uri(USE_CASE, "2")
    assert source.startswith(copy.home.as_uri() + "/"), source


def test_an_artifact_written_to_a_copied_run_lands_in_that_copy(
    small_registry: Settings, tmp_path: Path
) -> None:
    # given: an artifact written to the training run of a first copy (MLflow now caches
    # where that run id writes)
    run_id = registry.run_id_of(registry.connect(small_registry).get_model_version(USE_CASE, "1"))
    first = copy_registry(small_registry, tmp_path / "first")
    registry.connect(first).log_text(run_id, "first", "notes/copy.txt")
    # when: a second copy writes to the same run
    second = copy_registry(small_registry, tmp_path / "second")
    registry.connect(second).log_text(run_id, "second", "notes/copy.txt")
    # then: each copy holds its own artifact, and the original has none
    for copy, text in ((first, "first"), (second, "second")):
        assert [p.read_text() for p in copy.artifact_root.rglob("notes/copy.txt")] == [text]
    assert not list(small_registry.artifact_root.rglob("notes/copy.txt"))


def test_the_copy_stands_alone_once_its_source_is_gone(
    small_registry: Settings, tmp_path: Path
) -> None:
    # given: a copy of a copy, whose source is then deleted
    first = copy_registry(small_registry, tmp_path / "first")
    second = copy_registry(first, tmp_path / "second")
    shutil.rmtree(first.home)
    # then: no cell of the copied store names a folder other than its own
    assert _cells_naming(second.home / "mlflow.db", small_registry.home) == []
    assert _cells_naming(second.home / "mlflow.db", first.home) == []
    # and the version loads from the copy and scores like the original's
    frame = load_dataset(load_spec(small_registry.home / "synth" / "spec.toml")).frame.head(50)
    expected = registry.load_model(registry.connect(small_registry), USE_CASE, "1")
    got = registry.load_model(registry.connect(second), USE_CASE, "1")
    np.testing.assert_array_equal(got.predict_proba(frame), expected.predict_proba(frame))
    # and its settings point into it, the decision log included
    assert second.tracking_uri == f"sqlite:///{tmp_path / 'second' / 'mlflow.db'}"
    assert second.database_url == f"sqlite:///{tmp_path / 'second' / 'decisions.db'}"


def test_only_a_local_registry_into_an_empty_folder_is_copied(
    small_registry: Settings, tmp_path: Path
) -> None:
    remote = small_registry.model_copy(update={"tracking_uri": "http://mlflow.example:5000"})
    with pytest.raises(ValueError, match=re.escape("got 'http://mlflow.example:5000'")):
        copy_registry(remote, tmp_path / "copy")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "note.txt").write_text("x")
    expected = f"dst_home must be a new or empty folder; got {str(tmp_path / 'busy')!r}"
    with pytest.raises(ValueError, match=re.escape(expected)):
        copy_registry(small_registry, tmp_path / "busy")
