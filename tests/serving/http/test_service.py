"""The service object: routes reach its engine through the app state; shutdown stops the reloader."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.settings import Settings
from serving.http.service import Docket, routes_app


@pytest.fixture
def service_env(
    served_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """A service's environment: the shared registry (read only), its own decision log."""
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_shutdown_stops_the_reload_thread_and_the_engine_is_in_the_app_state(
    service_env: pytest.MonkeyPatch,
) -> None:
    # given: a service on the shared registry (read only), with its own decision log
    service_env.setenv("DOCKET_RELOAD_SECONDS", "0.2")
    service = Docket.inner()  # the class BentoML instantiates in each worker

    # when / then: the reloader runs and routes find the service's engine
    assert service._threads and all(t.is_alive() for t in service._threads)
    assert routes_app.state.engine is service.engine
    assert "synthetic-eligibility" in service.engine.served_versions()

    # when
    service.shutdown()

    # then
    assert not any(t.is_alive() for t in service._threads)


def test_what_the_worker_loaded_is_kept_out_of_full_collections(
    service_env: pytest.MonkeyPatch,
) -> None:
    import gc

    service_env.setenv("DOCKET_RELOAD_SECONDS", "0")
    gc.unfreeze()  # whatever an earlier test froze in this process
    assert gc.get_freeze_count() == 0
    try:
        service = Docket.inner()
        try:
            # what the worker loaded is in the permanent generation, which collections do
            # not walk (its count may still fall as frozen objects are freed)
            assert gc.get_freeze_count() > 0
        finally:
            service.shutdown()
    finally:
        gc.unfreeze()
