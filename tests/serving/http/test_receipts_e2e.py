"""Receipts end to end: a real `docket serve` signs checkpoints every second; a decision's
receipt becomes an inclusion proof that verifies with the published public key alone.

The checks here use ``cryptography`` and RFC 9162's definitions written out below, not
the service's own verifiers.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text

from models.settings import Settings
from serving.access.keys import create_key
from serving.decisions.engine import DecisionEngine
from serving.ledger import DecisionLog
from serving.ledger.signing import generate_key

from ..paths import rows_by_path
from ..server import docket_server, free_port

pytestmark = pytest.mark.e2e

USE_CASE = "credit-eligibility"
POLL_ATTEMPTS = 120  # x 0.5 s: far above the 1 s checkpoint interval
NO_KEY = "no checkpoints: no ledger key (docket ledger keygen)"


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 2.1.1."""
    if not d:
        return _h(b"")
    if len(d) == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < len(d):
        k *= 2
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def root_from_path(leaf: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 2.1.3.2, step by step."""
    fn, sn, r = index, size - 1, _h(b"\x00" + leaf)
    for p in proof:
        assert sn != 0, "proof longer than the path"
        if fn & 1 or fn == sn:
            r = _h(b"\x01" + p + r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = _h(b"\x01" + r + p)
        fn >>= 1
        sn >>= 1
    assert sn == 0, "proof shorter than the path"
    return r


@pytest.fixture(scope="module")
def service(
    served_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, dict[str, str], Settings, Any]]:
    work = tmp_path_factory.mktemp("receipts-e2e")
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{work / 'decisions.db'}"}
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    keys = {
        role: create_key(log.engine, role, f"test {role}")[0]
        for role in ("application", "auditor", "admin")
    }
    keys["other application"] = create_key(log.engine, "application", "another app")[0]
    log.close()
    # the shared registry is read-only: the key and the witness folder are this test's own
    key_file = work / "state" / "ledger-signing.key"
    generate_key(key_file)
    unreachable = f"http://127.0.0.1:{free_port()}/witness"  # nothing listens there
    env = {
        "DOCKET_CHECKPOINT_SECONDS": "1",
        "DOCKET_LEDGER_KEY_FILE": str(key_file),
        "DOCKET_WITNESS": f"{work / 'witness'},{unreachable}",
    }
    with docket_server(settings, work, env=env) as url:
        yield url, keys, settings, unreachable


def _get(url: str, path: str, key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"{url}{path}", headers=headers, timeout=30)


def _decide(url: str, key: str, features: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{url}/decide",
        json={"use_case": USE_CASE, "features": features},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_a_decision_receipt_becomes_a_proof_that_verifies_with_the_public_key(
    service: tuple, engine: DecisionEngine
) -> None:
    url, keys, settings, _ = service
    features = rows_by_path(engine, USE_CASE, per_path=1)["approve"][0]

    # when: a decision
    body = _decide(url, keys["application"], features)

    # then: it carries its entry's hash at once
    receipt = body["receipt"]
    with DecisionLog(settings.database_url) as log, log.engine.connect() as db:
        stored = db.execute(
            text("SELECT seq, entry_hash FROM log_entries WHERE entry_id = :e"),
            {"e": receipt["entry_id"]},
        ).one()
    assert receipt["entry_hash"] == stored.entry_hash
    assert receipt["leaf_index"] == stored.seq - 1 == body["log_seq"] - 1
    assert receipt["proof_url"] == f"/ledger/receipts/{receipt['entry_id']}"

    # when: the public key (no API key needed) and the receipt, polled until a checkpoint
    published = _get(url, "/ledger/public-key")
    assert published.status_code == 200, published.text
    key = serialization.load_pem_public_key(published.json()["public_key_pem"].encode())
    assert isinstance(key, Ed25519PublicKey)
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert published.json()["log_id"] == hashlib.sha256(raw).hexdigest()
    full: dict[str, Any] = {}
    for _ in range(POLL_ATTEMPTS):
        r = _get(url, receipt["proof_url"], keys["application"])
        assert r.status_code == 200, r.text
        full = r.json()
        if full["covered"]:
            break
        assert full["entry_hash"] == receipt["entry_hash"] and full["proof"] is None
        time.sleep(0.5)
    assert full["covered"], f"no checkpoint covered the decision: {full}"

    # then: the signature holds over the checkpoint's fields, and the proof leads from the
    # entry hash to the signed root, which is RFC 9162's root over the stored entries
    checkpoint = full["checkpoint"]
    signed = {k: v for k, v in checkpoint.items() if k != "signature"}
    message = json.dumps(signed, sort_keys=True, separators=(",", ":")).encode()
    key.verify(base64.b64decode(checkpoint["signature"]), message)  # raises if it fails
    assert checkpoint["log_id"] == hashlib.sha256(raw).hexdigest()
    size = checkpoint["tree_size"]
    assert full["tree_size"] == size and size >= stored.seq
    proof = [bytes.fromhex(p) for p in full["proof"]]
    leaf = bytes.fromhex(receipt["entry_hash"])
    assert root_from_path(leaf, receipt["leaf_index"], size, proof).hex() == checkpoint["root_hash"]
    with DecisionLog(settings.database_url) as log, log.engine.connect() as db:
        hashes = db.execute(
            text("SELECT entry_hash FROM log_entries WHERE seq <= :n ORDER BY seq"), {"n": size}
        ).scalars()
        assert mth([bytes.fromhex(h) for h in hashes]).hex() == checkpoint["root_hash"]


def test_who_may_read_a_receipt(service: tuple, engine: DecisionEngine) -> None:
    url, keys, _, _ = service
    features = rows_by_path(engine, USE_CASE, per_path=1)["approve"][0]
    path = _decide(url, keys["application"], features)["receipt"]["proof_url"]

    assert _get(url, path, keys["auditor"]).status_code == 200
    assert _get(url, path, keys["admin"]).status_code == 200
    other = _get(url, path, keys["other application"])
    assert other.status_code == 403 and "another key" in other.json()["error"]
    assert _get(url, path).status_code == 401
    unknown = _get(url, "/ledger/receipts/no-such-entry", keys["auditor"])
    assert unknown.status_code == 404 and "'no-such-entry'" in unknown.json()["error"]


def test_an_unreachable_witness_is_reported_and_decisions_go_on(
    service: tuple, engine: DecisionEngine
) -> None:
    url, keys, _, unreachable = service
    features = rows_by_path(engine, USE_CASE, per_path=1)["approve"][0]
    _decide(url, keys["application"], features)

    ledger: dict[str, Any] = {}
    for _ in range(POLL_ATTEMPTS):
        ledger = _get(url, "/admin/status", keys["auditor"]).json()["ledger"]
        sinks = {s["sink"]: s for s in ledger["sinks"]}
        if ledger["last_checkpoint"] and sinks[unreachable]["last_error"]:
            break
        time.sleep(0.5)

    assert ledger["checkpoints"] == "signed"
    sinks = {s["sink"]: s for s in ledger["sinks"]}
    assert sinks[unreachable]["last_error"] and sinks[unreachable]["pending"] >= 1
    folder = next(s for s in ledger["sinks"] if s["kind"] == "folder")
    assert folder["last_ok"] is not None and folder["last_error"] is None
    _decide(url, keys["application"], features)  # still deciding
    assert NO_KEY not in json.dumps(ledger)
