"""Canonical JSON and the hashes that chain the decision log.

Every hash in the log is SHA-256 over the UTF-8 bytes of *canonical JSON*:
keys sorted, no whitespace (separators ``","`` and ``":"``), non-ASCII kept as
is (``ensure_ascii=False``), floats written with ``repr`` (shortest round-trip
form), and only JSON-native values (``dict`` with ``str`` keys, ``list``/``tuple``,
``str``, ``int``, ``float``, ``bool``, ``None``). NaN and infinities are refused,
so a value always reads back as the same value and hashes the same.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENTRY_HASH_FIELDS",
    "GENESIS_HASH",
    "CanonicalJSONError",
    "canonical_json",
    "compute_entry_hash",
    "compute_payload_hash",
    "sha256_hex",
]

#: ``prev_hash`` of the first entry (seq 1).
GENESIS_HASH = "0" * 64

#: The fields an entry hash covers, in the order they are documented.
ENTRY_HASH_FIELDS = (
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

_MESSAGE_NOT_FINITE = (
    "Canonical JSON must hold finite numbers only; the value at {path} is {value!r}. "
    "Replace NaN/inf with null or a string before logging."
)
_MESSAGE_BAD_KEY = (
    "Canonical JSON object keys must be str; the key at {path} is {key!r} of type {type}."
)
_MESSAGE_BAD_TYPE = (
    "Canonical JSON accepts dict, list, tuple, str, int, float, bool and None; "
    "the value at {path} is of type {type}. Convert it (e.g. numpy scalars with .item())."
)
_MESSAGE_BAD_FIELDS = "An entry hash covers exactly the fields {expected}; got {got}."


class CanonicalJSONError(ValueError):
    """A value cannot be written as canonical JSON (NaN/inf, non-str key, foreign type)."""


def _check(value: Any, path: str) -> None:
    """Raise :class:`CanonicalJSONError` naming the first non-canonical value under ``path``."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CanonicalJSONError(_MESSAGE_NOT_FINITE.format(path=path, value=value))
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(
                    _MESSAGE_BAD_KEY.format(path=path, key=key, type=type(key).__name__)
                )
            _check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check(item, f"{path}[{index}]")
        return
    raise CanonicalJSONError(_MESSAGE_BAD_TYPE.format(path=path, type=type(value).__name__))


def canonical_json(value: Any) -> str:
    """Return the canonical JSON text of ``value``.

    Examples
    --------
    >>> canonical_json({"b": 1, "a": [0.1, "é", None]})
    '{"a":[0.1,"é",null],"b":1}'
    """
    _check(value, "$")
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def sha256_hex(text: str) -> str:
    """Return the hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def compute_payload_hash(payload: Any, salt: str) -> str:
    """Return the hash of a personal payload, salted so it cannot be guessed once erased.

    The hash is ``sha256(canonical_json({"payload": payload, "salt": salt}))``. The
    salt is stored beside the payload and erased with it: after erasure the hash in
    the chain still verifies the chain, but no longer confirms a guessed payload.

    Examples
    --------
    >>> len(compute_payload_hash({"income": 1200}, salt="00" * 16))
    64
    """
    return sha256_hex(canonical_json({"payload": payload, "salt": salt}))


def compute_entry_hash(fields: Mapping[str, Any]) -> str:
    """Return ``sha256(canonical_json(fields))`` for the fields in :data:`ENTRY_HASH_FIELDS`.

    ``digest`` must be the decoded object, not its stored JSON text.

    Examples
    --------
    >>> fields = dict.fromkeys(ENTRY_HASH_FIELDS)
    >>> compute_entry_hash(fields) == compute_entry_hash(dict(reversed(fields.items())))
    True
    """
    if set(fields) != set(ENTRY_HASH_FIELDS):
        raise ValueError(
            _MESSAGE_BAD_FIELDS.format(expected=sorted(ENTRY_HASH_FIELDS), got=sorted(fields))
        )
    return sha256_hex(canonical_json(dict(fields)))
