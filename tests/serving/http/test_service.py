"""The service object: routes reach its engine through the app state; shutdown stops the reloader."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import Settings
from serving.http.service import Docket, routes_app


def test_shutdown_stops_the_reload_thread_and_the_engine_is_in_the_app_state(
    served_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: a service on the shared registry (read only), with its own decision log
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("DOCKET_RELOAD_SECONDS", "0.2")
    service = Docket.inner()  # the class BentoML instantiates in each worker

    # when / then: the reloader runs and routes find the service's engine
    assert service._threads and all(t.is_alive() for t in service._threads)
    assert routes_app.state.engine is service.engine
    assert "synthetic-eligibility" in service.engine.served_versions()

    # when
    service.shutdown()

    # then
    assert not any(t.is_alive() for t in service._threads)
