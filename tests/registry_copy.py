"""A private copy of a local Docket registry, for tests that write to a shared one.

What the copy guarantees: every file under the original home is in the copy's
home; each SQLite database (MLflow's ``mlflow.db``, a ``decisions.db``) is copied
through SQLite's backup API, so the copy is a consistent snapshot even while other
test processes read the original; and every absolute path to the original home
that MLflow stores (``experiments.artifact_location``, ``runs.artifact_uri``,
``logged_models.artifact_location``, ``model_versions.storage_location`` and any
other text column) points into the copy. Runs, versions, aliases, tags and
artifacts written through the returned settings therefore land in the copy, and
the original is left exactly as it was.

What it does not rewrite: paths recorded inside artifact files (an ``MLmodel``'s
``artifact_path``, a data report's ``source``). They are provenance, never a place
MLflow writes to or loads from.

The copy's runs and logged models keep their original ids, and MLflow caches, for
the whole process, where each id's artifacts are written, keyed by the id alone.
Copying therefore empties that cache (and tests/conftest.py empties it before each
test), so an artifact logged to a copied run lands in the copy written through,
not in an earlier copy or the original. Within one test, writing to a run of one
copy, then to the same run of another copy made before that write, would still
reach the first: make each copy just before writing to it.
"""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from mlflow.tracking._tracking_service import utils as mlflow_tracking

from models.settings import Settings

_SQLITE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal")


def copy_registry(src: Settings, dst_home: Path) -> Settings:
    """Copy the registry of ``src`` (MLflow on SQLite under its home) to ``dst_home``.

    Returns the settings of the copy: its own tracking URI and artifact folder, and
    its own decision-log database when ``src`` keeps it under its home (a database
    elsewhere, such as PostgreSQL, is shared as it was).
    """
    home = src.home.resolve()
    local = Settings.local(home)
    if src.tracking_uri != local.tracking_uri or src.artifact_root != local.artifact_root:
        raise ValueError(
            "copy_registry copies a local registry: tracking_uri must be"
            f" {local.tracking_uri!r} with artifacts in {str(local.artifact_root)!r};"
            f" got {src.tracking_uri!r} with artifacts in {str(src.artifact_root)!r} instead"
        )
    dst = dst_home.resolve()
    if dst.exists() and any(dst.iterdir()):
        raise ValueError(f"dst_home must be a new or empty folder; got {str(dst)!r} instead")
    shutil.copytree(
        home,
        dst,
        ignore=shutil.ignore_patterns(*(f"*{s}" for s in _SQLITE_SUFFIXES)),
        dirs_exist_ok=True,
    )
    for database in home.rglob("*.db"):
        copied = dst / database.relative_to(home)
        _backup(database, copied)
        _repoint(copied, home, dst)
    forget_artifact_locations()
    copy = Settings.local(dst)
    database_url = copy.database_url if src.database_url == local.database_url else src.database_url
    return copy.model_copy(update={"database_url": database_url})


def forget_artifact_locations() -> None:
    """Empty MLflow's per-process cache of where run and model artifacts are written."""
    mlflow_tracking._artifact_repos_cache.clear()


def _backup(src: Path, dst: Path) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _text_columns(db: sqlite3.Connection) -> list[tuple[str, str]]:
    tables = [
        row[0]
        for row in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    return [
        (table, row[1]) for table in tables for row in db.execute(f'PRAGMA table_info("{table}")')
    ]


def _repoint(database: Path, old: Path, new: Path) -> None:
    """Replace every mention of folder ``old`` in the text cells of ``database`` by ``new``."""
    # URIs first: where a path holds characters a URI escapes, the two spellings differ
    inside = [(f"{old.as_uri()}/", f"{new.as_uri()}/"), (f"{old}/", f"{new}/")]
    left = []
    with closing(sqlite3.connect(database)) as db, db:
        for table, column in _text_columns(db):
            where = f"typeof(\"{column}\") = 'text'"
            cell = f'"{column}"'
            update = f'UPDATE "{table}" SET {cell} ='
            db.execute(f"{update} ? WHERE {where} AND {cell} = ?", (str(new), str(old)))
            for before, after in inside:
                db.execute(
                    f"{update} replace({cell}, ?, ?) WHERE {where} AND instr({cell}, ?) > 0",
                    (before, after, before),
                )
            mention = (
                f'SELECT 1 FROM "{table}" WHERE {where} AND ({cell} = ? OR instr({cell}, ?) > 0)'
            )
            if db.execute(mention, (str(old), f"{old}/")).fetchone():
                left.append(f"{table}.{column}")
    assert not left, f"{database} still names {old} in {left}"
