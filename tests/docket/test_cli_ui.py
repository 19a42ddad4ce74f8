"""`docket ui` serves the state folder's runs and the audit report `docket audit` points at.

A real server: `docket ui` started through the entry point on a free loopback port,
against a private copy of the small registry (one trained version of a synthetic
use case), asked over HTTP, and always stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from models.settings import Settings
from tests.registry_copy import copy_registry

STARTUP_LIMIT_SECONDS = 90.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _docket(*args: str, settings: Settings) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("docket")
    env = {**os.environ, **settings.as_env()}
    return subprocess.run(
        [str(exe), *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return bytes(answer.read())


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    give_up = time.monotonic() + STARTUP_LIMIT_SECONDS
    while time.monotonic() < give_up:
        if process.poll() is not None:
            raise AssertionError(f"docket ui exited with status {process.returncode}")
        try:
            if _get(f"{base}/health").strip() == b"OK":
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"docket ui did not answer on {base} within {STARTUP_LIMIT_SECONDS} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    # its own session: the server's workers go with it
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def test_docket_ui_serves_the_run_and_the_report_docket_audit_points_at(
    small_registry: Settings, tmp_path: Path
) -> None:
    settings = copy_registry(small_registry, tmp_path / "home")
    audited = _docket("audit", "synthetic-eligibility", "--json", settings=settings)
    assert audited.returncode in (0, 1, 3), audited.stderr
    where = json.loads(audited.stdout)["report_html"]
    local = Path(where["path"])

    port = _free_port()
    exe = Path(sys.executable).with_name("docket")
    log = tmp_path / "ui.log"
    with log.open("wb") as sink:  # a file, not a pipe: the server's logging never blocks on it
        process = subprocess.Popen(
            [str(exe), "ui", "--host", "127.0.0.1", "--port", str(port)],
            env={**os.environ, **settings.as_env()},
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base, process)
        # the page `docket audit` printed, for the port this server is on
        page = where["ui_page"].replace("http://127.0.0.1:5000", base)
        assert page.startswith(f"{base}/#/experiments/{where['experiment_id']}/runs/")
        assert b"<html" in _get(page.split("#", 1)[0]).lower()

        run = json.loads(_get(f"{base}/api/2.0/mlflow/runs/get?run_id={where['run_id']}"))
        assert run["run"]["info"]["experiment_id"] == where["experiment_id"]

        query = urllib.parse.urlencode(
            {"path": where["artifact_path"], "run_uuid": where["run_id"]}
        )
        served = _get(f"{base}/get-artifact?{query}")
        assert served == local.read_bytes()
    finally:
        _stop(process)
    assert f"MLflow UI on {base}" in log.read_text(encoding="utf-8", errors="replace")
