"""SQLite writers queue on a file lock beside the database before ``BEGIN IMMEDIATE``.

The lock is held exactly while a write transaction is open (let go on commit, rollback
and a failed begin), reads never take it, and SQLite's own lock still decides: a
writer that cannot get the file lock in time goes on and writes, and one that meets
another program's write lock still gives up after the busy timeout.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from serving.ledger.engine import create_log_engine, writer


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Engine, Path]]:
    monkeypatch.setenv("DOCKET_SQLITE_BUSY_SECONDS", "0.6")
    path = tmp_path / "log.db"
    engine = create_log_engine(f"sqlite:///{path}")
    with writer(engine).begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    yield engine, path
    engine.dispose()


def _held(lock: Path) -> bool:
    """Whether some descriptor holds the file lock (tried from a descriptor of our own)."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing also lets go of a lock we took
    return False


def test_held_while_writing_and_let_go_on_commit_and_rollback(db: tuple[Engine, Path]) -> None:
    engine, path = db
    lock = Path(f"{path}.writer-lock")
    with writer(engine).begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        assert _held(lock)
    assert not _held(lock)
    with pytest.raises(RuntimeError), writer(engine).begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (2)"))
        assert _held(lock)
        raise RuntimeError("rolled back")
    assert not _held(lock)
    with engine.connect() as conn:  # a read: no file lock
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [1]
        assert not _held(lock)


def test_writers_of_many_threads_all_write(db: tuple[Engine, Path]) -> None:
    engine, _ = db

    def write(k: int) -> None:
        for i in range(25):
            with writer(engine).begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": k * 100 + i})

    threads = [threading.Thread(target=write, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    with engine.connect() as conn:
        got = sorted(conn.execute(text("SELECT x FROM t")).scalars())
    assert got == sorted(k * 100 + i for k in range(4) for i in range(25))


def test_a_file_lock_never_let_go_only_delays_a_writer(db: tuple[Engine, Path]) -> None:
    engine, path = db
    fd = os.open(f"{path}.writer-lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)  # a stuck holder of the file lock only
    try:
        with writer(engine).begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (7)"))
    finally:
        os.close(fd)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT x FROM t")).scalars().all() == [7]


def test_another_programs_write_lock_still_times_out(db: tuple[Engine, Path]) -> None:
    engine, path = db
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # SQLite's lock, without our file lock
    try:
        with (
            pytest.raises(OperationalError, match="database is locked"),
            writer(engine).begin() as conn,
        ):
            conn.execute(text("INSERT INTO t VALUES (3)"))
        assert not _held(Path(f"{path}.writer-lock"))  # let go after the failed begin
    finally:
        other.execute("ROLLBACK")
        other.close()
    with writer(engine).begin() as conn:  # and writing works again afterwards
        conn.execute(text("INSERT INTO t VALUES (4)"))
