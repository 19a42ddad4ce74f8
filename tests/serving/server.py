"""Start a real `docket serve` process on a free loopback port, and stop it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from models.settings import Settings

START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def docket_server(settings: Settings, workdir: Path, workers: int = 1) -> Iterator[str]:
    """Yield the base URL of a running service; stop it (and its workers) on exit."""
    port = free_port()
    env = {
        **os.environ,
        **settings.as_env(),
        "BENTOML_HOME": str(workdir / "bentoml"),
        "DOCKET_RELOAD_SECONDS": "0",
    }
    log_path = workdir / f"serve-{port}.log"
    exe = Path(sys.executable).with_name("docket")
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [
                str(exe),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"docket serve exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"docket serve not ready: {log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
