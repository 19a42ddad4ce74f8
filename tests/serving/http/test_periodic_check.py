"""The service's periodic work: an unreachable registry is one warning line, not a traceback."""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

import pytest

from serving.decisions import DecisionEngine
from serving.decisions.errors import RegistryUnavailable
from serving.http.service import _every
from serving.review import ReviewDesk

WHY = "reload failed: the registry at http://127.0.0.1:9 cannot be read"


class _Engine:
    """Raises ``error`` from its champion check, then asks the loop to stop."""

    def __init__(self, error: Exception, stop: threading.Event) -> None:
        self.error, self.stop, self.checks = error, stop, 0

    def reload(self) -> dict[str, Any]:
        self.checks += 1
        self.stop.set()
        raise self.error


class _Desk:
    def escalate_overdue(self) -> list[object]:
        return []


def _run_once(error: Exception) -> int:
    stop = threading.Event()
    engine = _Engine(error, stop)
    _every(cast(DecisionEngine, engine), cast(ReviewDesk, _Desk()), 0.001, stop)
    return engine.checks


def test_unreachable_registry_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    # given / when: one periodic round while the registry cannot be read
    with caplog.at_level(logging.WARNING, logger="docket.serving"):
        checks = _run_once(RegistryUnavailable(WHY))
    # then: one warning naming why, without a traceback
    assert checks == 1
    records = [r for r in caplog.records if r.name == "docket.serving"]
    assert [(r.levelno, r.exc_info) for r in records] == [(logging.WARNING, None)]
    assert WHY in records[0].getMessage()
    assert "Traceback" not in caplog.text


def test_unexpected_error_keeps_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    # given / when: one periodic round where the check fails in an unexpected way
    with caplog.at_level(logging.WARNING, logger="docket.serving"):
        _run_once(RuntimeError("boom"))
    # then: logged as an error with the exception attached
    records = [r for r in caplog.records if r.name == "docket.serving"]
    assert len(records) == 1 and records[0].levelno == logging.ERROR
    assert records[0].exc_info is not None and "boom" in caplog.text
