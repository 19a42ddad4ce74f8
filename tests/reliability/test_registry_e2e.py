"""The MLflow registry goes away: loaded champions keep serving; reload fails safe and says so.

The service reads its registry through a test-owned `mlflow server` behind a
:class:`TcpProxy`; cutting the proxy makes the registry unreachable for this
service only. Start-up with no registry at all is refused with a clear message,
by `docket serve` before any worker starts and by the engine itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.settings import Settings
from serving.decisions.engine import DecisionEngine
from serving.decisions.errors import RegistryUnavailable
from tests.reliability.proxy import TcpProxy
from tests.reliability.registry_server import mlflow_server
from tests.reliability.stack import USE_CASE, Stack
from tests.serving.server import docket_server, free_port

pytestmark = pytest.mark.e2e

SERVE_EXIT_TIMEOUT_S = 120


def _get(url: str, path: str, key: str) -> dict[str, Any]:
    answer = httpx.get(f"{url}{path}", headers={"Authorization": f"Bearer {key}"}, timeout=60)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _decide(url: str, stack: Stack) -> dict[str, Any]:
    answer = httpx.post(
        f"{url}/decide",
        json={"use_case": USE_CASE, "features": stack.rows[0]},
        headers={"Authorization": f"Bearer {stack.app_key}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_registry_unreachable_after_start(sqlite_stack: Stack, tmp_path: Path) -> None:
    stack = sqlite_stack
    with (
        mlflow_server(stack.settings, tmp_path) as registry_port,
        TcpProxy("127.0.0.1", registry_port) as proxy,
    ):
        registry_uri = f"http://127.0.0.1:{proxy.port}"
        settings = stack.settings.model_copy(update={"tracking_uri": registry_uri})
        with docket_server(settings, tmp_path, workers=1) as url:
            # given: the champion loaded through the registry server
            status = _get(url, "/admin/status", stack.admin_key)
            assert status["served"] == {USE_CASE: "1"}
            assert status["registry"]["uri"] == registry_uri
            assert status["registry"]["reachable"] is True
            assert status["registry"]["last_error"] is None
            assert _decide(url, stack)["model_version"] == "1"

            # when: the registry goes away
            proxy.cut()

            # then: decisions go on with the loaded champion
            assert _decide(url, stack)["model_version"] == "1"
            # a reload fails safe: 503 saying what and that the champions keep serving
            t0 = time.monotonic()
            reload = httpx.post(
                f"{url}/admin/reload",
                headers={"Authorization": f"Bearer {stack.admin_key}"},
                timeout=60,
            )
            took = time.monotonic() - t0
            print(f"reload with the registry cut answered {reload.status_code} in {took:.1f} s")
            assert reload.status_code == 503, reload.text
            error = reload.json()["error"]
            assert error.startswith(f"reload failed: the model registry at {registry_uri}"), error
            assert "could not be read" in error
            assert f"still serving the loaded champions {{'{USE_CASE}': '1'}}" in error
            assert proxy.refused > 0  # it did try, and was refused
            # /admin/status says so: when, and what
            status = _get(url, "/admin/status", stack.admin_key)
            assert status["served"] == {USE_CASE: "1"}
            registry = status["registry"]
            assert registry["reachable"] is False
            assert registry["last_error"]["at"] == registry["last_reload_at"]
            assert registry["last_error"]["error"].startswith(
                f"the model registry at {registry_uri} could not be read"
            )
            assert registry["last_success_at"] < registry["last_reload_at"]
            assert _decide(url, stack)["model_version"] == "1"

            # when the registry is back, a reload succeeds without a restart
            proxy.restore()
            reloaded = httpx.post(
                f"{url}/admin/reload",
                headers={"Authorization": f"Bearer {stack.admin_key}"},
                timeout=60,
            )
            assert reloaded.status_code == 200, reloaded.text
            assert reloaded.json()["served"] == {USE_CASE: "1"}
            registry = _get(url, "/admin/status", stack.admin_key)["registry"]
            assert registry["reachable"] is True
            assert registry["last_success_at"] == registry["last_reload_at"]
            assert registry["last_error"] is not None  # the failure stays shown, with its time


def _dead_registry(home: Path) -> Settings:
    # a port nothing listens on: connections are refused at once
    return Settings.local(home).model_copy(
        update={"tracking_uri": f"http://127.0.0.1:{free_port()}"}
    )


def test_docket_serve_without_a_registry_exits_with_a_clear_message(tmp_path: Path) -> None:
    settings = _dead_registry(tmp_path / "home")
    exe = str(Path(sys.executable).with_name("docket"))
    env = {**os.environ, **settings.as_env(), "BENTOML_HOME": str(tmp_path / "bentoml")}
    out = subprocess.run(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=SERVE_EXIT_TIMEOUT_S,
        check=False,
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith(
        f"error: cannot start: the model registry at {settings.tracking_uri} could not be read"
    ), out.stderr
    assert "Connection refused" in out.stderr
    assert "Check MLFLOW_TRACKING_URI" in out.stderr
    assert "serving on" not in out.stdout  # no worker was started


def test_engine_start_without_a_registry_says_why(tmp_path: Path) -> None:
    settings = _dead_registry(tmp_path / "home")
    engine = DecisionEngine(settings)
    try:
        with pytest.raises(RegistryUnavailable) as raised:
            engine.start()
    finally:
        engine.close()
    message = str(raised.value)
    assert message.startswith(
        f"cannot start: the model registry at {settings.tracking_uri} could not be read"
    ), message
    assert "Connection refused" in message
    assert raised.value.kind == "unavailable"
