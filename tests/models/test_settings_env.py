"""Positive numbers from the environment: one reader for every duration setting."""

from __future__ import annotations

import pytest

from models.settings import positive_from_env


def test_unset_or_blank_gives_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKET_X_SECONDS", raising=False)
    assert positive_from_env("DOCKET_X_SECONDS", 7.0, "seconds") == 7.0
    monkeypatch.setenv("DOCKET_X_SECONDS", "  ")
    assert positive_from_env("DOCKET_X_SECONDS", 7.0, "seconds") == 7.0


def test_a_number_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKET_X_SECONDS", " 2.5 ")
    assert positive_from_env("DOCKET_X_SECONDS", 7.0, "seconds") == 2.5


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "inf", "nan", "1e999"])
def test_anything_else_is_named_with_the_unit_and_what_was_received(
    monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    monkeypatch.setenv("DOCKET_X_HOURS", raw)
    with pytest.raises(ValueError) as caught:
        positive_from_env("DOCKET_X_HOURS", 1.0, "hours")
    assert str(caught.value) == (
        f"DOCKET_X_HOURS must be a number of hours above 0; got {raw!r} instead"
    )
