"""Start a real `docket serve` process on a free loopback port, and stop it.

Tests run in parallel, so the free port found here may be taken by another
worker's server before this one binds it: a server that exits saying so is
started again on another port.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import httpx

from models.settings import Settings

START_TIMEOUT_S = 90
START_ATTEMPTS = 3
_PORT_TAKEN = "address already in use"


class _PortTaken(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(
    settings: Settings, workdir: Path, port: int, workers: int, extra: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **settings.as_env(),
        "BENTOML_HOME": str(workdir / "bentoml"),
        "DOCKET_RELOAD_SECONDS": "0",
        **extra,
    }
    exe = Path(sys.executable).with_name("docket")
    with (workdir / f"serve-{port}.log").open("w") as out:
        return subprocess.Popen(
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


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            log = log_path.read_text()
            if _PORT_TAKEN in log.lower():
                raise _PortTaken(log[-3000:])
            raise RuntimeError(f"docket serve exited: {log[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"docket serve not ready: {log_path.read_text()[-3000:]}")
        time.sleep(0.3)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@contextmanager
def docket_server(
    settings: Settings,
    workdir: Path,
    workers: int = 1,
    env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """Yield the base URL of a running service; stop it (and its workers) on exit.

    ``env`` overrides the service's environment, e.g. ``{"DOCKET_RELOAD_SECONDS": "1"}``
    to run its periodic work (champion check, escalation of overdue cases) every second.
    """
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _start(settings, workdir, port, workers, env or {})
        try:
            _wait_ready(proc, url, workdir / f"serve-{port}.log")
        except _PortTaken:
            _stop(proc)
            if attempt == START_ATTEMPTS:
                raise
            continue
        except BaseException:
            _stop(proc)
            raise
        break
    try:
        yield url
    finally:
        _stop(proc)
