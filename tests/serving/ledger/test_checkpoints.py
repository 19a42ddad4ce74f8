"""Signed checkpoints: the key, the checkpoint format, witness sinks, and the test vectors.

Expected values come from outside the code under test: RFC 8032's Ed25519 test
vector, RFC 9162's tree hash written out naively here, and canonical JSON written
by hand.
"""

from __future__ import annotations

import base64
import hashlib
import json
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from serving.ledger import DecisionLog
from serving.ledger.checkpoints import (
    CheckpointProblem,
    CheckpointWriter,
    LedgerKeyError,
    Signer,
    WitnessSinks,
    generate_key,
    latest_checkpoint,
    ledger_tree,
    load_signer,
    make_checkpoint,
    publish_checkpoint,
    read_checkpoints,
    verify_checkpoints,
)
from serving.ledger.merkle import MerkleTree
from serving.ledger.witness import read_witnessed_leaves

# RFC 8032 section 7.1, TEST 1
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_EMPTY_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
VECTORS = Path(__file__).resolve().parents[3] / "docs" / "ledger-test-vectors.json"


def naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH, straight from the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + naive_root(leaves[:k]) + naive_root(leaves[k:])).digest()


@pytest.fixture
def rfc_signer() -> Signer:
    return Signer.from_raw(RFC8032_SECRET)


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCKET_LEDGER_KEY", "DOCKET_LEDGER_KEY_FILE", "DOCKET_WITNESS"):
        monkeypatch.delenv(name, raising=False)


def _fill(log: DecisionLog, n: int) -> None:
    for i in range(n):
        log.append("decision", "credit-eligibility", {"i": i})


# -- the key and the checkpoint ---------------------------------------------------------


def test_the_signer_is_rfc8032_ed25519(rfc_signer: Signer) -> None:
    assert rfc_signer.public_key == RFC8032_PUBLIC
    assert rfc_signer.sign(b"") == RFC8032_EMPTY_SIGNATURE
    assert rfc_signer.log_id == hashlib.sha256(RFC8032_PUBLIC).hexdigest()


def test_the_signed_bytes_are_the_canonical_json_of_the_fields_but_the_signature(
    rfc_signer: Signer,
) -> None:
    root = "ab" * 32
    checkpoint = rfc_signer.sign_checkpoint(7, root, "2026-01-02T03:04:05Z")
    expected = (
        '{"format":"docket-checkpoint/1","log_id":"'
        + rfc_signer.log_id
        + '","root_hash":"'
        + root
        + '","timestamp":"2026-01-02T03:04:05Z","tree_size":7}'
    ).encode()

    assert checkpoint.signing_input() == expected
    # verified with the library directly, not Checkpoint.verify
    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(
        base64.b64decode(checkpoint.signature), expected
    )
    assert checkpoint.verify(RFC8032_PUBLIC)


def test_a_changed_field_or_another_key_fails_verification(rfc_signer: Signer) -> None:
    checkpoint = rfc_signer.sign_checkpoint(7, "ab" * 32, "2026-01-02T03:04:05Z")
    other = Signer.from_raw(bytes(32))

    assert not checkpoint.model_copy(update={"tree_size": 8}).verify(RFC8032_PUBLIC)
    assert not checkpoint.model_copy(update={"root_hash": "cd" * 32}).verify(RFC8032_PUBLIC)
    assert not checkpoint.verify(other.public_key)
    assert not checkpoint.model_copy(update={"signature": "not base64!"}).verify(RFC8032_PUBLIC)
    # a checkpoint re-signed by another key under this log's id is refused too
    forged = other.sign_checkpoint(7, "ab" * 32, "2026-01-02T03:04:05Z")
    assert not forged.model_copy(update={"log_id": checkpoint.log_id}).verify(RFC8032_PUBLIC)


def test_a_malformed_checkpoint_is_refused_naming_the_field(rfc_signer: Signer) -> None:
    data = rfc_signer.sign_checkpoint(1, "ab" * 32).model_dump()

    with pytest.raises(ValidationError, match="root_hash"):
        type(rfc_signer.sign_checkpoint(1, "ab" * 32)).model_validate({**data, "root_hash": "XYZ"})
    with pytest.raises(ValidationError, match="tree_size"):
        type(rfc_signer.sign_checkpoint(1, "ab" * 32)).model_validate({**data, "tree_size": -1})


# -- the key file -----------------------------------------------------------------------


def test_keygen_writes_a_private_file_and_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "ledger-signing.key"
    signer = generate_key(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_signer(tmp_path).public_key == signer.public_key
    assert Path(f"{path}.pub").read_text() == signer.public_key_pem()
    with pytest.raises(LedgerKeyError, match="refusing to overwrite"):
        generate_key(path)
    assert load_signer(tmp_path).public_key == signer.public_key


def test_the_key_comes_from_the_environment_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generate_key(tmp_path / "ledger-signing.key")
    monkeypatch.setenv("DOCKET_LEDGER_KEY", base64.b64encode(RFC8032_SECRET).decode())

    assert load_signer(tmp_path).public_key == RFC8032_PUBLIC


def test_the_key_file_can_be_elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "vault" / "docket.key"
    signer = generate_key(elsewhere)
    monkeypatch.setenv("DOCKET_LEDGER_KEY_FILE", str(elsewhere))

    assert load_signer(tmp_path / "home").public_key == signer.public_key


def test_no_key_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(LedgerKeyError, match="docket ledger keygen"):
        load_signer(tmp_path)


def test_a_bad_key_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKET_LEDGER_KEY", base64.b64encode(b"short").decode())
    with pytest.raises(LedgerKeyError, match=r"DOCKET_LEDGER_KEY.*5 bytes, not 32"):
        load_signer(tmp_path)


# -- the tree and the checkpoint of a ledger --------------------------------------------


def test_the_tree_is_rfc9162_over_the_entry_hashes_in_seq_order(
    log: DecisionLog, rfc_signer: Signer
) -> None:
    _fill(log, 7)
    hashes = [bytes.fromhex(e.entry_hash) for e in log.iter_entries()]

    tree = ledger_tree(log)
    checkpoint = make_checkpoint(log, rfc_signer)

    assert tree.root() == naive_root(hashes)
    assert ledger_tree(log, 4).root() == naive_root(hashes[:4])
    assert (checkpoint.tree_size, checkpoint.root_hash) == (7, naive_root(hashes).hex())
    assert checkpoint.verify(RFC8032_PUBLIC)


def test_the_empty_ledger_has_the_hash_of_nothing_as_root(
    log: DecisionLog, rfc_signer: Signer
) -> None:
    checkpoint = make_checkpoint(log, rfc_signer)

    assert checkpoint.tree_size == 0
    assert checkpoint.root_hash == hashlib.sha256(b"").hexdigest()


def test_the_writer_extends_its_tree_and_skips_idle_checkpoints(
    log: DecisionLog, rfc_signer: Signer, tmp_path: Path
) -> None:
    writer = CheckpointWriter(log, rfc_signer, WitnessSinks([tmp_path / "w"]))
    _fill(log, 3)
    first, _ = writer.checkpoint()
    idle, _ = writer.checkpoint()
    _fill(log, 4)
    second, results = writer.checkpoint()

    hashes = [bytes.fromhex(e.entry_hash) for e in log.iter_entries()]
    assert first is not None and first.tree_size == 3
    assert idle is None
    assert second is not None and second.root_hash == naive_root(hashes).hex()
    assert [r.ok for r in results] == [True]
    assert [c.tree_size for c in read_checkpoints(tmp_path / "w")] == [3, 7]
    assert read_witnessed_leaves(tmp_path / "w") == [h.hex() for h in hashes]


# -- witness sinks ----------------------------------------------------------------------


def test_the_folder_sink_keeps_every_checkpoint_and_the_entry_hashes(
    log: DecisionLog, rfc_signer: Signer, tmp_path: Path
) -> None:
    sinks = WitnessSinks.from_env(tmp_path)
    _fill(log, 2)
    publish_checkpoint(log, rfc_signer, sinks)
    _fill(log, 3)
    last, results = publish_checkpoint(log, rfc_signer, sinks)

    folder = tmp_path / "checkpoints"
    assert sinks.default_folder == folder
    assert results[0].ok and results[0].sink == str(folder)
    assert sorted(p.name for p in folder.glob("leaves-*")) == [
        "leaves-000000000001-000000000002.txt",
        "leaves-000000000003-000000000005.txt",
    ]
    assert [c.tree_size for c in read_checkpoints(folder)] == [2, 5]
    assert latest_checkpoint(folder) == last
    assert read_witnessed_leaves(folder) == [e.entry_hash for e in log.iter_entries()]


def test_the_file_sink_appends_one_line_per_checkpoint(
    rfc_signer: Signer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "witness" / "checkpoints.jsonl"
    monkeypatch.setenv("DOCKET_WITNESS", f"{target}, {tmp_path / 'folder'}")
    sinks = WitnessSinks.from_env(tmp_path)
    first = rfc_signer.sign_checkpoint(1, "ab" * 32, "2026-01-01T00:00:00Z")
    second = rfc_signer.sign_checkpoint(2, "cd" * 32, "2026-01-01T00:01:00Z")

    sinks.publish(second)
    sinks.publish(first)

    lines = target.read_text().splitlines()
    assert [json.loads(line)["tree_size"] for line in lines] == [2, 1]
    assert read_checkpoints(target) == [first, second]  # ordered by tree size
    assert sinks.default_folder == tmp_path / "folder"


class _Witness(BaseHTTPRequestHandler):
    """Refuses the first POST, accepts the rest."""

    received: list[dict[str, object]]
    refuse: int

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        if type(self).refuse > 0:
            type(self).refuse -= 1
            self.send_response(503)
        else:
            type(self).received.append(json.loads(body))
            self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def witness_url() -> Iterator[tuple[str, type[_Witness]]]:
    handler = type("Handler", (_Witness,), {"received": [], "refuse": 1})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/checkpoints", handler
    server.shutdown()
    server.server_close()


def test_a_failed_post_is_reported_queued_and_retried(
    rfc_signer: Signer, tmp_path: Path, witness_url: tuple[str, type[_Witness]]
) -> None:
    url, handler = witness_url
    sinks = WitnessSinks([url, tmp_path / "folder"])
    first = rfc_signer.sign_checkpoint(1, "ab" * 32, "2026-01-01T00:00:00Z")
    second = rfc_signer.sign_checkpoint(2, "cd" * 32, "2026-01-01T00:01:00Z")

    refused = sinks.publish(first)
    status = sinks.status()
    delivered = sinks.publish(second)

    assert [r.ok for r in refused] == [False, True]
    assert refused[0].error is not None and "503" in refused[0].error
    assert status[0]["pending"] == 1 and "503" in str(status[0]["last_error"])
    assert status[1]["pending"] == 0 and status[1]["last_ok"] is not None
    assert [r.ok for r in delivered] == [True, True]
    assert handler.received == [first.model_dump(), second.model_dump()]  # in order
    assert sinks.status()[0]["pending"] == 0


def test_an_unreachable_sink_never_raises(rfc_signer: Signer, tmp_path: Path) -> None:
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    sinks = WitnessSinks(["http://127.0.0.1:9/nothing-listens", blocked, tmp_path / "ok"])

    results = sinks.publish(rfc_signer.sign_checkpoint(1, "ab" * 32))

    assert [r.ok for r in results] == [False, False, True]
    assert all(r.error for r in results[:2])
    assert [s["pending"] for s in sinks.status()] == [1, 1, 0]


# -- verification against checkpoints ---------------------------------------------------


def test_a_checkpoint_signed_by_another_key_fails(log: DecisionLog, rfc_signer: Signer) -> None:
    _fill(log, 3)
    forged = make_checkpoint(log, Signer.from_raw(bytes(32)))

    result = verify_checkpoints(log, [make_checkpoint(log, rfc_signer), forged], RFC8032_PUBLIC)

    assert not result.ok and result.problem == CheckpointProblem.BAD_SIGNATURE


def test_two_signed_roots_for_one_size_are_a_fork(log: DecisionLog, rfc_signer: Signer) -> None:
    _fill(log, 3)
    honest = make_checkpoint(log, rfc_signer)
    other = rfc_signer.sign_checkpoint(3, "ab" * 32, "2026-01-01T00:00:00Z")

    result = verify_checkpoints(log, [honest, other], RFC8032_PUBLIC)

    assert not result.ok and result.problem == CheckpointProblem.FORKED


def test_forged_segments_are_not_trusted_to_name_an_entry(
    log: DecisionLog, rfc_signer: Signer
) -> None:
    _fill(log, 4)
    checkpoint = make_checkpoint(log, rfc_signer)
    leaves = [bytes.fromhex(e.entry_hash) for e in log.iter_entries()]
    changed = [leaves[0], hashlib.sha256(b"x").digest(), *leaves[2:]]
    lying_segments = ["00" * 32] * 4  # they do not hash to the signed root

    result = verify_checkpoints(changed, [checkpoint], RFC8032_PUBLIC, witnessed=lying_segments)

    assert not result.ok and not result.exact
    assert result.differing_range == (1, 4)


# -- the published test vectors ---------------------------------------------------------


def test_the_published_vectors_hold_by_the_documented_rules() -> None:
    v = json.loads(VECTORS.read_text(encoding="utf-8"))
    assert bytes.fromhex(v["public_key_hex"]) == RFC8032_PUBLIC
    assert v["log_id"] == hashlib.sha256(RFC8032_PUBLIC).hexdigest()
    assert v["empty_root"] == hashlib.sha256(b"").hexdigest()
    previous = "0" * 64
    for entry in v["entries"]:
        written = json.dumps(
            entry["fields"], sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        assert written == entry["canonical_json"]
        assert hashlib.sha256(written.encode()).hexdigest() == entry["entry_hash"]
        assert entry["fields"]["prev_hash"] == previous
        leaf = hashlib.sha256(b"\x00" + bytes.fromhex(entry["entry_hash"])).hexdigest()
        assert leaf == entry["leaf_hash"]
        previous = entry["entry_hash"]
    leaves = [bytes.fromhex(e["entry_hash"]) for e in v["entries"]]
    for size, root in v["roots"].items():
        assert naive_root(leaves[: int(size)]).hex() == root
    checkpoint = v["checkpoint"]
    signed = json.dumps(
        {k: checkpoint[k] for k in ("format", "log_id", "root_hash", "timestamp", "tree_size")},
        sort_keys=True,
        separators=(",", ":"),
    )
    assert signed == v["checkpoint_signing_input"]
    assert checkpoint["root_hash"] == v["roots"]["5"]
    Ed25519PublicKey.from_public_bytes(RFC8032_PUBLIC).verify(
        base64.b64decode(checkpoint["signature"]), signed.encode()
    )


def test_docket_reproduces_the_published_vectors(rfc_signer: Signer) -> None:
    v = json.loads(VECTORS.read_text(encoding="utf-8"))
    tree = MerkleTree([bytes.fromhex(e["entry_hash"]) for e in v["entries"]])
    for case in v["inclusion_proofs"]:
        proof = tree.inclusion_proof(case["leaf_index"], case["tree_size"])
        assert [p.hex() for p in proof] == case["proof"]
    for case in v["consistency_proofs"]:
        proof = tree.consistency_proof(case["old_size"], case["new_size"])
        assert [p.hex() for p in proof] == case["proof"]
    cp = v["checkpoint"]
    again = rfc_signer.sign_checkpoint(cp["tree_size"], cp["root_hash"], cp["timestamp"])
    assert again.model_dump() == cp  # Ed25519 signatures are deterministic
