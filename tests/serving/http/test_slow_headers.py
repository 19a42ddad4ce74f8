"""The header time limit's setting."""

from __future__ import annotations

import pytest

from serving.http.slow_headers import DEFAULT_SECONDS, header_timeout_seconds


def test_the_default_is_ten_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_HEADER_TIMEOUT_SECONDS", raising=False)
    assert header_timeout_seconds() == DEFAULT_SECONDS == 10.0


@pytest.mark.parametrize("raw", ["soon", "0", "-3"])
def test_a_bad_value_is_named_with_what_was_received(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("DOCKET_HEADER_TIMEOUT_SECONDS", raw)
    with pytest.raises(ValueError, match=rf"DOCKET_HEADER_TIMEOUT_SECONDS.*{raw!r}"):
        header_timeout_seconds()
