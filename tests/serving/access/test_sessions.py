"""Console sessions: signed cookies that expire, end on logout, and die with a disabled person."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from serving.access import add_person, create_key, disable_person
from serving.access.sessions import (
    SessionRefused,
    csrf_matches,
    csrf_token,
    end_session,
    load_session_key,
    resume_session,
    start_session,
)
from serving.ledger import DecisionLog

KEY = bytes(range(32))
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def log(tmp_path: Path) -> DecisionLog:
    store = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    store.migrate()
    return store


def test_a_personal_token_starts_a_session_the_cookie_resumes(log: DecisionLog) -> None:
    # given
    token, person = add_person(log.engine, "Rae Reviewer", ["reviewer"], "test")

    # when
    cookie, session = start_session(log.engine, KEY, token)
    resumed = resume_session(log.engine, KEY, cookie)

    # then
    assert resumed is not None and resumed.principal.person_id == person.person_id
    assert resumed.principal.roles == frozenset({"reviewer"})
    assert resumed.csrf == session.csrf


def test_the_cookie_is_the_id_and_expiry_signed_with_hmac_sha256(
    log: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: sessions of 90 minutes, started at a known time
    monkeypatch.setenv("DOCKET_SESSION_MINUTES", "90")
    token, _ = add_person(log.engine, "Rae Reviewer", ["reviewer"], "test")
    clock = Clock()

    # when
    cookie, session = start_session(log.engine, KEY, token, clock=clock)

    # then: recomputed independently with hmac
    session_id, expires, signature = cookie.split(".")
    assert session_id == session.session_id
    assert int(expires) == int((START + timedelta(minutes=90)).timestamp())
    digest = hmac.new(KEY, f"session|{session_id}.{expires}".encode(), hashlib.sha256).digest()
    assert signature == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@pytest.mark.parametrize("tamper", ["id", "expiry", "signature", "key"])
def test_a_tampered_cookie_or_another_key_is_refused(log: DecisionLog, tamper: str) -> None:
    # given
    token, _ = add_person(log.engine, "Rae Reviewer", ["reviewer"], "test")
    cookie, _ = start_session(log.engine, KEY, token)
    session_id, expires, signature = cookie.split(".")
    key = KEY

    # when
    if tamper == "id":
        cookie = f"{'0' * len(session_id)}.{expires}.{signature}"
    elif tamper == "expiry":
        cookie = f"{session_id}.{int(expires) + 86_400}.{signature}"
    elif tamper == "signature":
        cookie = f"{session_id}.{expires}.{signature[:-2]}AA"
    else:
        key = bytes(32)

    # then
    assert resume_session(log.engine, key, cookie) is None


def test_a_session_ends_at_its_expiry_at_logout_and_when_its_person_is_disabled(
    log: DecisionLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: three sessions of 30 minutes
    monkeypatch.setenv("DOCKET_SESSION_MINUTES", "30")
    clock = Clock()
    ann, _ = add_person(log.engine, "Ann", ["reviewer"], "test")
    bob, _ = add_person(log.engine, "Bob", ["auditor"], "test")
    expiring, _ = start_session(log.engine, KEY, ann, clock=clock)
    leaving, left = start_session(log.engine, KEY, ann, clock=clock)
    disabled, _ = start_session(log.engine, KEY, bob, clock=clock)

    # when
    clock.now = START + timedelta(minutes=29)
    end_session(log.engine, left.session_id, clock=clock)
    disable_person(log.engine, "Bob", by="test")

    # then: before expiry only the live one works; after it, none
    assert resume_session(log.engine, KEY, expiring, clock=clock) is not None
    assert resume_session(log.engine, KEY, leaving, clock=clock) is None
    assert resume_session(log.engine, KEY, disabled, clock=clock) is None
    clock.now = START + timedelta(minutes=30)
    assert resume_session(log.engine, KEY, expiring, clock=clock) is None


def test_an_api_key_an_unknown_token_and_a_disabled_person_cannot_sign_in(
    log: DecisionLog,
) -> None:
    # given
    key, _ = create_key(log.engine, "application", "lending app")
    token, _ = add_person(log.engine, "Cat", ["reviewer"], "test")
    disable_person(log.engine, "Cat", by="test")

    # when / then
    with pytest.raises(SessionRefused, match="API key cannot sign in"):
        start_session(log.engine, KEY, key)
    with pytest.raises(SessionRefused, match="unknown or revoked"):
        start_session(log.engine, KEY, "dp_nobody_secret")
    with pytest.raises(SessionRefused, match="unknown or revoked"):
        start_session(log.engine, KEY, token)


def test_the_csrf_token_belongs_to_its_session_and_key() -> None:
    # given
    token = csrf_token(KEY, "session-a")

    # when / then
    assert csrf_matches(KEY, "session-a", token)
    assert not csrf_matches(KEY, "session-b", token)
    assert not csrf_matches(bytes(32), "session-a", token)
    assert not csrf_matches(KEY, "session-a", None)
    assert not csrf_matches(KEY, "session-a", "")


def test_the_session_key_is_made_once_private_and_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given
    monkeypatch.delenv("DOCKET_SESSION_KEY", raising=False)

    # when
    first = load_session_key(tmp_path / "home")
    second = load_session_key(tmp_path / "home")

    # then
    assert first == second and len(first) == 32
    mode = (tmp_path / "home" / "session.key").stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert [p.name for p in (tmp_path / "home").iterdir()] == ["session.key"]


@pytest.mark.parametrize("value", ["abc", "zz" * 32, "00" * 16])
def test_a_bad_configured_session_key_is_refused_with_its_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    # given
    monkeypatch.setenv("DOCKET_SESSION_KEY", value)

    # when / then
    with pytest.raises(ValueError, match=f"got {len(value)} characters instead"):
        load_session_key(tmp_path)
