"""Signed checkpoints of the ledger: the Ed25519 key and the checkpoint it signs.

A checkpoint (RFC 9162's "signed tree head") is the size and Merkle root of the
ledger at one moment, signed with a key that is *not* in the database: whoever
can rewrite the tables cannot sign a new root, so a copy of the checkpoint kept
elsewhere (a witness) pins every entry up to ``tree_size``.

The exact bytes signed are documented in ``docs/ledger-format.md``:
``canonical_json({"format", "log_id", "root_hash", "timestamp", "tree_size"})``
in UTF-8; ``log_id`` is the hex SHA-256 of the raw 32-byte public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from pydantic import BaseModel, ConfigDict, Field

from models.canonical import canonical_json

__all__ = [
    "CHECKPOINT_FORMAT",
    "KEY_ENV",
    "KEY_FILE_ENV",
    "KEY_FILE_NAME",
    "Checkpoint",
    "LedgerKeyError",
    "Signer",
    "checkpoint_timestamp",
    "generate_key",
    "load_public_key",
    "load_signer",
    "log_id_of",
    "parse_public_key",
]

CHECKPOINT_FORMAT = "docket-checkpoint/1"
KEY_ENV = "DOCKET_LEDGER_KEY"
KEY_FILE_ENV = "DOCKET_LEDGER_KEY_FILE"
KEY_FILE_NAME = "ledger-signing.key"

_HEX64 = r"^[0-9a-f]{64}$"
_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$"

_MESSAGE_NO_KEY = (
    "No ledger signing key: set {env} (base64 of the raw 32-byte Ed25519 private key) "
    "or create the key file {path} with `docket ledger keygen` (or point {file_env} at one)."
)
_MESSAGE_BAD_KEY = (
    "The ledger signing key from {source} is not an Ed25519 private key: expected a PEM "
    "'PRIVATE KEY' or base64 of 32 raw bytes; {error}."
)
_MESSAGE_KEY_EXISTS = (
    "The ledger signing key file {path} already exists; refusing to overwrite it "
    "(every checkpoint signed with it would become unverifiable). Move it away first."
)
_MESSAGE_BAD_PUBLIC = (
    "The ledger public key from {source} is not an Ed25519 public key: expected a PEM "
    "'PUBLIC KEY', 32 raw bytes, or their base64 or hex; {error}."
)


class LedgerKeyError(ValueError):
    """The signing or public key is missing or unreadable (the message says how to fix it)."""


def log_id_of(public_key: bytes) -> str:
    """The log id: hex SHA-256 of the raw 32-byte public key."""
    return hashlib.sha256(public_key).hexdigest()


def checkpoint_timestamp(moment: datetime | None = None) -> str:
    """ISO 8601 UTC with seconds and a ``Z`` (``2026-11-23T17:33:44Z``)."""
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Checkpoint(BaseModel):
    """A signed tree head: the ledger had ``tree_size`` entries with Merkle root ``root_hash``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["docket-checkpoint/1"]
    log_id: str = Field(pattern=_HEX64)
    tree_size: int = Field(ge=0)
    root_hash: str = Field(pattern=_HEX64)
    timestamp: str = Field(pattern=_TIMESTAMP)
    signature: str

    def signing_input(self) -> bytes:
        """The signed bytes: canonical JSON of every field but ``signature``."""
        return canonical_json(self.model_dump(exclude={"signature"})).encode("utf-8")

    def verify(self, public_key: bytes) -> bool:
        """Whether ``public_key`` (raw 32 bytes) signed this checkpoint under this log id."""
        if log_id_of(public_key) != self.log_id:
            return False
        try:
            signature = base64.b64decode(self.signature, validate=True)
            Ed25519PublicKey.from_public_bytes(public_key).verify(signature, self.signing_input())
        except (InvalidSignature, ValueError, binascii.Error):
            return False
        return True

    def to_json(self) -> str:
        """One line of canonical JSON (what the witness sinks write)."""
        return canonical_json(self.model_dump())


class Signer:
    """The ledger's Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.log_id: str = log_id_of(self.public_key)

    @classmethod
    def from_raw(cls, private_key: bytes) -> Signer:
        """From the raw 32-byte private key (seed)."""
        return cls(Ed25519PrivateKey.from_private_bytes(private_key))

    def __repr__(self) -> str:  # never the key itself
        return f"Signer(log_id={self.log_id[:16]}…)"

    def public_key_pem(self) -> str:
        """The public key as PEM ``PUBLIC KEY`` (SubjectPublicKeyInfo)."""
        return (
            self._key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )

    def private_key_pem(self) -> str:
        """The private key as unencrypted PEM ``PRIVATE KEY`` (PKCS #8)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def sign(self, message: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(message)

    def sign_checkpoint(
        self, tree_size: int, root_hash: str, timestamp: str | None = None
    ) -> Checkpoint:
        """Sign ``tree_size`` and ``root_hash`` (hex) at ``timestamp`` (default: now)."""
        unsigned = {
            "format": CHECKPOINT_FORMAT,
            "log_id": self.log_id,
            "tree_size": tree_size,
            "root_hash": root_hash,
            "timestamp": timestamp or checkpoint_timestamp(),
        }
        signature = self.sign(canonical_json(unsigned).encode("utf-8"))
        return Checkpoint.model_validate(
            {**unsigned, "signature": base64.b64encode(signature).decode("ascii")}
        )


def _signer_from_text(text: str, source: str) -> Signer:
    try:
        if "-----BEGIN" in text:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError(f"it holds a {type(key).__name__}")
            return Signer(key)
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) != 32:
            raise ValueError(f"the base64 decodes to {len(raw)} bytes, not 32")
        return Signer.from_raw(raw)
    except (ValueError, TypeError, binascii.Error) as error:
        raise LedgerKeyError(_MESSAGE_BAD_KEY.format(source=source, error=error)) from None


def key_file_path(home: Path) -> Path:
    """Where the signing key file is: ``$DOCKET_LEDGER_KEY_FILE``, else ``home/ledger-signing.key``."""
    configured = os.environ.get(KEY_FILE_ENV)
    return Path(configured) if configured else Path(home) / KEY_FILE_NAME


def load_signer(home: Path) -> Signer:
    """The signing key from ``$DOCKET_LEDGER_KEY``, else from the key file.

    Raises :class:`LedgerKeyError` saying how to create one when there is none.
    """
    from_env = os.environ.get(KEY_ENV)
    if from_env:
        return _signer_from_text(from_env, f"${KEY_ENV}")
    path = key_file_path(home)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise LedgerKeyError(
            _MESSAGE_NO_KEY.format(env=KEY_ENV, path=path, file_env=KEY_FILE_ENV)
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise LedgerKeyError(_MESSAGE_BAD_KEY.format(source=path, error=error)) from None
    return _signer_from_text(text, str(path))


def generate_key(path: Path) -> Signer:
    """Create a new key in ``path`` (PEM, mode 0600) and ``path.pub`` beside it; never overwrites."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    signer = Signer(Ed25519PrivateKey.generate())
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise LedgerKeyError(_MESSAGE_KEY_EXISTS.format(path=path)) from None
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(signer.private_key_pem())
    public = path.with_name(path.name + ".pub")
    if not public.exists():
        public.write_text(signer.public_key_pem(), encoding="ascii")
    return signer


def parse_public_key(data: bytes, source: str = "the input") -> bytes:
    """The raw 32-byte public key from PEM, raw bytes, base64 or hex."""
    try:
        if b"-----BEGIN" in data:
            if b"PRIVATE KEY" in data:
                raise ValueError(
                    "it is a private key; pass the public key (docket ledger public-key)"
                )
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError(f"it holds a {type(key).__name__}")
            return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        if len(data) == 32:
            return data
        text = data.decode("ascii").strip()
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise ValueError(f"it decodes to {len(raw)} bytes, not 32")
        return raw
    except (ValueError, UnicodeDecodeError, binascii.Error) as error:
        raise LedgerKeyError(_MESSAGE_BAD_PUBLIC.format(source=source, error=error)) from None


def load_public_key(path: Path) -> bytes:
    """The raw 32-byte public key in the file ``path`` (see :func:`parse_public_key`)."""
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        raise LedgerKeyError(_MESSAGE_BAD_PUBLIC.format(source=path, error=error)) from None
    return parse_public_key(data, str(path))
