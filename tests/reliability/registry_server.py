"""A test-owned `mlflow server` over a stack's registry, so the registry can become unreachable.

Docket's default registry is MLflow on a SQLite file in the state folder, which a
running service cannot lose (it keeps the file open). A registry that can go
away is a tracking server: this one serves the stack's ``mlflow.db``; the
artifacts stay where the runs recorded them (local paths the client reads itself).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from models.settings import Settings
from tests.serving.server import free_port

__all__ = ["mlflow_server"]

START_TIMEOUT_S = 120


@contextmanager
def mlflow_server(settings: Settings, workdir: Path) -> Iterator[int]:
    """Yield the port of an `mlflow server` on ``settings``' registry; stop it on exit."""
    port = free_port()
    exe = str(Path(sys.executable).with_name("mlflow"))
    log = workdir / f"mlflow-{port}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                exe,
                "server",
                "--backend-store-uri",
                settings.tracking_uri,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, f"mlflow server exited: {log.read_text()[-3000:]}"
            with suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, f"mlflow server not up: {log.read_text()[-3000:]}"
            time.sleep(0.5)
        yield port
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
