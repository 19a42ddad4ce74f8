"""The brute-force throttle on its own: a fake clock, exact counts, one log line per lock-out."""

from __future__ import annotations

import logging

import pytest

from serving.access.throttle import Throttle, ThrottleSettings, locked_message

SETTINGS = ThrottleSettings(max_failures=3, window_seconds=60, lockout_seconds=30)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_nth_failure_in_the_window_locks_the_address_out_for_the_cool_off() -> None:
    # given
    clock = FakeClock()
    throttle = Throttle(SETTINGS, clock=clock)

    # when: two failures, then the third ten seconds later
    started = [throttle.failed("10.0.0.9"), throttle.failed("10.0.0.9")]
    clock.now += 10
    third = throttle.failed("10.0.0.9")

    # then: only the third starts the lock-out, which lasts exactly 30 s
    assert started == [False, False] and third is True
    assert throttle.retry_after("10.0.0.9") == 30
    clock.now += 29.5
    assert throttle.retry_after("10.0.0.9") == 0.5
    clock.now += 0.5
    assert throttle.retry_after("10.0.0.9") is None


def test_failures_older_than_the_window_are_forgotten() -> None:
    # given
    clock = FakeClock()
    throttle = Throttle(SETTINGS, clock=clock)

    # when: two failures, then a third just past the 60 s window of the first
    throttle.failed("10.0.0.9")
    clock.now += 30
    throttle.failed("10.0.0.9")
    clock.now += 30.5
    third = throttle.failed("10.0.0.9")

    # then: only two fall in the window (30 s and 0 s ago): no lock-out
    assert third is False and throttle.retry_after("10.0.0.9") is None
    # and one more within the window of the second makes three
    clock.now += 1
    assert throttle.failed("10.0.0.9") is True


def test_other_addresses_are_never_affected() -> None:
    # given
    throttle = Throttle(SETTINGS, clock=FakeClock())

    # when
    for _ in range(10):
        throttle.failed("10.0.0.9")
    throttle.failed("10.0.0.10")

    # then
    assert throttle.retry_after("10.0.0.9") is not None
    assert throttle.retry_after("10.0.0.10") is None
    assert throttle.retry_after("127.0.0.1") is None


def test_each_lock_out_is_logged_once_with_the_address(caplog: pytest.LogCaptureFixture) -> None:
    # given
    clock = FakeClock()
    throttle = Throttle(SETTINGS, clock=clock)

    # when: ten failures (one lock-out; guesses during it do not start another)
    with caplog.at_level(logging.WARNING, logger="docket.access"):
        results = [throttle.failed("10.0.0.9") for _ in range(10)]
        # after the cool-off, three more make a second lock-out
        clock.now += 31
        results += [throttle.failed("10.0.0.9") for _ in range(3)]

    # then
    assert results.count(True) == 2
    lines = [r.getMessage() for r in caplog.records if r.name == "docket.access"]
    assert (
        lines
        == ["client 10.0.0.9 locked out for 30 s after 3 failed authentications within 60 s"] * 2
    )


def test_guesses_during_a_lock_out_do_not_extend_it() -> None:
    # given
    clock = FakeClock()
    throttle = Throttle(SETTINGS, clock=clock)
    for _ in range(3):
        throttle.failed("10.0.0.9")

    # when
    clock.now += 20
    throttle.failed("10.0.0.9")

    # then: the cool-off still ends 30 s after it began
    assert throttle.retry_after("10.0.0.9") == 10


def test_the_table_of_addresses_stays_bounded_and_keeps_the_locked_out() -> None:
    # given: room for 5 addresses; one locked out
    clock = FakeClock()
    throttle = Throttle(SETTINGS, clock=clock, max_clients=5)
    for _ in range(3):
        throttle.failed("10.9.9.9")

    # when: a hundred other addresses fail once each
    for i in range(100):
        throttle.failed(f"10.0.0.{i}")

    # then
    assert len(throttle._clients) <= 5
    assert throttle.retry_after("10.9.9.9") is not None


def test_settings_come_from_the_environment_and_bad_ones_are_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setenv("DOCKET_AUTH_MAX_FAILURES", "4")
    monkeypatch.setenv("DOCKET_AUTH_WINDOW_SECONDS", "12.5")
    monkeypatch.setenv("DOCKET_AUTH_LOCKOUT_SECONDS", "90")

    # then
    assert ThrottleSettings.from_env() == ThrottleSettings(4, 12.5, 90)
    monkeypatch.delenv("DOCKET_AUTH_MAX_FAILURES")
    monkeypatch.delenv("DOCKET_AUTH_WINDOW_SECONDS")
    monkeypatch.delenv("DOCKET_AUTH_LOCKOUT_SECONDS")
    assert ThrottleSettings.from_env() == ThrottleSettings(10, 60.0, 60.0)
    monkeypatch.setenv("DOCKET_AUTH_MAX_FAILURES", "2.5")
    with pytest.raises(
        ValueError, match=r"DOCKET_AUTH_MAX_FAILURES must be a whole number above 0; got '2.5'"
    ):
        ThrottleSettings.from_env()
    monkeypatch.setenv("DOCKET_AUTH_MAX_FAILURES", "3")
    monkeypatch.setenv("DOCKET_AUTH_LOCKOUT_SECONDS", "-1")
    with pytest.raises(
        ValueError,
        match=r"DOCKET_AUTH_LOCKOUT_SECONDS must be a number of seconds above 0; got '-1'",
    ):
        ThrottleSettings.from_env()


def test_the_message_says_a_correct_token_is_refused_too() -> None:
    assert locked_message("10.0.0.9", 12.2) == (
        "too many failed authentications from 10.0.0.9: this address is refused for"
        " 13 more seconds, even with a correct token (see Retry-After)"
    )
