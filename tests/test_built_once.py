"""build_shared builds once for every process that asks; fingerprint sees writes, not reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from models import registry
from models.settings import Settings
from tests.built_once import build_shared, fingerprint
from tests.registry_copy import copy_registry


def test_concurrent_askers_get_one_build(tmp_path: Path) -> None:
    # given: a slow build, asked for by four threads at once
    builds: list[Path] = []

    def build(folder: Path) -> None:
        time.sleep(0.2)
        (folder / "state.txt").write_text("built")
        builds.append(folder)

    got: list[Path] = []
    askers = [
        threading.Thread(target=lambda: got.append(build_shared(tmp_path, "shared", build)))
        for _ in range(4)
    ]
    # when
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join()
    # then: built once, and every asker got the finished folder
    assert builds == [tmp_path / "shared"]
    assert got == [tmp_path / "shared"] * 4
    assert (tmp_path / "shared" / "state.txt").read_text() == "built"


def test_a_failed_build_is_built_again_by_the_next_asker(tmp_path: Path) -> None:
    # given: a build that fails half way
    def broken(folder: Path) -> None:
        (folder / "half.txt").write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        build_shared(tmp_path, "shared", broken)

    # when: the next asker's build works
    def build(folder: Path) -> None:
        (folder / "state.txt").write_text("built")

    folder = build_shared(tmp_path, "shared", build)
    # then: nothing of the failed build is left
    assert sorted(p.name for p in folder.iterdir()) == ["state.txt"]


def test_reading_a_registry_keeps_its_fingerprint(small_registry: Settings, tmp_path: Path) -> None:
    # given
    settings = copy_registry(small_registry, tmp_path / "home")
    before = fingerprint(settings.home)
    # when: read through MLflow, artifacts and the registered model included
    client = registry.connect(settings)
    run_id = client.get_model_version("synthetic-eligibility", "1").run_id
    assert run_id is not None
    client.download_artifacts(run_id, "metrics/test.json", str(tmp_path))
    registry.load_model(client, "synthetic-eligibility", "1")
    # then
    assert fingerprint(settings.home) == before


def test_a_tag_or_a_file_changes_the_fingerprint(small_registry: Settings, tmp_path: Path) -> None:
    # given
    settings = copy_registry(small_registry, tmp_path / "home")
    before = fingerprint(settings.home)
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    # when: one version tag is written
    client.set_model_version_tag("synthetic-eligibility", "1", "note", "x")
    tagged = fingerprint(settings.home)
    # and then one file is added
    (settings.home / "synth" / "extra.txt").write_text("x")
    # then
    assert len({before, tagged, fingerprint(settings.home)}) == 3
