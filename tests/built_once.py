"""Expensive test state built once per test run, shared by every pytest-xdist worker.

The documented xdist pattern: the first worker to ask builds the folder under the
run's common temporary root (``getbasetemp().parent``, one per run) while holding a
file lock; the others wait on the lock and then use what it built. A marker file
written after a successful build means a failed or interrupted build is never
taken for a finished one: the next worker to ask builds it again (and so reports
the same error itself). Without xdist the folder is an ordinary session temporary
folder, because ``getbasetemp().parent`` is then shared by every run of the user.

The folder is built in place (MLflow's store keeps absolute paths, so it cannot be
built elsewhere and moved) and is read-only to the tests: a test that writes gets
its own copy (:mod:`tests.registry_copy`). :func:`fingerprint` lets a fixture check
that no test wrote to it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest
from filelock import FileLock
from mlflow.store.artifact.models_artifact_repo import REGISTERED_MODEL_META_FILE_NAME


def built_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder ``name`` after ``build(folder)`` has run once in this test run."""
    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        folder = tmp_path_factory.mktemp(name, numbered=False)
        build(folder)
        return folder
    return build_shared(tmp_path_factory.getbasetemp().parent, name, build)


def build_shared(root: Path, name: str, build: Callable[[Path], None]) -> Path:
    """``root / name`` after ``build`` ran there once, whichever process asks first."""
    folder, done = root / name, root / f"{name}.built"
    with FileLock(root / f"{name}.lock"):
        if not done.is_file():
            shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


def fingerprint(folder: Path) -> str:
    """A digest of what ``folder`` holds: each SQLite database's rows, every other file's bytes.

    Databases are compared by content, not bytes, because a reader may leave
    journal files or a checkpointed file behind without changing a row. MLflow's
    ``registered_model_meta`` files are left out: loading a registered model from a
    local artifact store writes one into the model's folder (a read, not a change).
    """
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if path.name == REGISTERED_MODEL_META_FILE_NAME:
            continue
        if path.suffix == ".db":
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
                content = "\n".join(db.iterdump()).encode()
        elif ".db-" in path.name:
            continue  # -wal, -shm, -journal: read through the database above
        else:
            content = path.read_bytes()
        digest.update(name.encode() + b"\0" + hashlib.sha256(content).digest())
    return digest.hexdigest()
