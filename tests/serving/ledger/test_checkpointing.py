"""The service's checkpointing: writes when the ledger grew, never raises for a sink,
serves without a key, and gives receipts against the newest checkpoint of this log."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from serving.ledger import DecisionLog, LogEntry
from serving.ledger.checkpointing import (
    NO_KEY_STATUS,
    Checkpointing,
    checkpoint_seconds,
)
from serving.ledger.signing import Signer
from serving.ledger.witness import WitnessSinks


def append(log: DecisionLog, n: int) -> list[LogEntry]:
    return [log.append("decision", "credit-eligibility", {"i": i}) for i in range(n)]


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/witness"


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def test_without_a_key_it_serves_and_says_how_to_make_one(
    log: DecisionLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: no key in the environment, no key file
    monkeypatch.delenv("DOCKET_LEDGER_KEY", raising=False)
    monkeypatch.delenv("DOCKET_WITNESS", raising=False)
    monkeypatch.setenv("DOCKET_LEDGER_KEY_FILE", str(tmp_path / "absent.key"))
    (entry,) = append(log, 1)

    # when
    checkpointing = Checkpointing.from_env(log, tmp_path)

    # then
    status = checkpointing.status()
    assert status["checkpoints"] == "no checkpoints: no ledger key (docket ledger keygen)"
    assert "absent.key" in status["detail"]
    assert checkpointing.write() is None
    receipt = checkpointing.receipt(entry)
    assert not receipt.covered and receipt.detail == NO_KEY_STATUS
    assert checkpointing.public_key() is None


def test_an_unreachable_sink_is_reported_never_raised(
    log: DecisionLog, tmp_path: Path, signer: Signer
) -> None:
    # given: a folder and a URL nobody listens on
    url = closed_port_url()
    checkpointing = Checkpointing(log, signer, WitnessSinks([tmp_path / "witness", url]))
    (entry,) = append(log, 1)

    # when
    written = checkpointing.write()

    # then: signed, in the folder, the URL's failure in the status; the receipt is covered
    assert written is not None and written.tree_size == 1
    assert list((tmp_path / "witness").glob("checkpoint-*.json"))
    sinks = {s["sink"]: s for s in checkpointing.status()["sinks"]}
    assert sinks[url]["last_error"] and sinks[url]["pending"] == 1
    assert sinks[str(tmp_path / "witness")]["last_error"] is None
    assert checkpointing.receipt(entry).verify(signer.public_key)


def test_a_checkpoint_is_written_only_when_the_ledger_grew(
    log: DecisionLog, tmp_path: Path, signer: Signer
) -> None:
    checkpointing = Checkpointing(log, signer, WitnessSinks([tmp_path / "witness"]))
    append(log, 2)
    first = checkpointing.write()
    assert first is not None and first.tree_size == 2
    assert checkpointing.write() is None
    append(log, 1)
    later = checkpointing.write()
    assert later is not None and later.tree_size == 3
    assert checkpointing.status()["last_checkpoint"]["tree_size"] == 3


def test_receipts_use_the_newest_checkpoint_another_worker_wrote(
    log: DecisionLog, tmp_path: Path, signer: Signer
) -> None:
    # given: two workers sharing the key and the witness folder; only the second writes
    folder = tmp_path / "witness"
    reader = Checkpointing(log, signer, WitnessSinks([folder]))
    writer = Checkpointing(log, signer, WitnessSinks([folder]))
    entries = append(log, 3)
    assert not reader.receipt(entries[2]).covered
    written = writer.write()

    # when
    receipt = reader.receipt(entries[2])

    # then
    assert receipt.covered and receipt.checkpoint == written
    assert receipt.verify(signer.public_key)


def test_a_checkpoint_of_another_key_in_the_folder_is_ignored(
    log: DecisionLog, tmp_path: Path, signer: Signer
) -> None:
    folder = tmp_path / "witness"
    stranger = Checkpointing(log, Signer(Ed25519PrivateKey.generate()), WitnessSinks([folder]))
    (entry,) = append(log, 1)
    assert stranger.write() is not None
    ours = Checkpointing(log, signer, WitnessSinks([folder]))
    assert ours.latest() is None
    assert not ours.receipt(entry).covered


@pytest.mark.parametrize(
    ("value", "expected"), [(None, 60.0), ("", 60.0), ("2.5", 2.5), ("0", 0.0)]
)
def test_the_checkpoint_interval(value: str | None, expected: float) -> None:
    env = {} if value is None else {"DOCKET_CHECKPOINT_SECONDS": value}
    assert checkpoint_seconds(env) == expected


@pytest.mark.parametrize("value", ["soon", "-1", "nan", "inf"])
def test_a_bad_checkpoint_interval_is_named(value: str) -> None:
    with pytest.raises(ValueError, match=rf"DOCKET_CHECKPOINT_SECONDS .*got '{value}'"):
        checkpoint_seconds({"DOCKET_CHECKPOINT_SECONDS": value})
