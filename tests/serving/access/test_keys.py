"""API keys: shown once, stored hashed, roles checked, revocable."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from serving.access.keys import KeyAdminError, authenticate, create_key, list_keys, revoke_key
from serving.ledger import DecisionLog


def test_keys_are_stored_hashed_and_revocable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    log.migrate()
    key, who = create_key(log.engine, "reviewer", "Rita Reviewer")
    assert key.startswith(f"dk_{who.key_id}_")
    secret = key.split("_", 2)[2]
    with log.engine.connect() as conn:
        stored = conn.execute(text("SELECT key_hash FROM access_api_keys")).scalar_one()
    assert secret not in stored and len(stored) == 64
    assert authenticate(log.engine, key) == who
    assert authenticate(log.engine, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert authenticate(log.engine, "not-a-key") is None
    assert [k["name"] for k in list_keys(log.engine)] == ["Rita Reviewer"]
    assert revoke_key(log.engine, who.key_id)
    assert authenticate(log.engine, key) is None
    assert not revoke_key(log.engine, who.key_id)


def test_bad_role_or_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = DecisionLog(f"sqlite:///{tmp_path / 'd.db'}")
    log.migrate()
    with pytest.raises(
        KeyAdminError,
        match=r"role must be one of \['application', 'reviewer', 'auditor', 'admin', 'monitoring'\]; got 'boss'",
    ):
        create_key(log.engine, "boss", "x")
    with pytest.raises(KeyAdminError, match="name must be 1-200 characters"):
        create_key(log.engine, "admin", "  ")
