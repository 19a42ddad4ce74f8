#!/usr/bin/env python3
"""Verify a Docket ledger receipt or checkpoint without any Docket code.

Needs only the Python standard library and ``cryptography`` (for Ed25519). The
formats are those of ``docs/ledger-format.md``:

- a checkpoint is ``{"format": "docket-checkpoint/1", "log_id", "tree_size",
  "root_hash", "timestamp", "signature"}``; the signature (base64, Ed25519) covers
  the UTF-8 canonical JSON (sorted keys, no spaces) of every field but ``signature``,
  and ``log_id`` is the hex SHA-256 of the raw 32-byte public key;
- a receipt is ``{"entry_hash", "leaf_index", "tree_size", "proof": [hex, ...],
  "checkpoint": {...}}`` (other fields are ignored); the proof is the RFC 9162
  inclusion proof of leaf ``SHA-256(0x00 || entry_hash bytes)`` in the tree whose
  root the checkpoint signs.

Usage::

    python tools/verify_receipt.py receipt.json --public-key ledger.pub
    python tools/verify_receipt.py receipt.json --public-key ledger.pub --entry entry.json
    python tools/verify_receipt.py --checkpoint checkpoint.json --public-key ledger.pub

``--entry`` takes the entry's hashed fields (seq, entry_id, kind, use_case,
subject_id, recorded_at, digest, payload_hash, prev_hash) and checks that they
hash to the receipt's ``entry_hash``. The public key may be PEM, 32 raw bytes, or
their hex or base64. Exit status: 0 valid, 1 invalid (the reason on stderr),
2 unreadable input.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CHECKPOINT_FORMAT = "docket-checkpoint/1"
CHECKPOINT_FIELDS = ("format", "log_id", "tree_size", "root_hash", "timestamp")
ENTRY_FIELDS = (
    "seq",
    "entry_id",
    "kind",
    "use_case",
    "subject_id",
    "recorded_at",
    "digest",
    "payload_hash",
    "prev_hash",
)


class Invalid(Exception):
    """The receipt or checkpoint does not verify (the message says why)."""


class Unreadable(Exception):
    """An input file cannot be read or parsed."""


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, non-ASCII kept, no NaN."""
    text = json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return text.encode("utf-8")


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion(entry_hash: bytes, index: int, size: int, proof: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.3.2."""
    if not 0 <= index < size:
        raise Invalid(f"leaf_index {index} is outside a tree of {size} entries")
    fn, sn = index, size - 1
    r = leaf_hash(entry_hash)
    for p in proof:
        if sn == 0:
            raise Invalid("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise Invalid("the inclusion proof is shorter than the tree is deep")
    return r


def _hex32(value: Any, name: str) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except (TypeError, ValueError):
        raise Invalid(f"{name} must be 64 hex digits; got {value!r}") from None
    if len(raw) != 32:
        raise Invalid(f"{name} must be 64 hex digits; got {value!r}")
    return raw


def parse_public_key(data: bytes) -> bytes:
    """The raw 32-byte Ed25519 public key from PEM, raw bytes, hex or base64."""
    if b"-----BEGIN" in data:
        key = serialization.load_pem_public_key(data)
        if not isinstance(key, Ed25519PublicKey):
            raise Unreadable(f"the public key is a {type(key).__name__}, not Ed25519")
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    if len(data) == 32:
        return data
    text = data.decode("ascii").strip()
    raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    if len(raw) != 32:
        raise Unreadable(f"the public key decodes to {len(raw)} bytes, not 32")
    return raw


def verify_checkpoint(checkpoint: Any, public_key: bytes) -> None:
    """Raise :class:`Invalid` unless ``public_key`` signed ``checkpoint``."""
    if not isinstance(checkpoint, dict):
        raise Invalid("the checkpoint must be a JSON object")
    missing = [name for name in (*CHECKPOINT_FIELDS, "signature") if name not in checkpoint]
    if missing:
        raise Invalid(f"the checkpoint lacks {missing}")
    if checkpoint["format"] != CHECKPOINT_FORMAT:
        raise Invalid(
            f"checkpoint format must be {CHECKPOINT_FORMAT!r}; got {checkpoint['format']!r}"
        )
    log_id = hashlib.sha256(public_key).hexdigest()
    if checkpoint["log_id"] != log_id:
        raise Invalid(
            f"the checkpoint's log_id {checkpoint['log_id']} is not this public key's ({log_id})"
        )
    signed = canonical_json({name: checkpoint[name] for name in CHECKPOINT_FIELDS})
    try:
        signature = base64.b64decode(checkpoint["signature"], validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, signed)
    except (InvalidSignature, ValueError, TypeError, binascii.Error):
        raise Invalid("the checkpoint's signature does not verify with this public key") from None


def verify_receipt(receipt: Any, public_key: bytes, entry: Any = None) -> None:
    """Raise :class:`Invalid` unless the receipt proves its entry under a signed checkpoint."""
    if not isinstance(receipt, dict):
        raise Invalid("the receipt must be a JSON object")
    if receipt.get("covered") is False or receipt.get("checkpoint") is None:
        raise Invalid("the receipt is not covered by a checkpoint yet: fetch it again later")
    checkpoint = receipt["checkpoint"]
    verify_checkpoint(checkpoint, public_key)
    entry_hash = _hex32(receipt.get("entry_hash"), "entry_hash")
    if entry is not None:
        if not isinstance(entry, dict) or set(entry) != set(ENTRY_FIELDS):
            raise Invalid(f"--entry must hold exactly the fields {list(ENTRY_FIELDS)}")
        computed = hashlib.sha256(canonical_json(entry)).hexdigest()
        if computed != receipt["entry_hash"]:
            raise Invalid(f"the entry hashes to {computed}, not the receipt's entry_hash")
    size, index = receipt.get("tree_size"), receipt.get("leaf_index")
    if not isinstance(size, int) or not isinstance(index, int):
        raise Invalid("tree_size and leaf_index must be integers")
    if size != checkpoint["tree_size"]:
        raise Invalid(
            f"the proof is for a tree of {size} entries but the checkpoint signs "
            f"{checkpoint['tree_size']}"
        )
    proof = receipt.get("proof")
    if not isinstance(proof, list):
        raise Invalid("proof must be a list of hex hashes")
    path = [_hex32(item, f"proof[{i}]") for i, item in enumerate(proof)]
    root = root_from_inclusion(entry_hash, index, size, path)
    if root != _hex32(checkpoint["root_hash"], "root_hash"):
        raise Invalid(
            f"the proof leads to root {root.hex()}, not the signed root {checkpoint['root_hash']}"
        )


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise Unreadable(f"{path}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("receipt", nargs="?", type=Path, help="receipt JSON file")
    parser.add_argument("--checkpoint", type=Path, help="verify this checkpoint JSON alone")
    parser.add_argument("--public-key", type=Path, required=True, help="PEM or raw public key")
    parser.add_argument("--entry", type=Path, help="the entry's hashed fields (JSON)")
    args = parser.parse_args(argv)
    if (args.receipt is None) == (args.checkpoint is None):
        parser.error("give either a receipt file or --checkpoint FILE")
    try:
        try:
            public_key = parse_public_key(args.public_key.read_bytes())
        except (OSError, ValueError) as error:
            raise Unreadable(f"{args.public_key}: {error}") from None
        if args.checkpoint is not None:
            checkpoint = _read_json(args.checkpoint)
            verify_checkpoint(checkpoint, public_key)
            print(
                f"valid: checkpoint of tree size {checkpoint['tree_size']}, root "
                f"{checkpoint['root_hash']}, signed at {checkpoint['timestamp']}"
            )
            return 0
        receipt = _read_json(args.receipt)
        entry = _read_json(args.entry) if args.entry is not None else None
        verify_receipt(receipt, public_key, entry)
        print(
            f"valid: entry {receipt['entry_hash']} is leaf {receipt['leaf_index']} of the "
            f"{receipt['tree_size']}-entry ledger signed at {receipt['checkpoint']['timestamp']}"
        )
        return 0
    except Invalid as error:
        print(f"invalid: {error}", file=sys.stderr)
        return 1
    except Unreadable as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
