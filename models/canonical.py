"""Canonical JSON: the one way Docket writes a value before hashing it.

Keys sorted, no whitespace (separators ``","`` and ``":"``), non-ASCII kept as
is (``ensure_ascii=False``), floats written with ``repr`` (shortest round-trip
form), and only JSON-native values (``dict`` with ``str`` keys, ``list``/``tuple``,
``str``, ``int``, ``float``, ``bool``, ``None``). NaN and infinities are refused,
so a value always reads back as the same value and hashes the same. The ledger's
entry hashes, spec hashes and audit fingerprints all use it.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CanonicalJSONError",
    "JSONDump",
    "canonical_hash",
    "canonical_json",
    "canonical_json_and_value",
    "canonical_scalar",
    "sha256_hex",
]

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


_DUMPS = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode
_LOADS = json.JSONDecoder().decode


class CanonicalJSONError(ValueError):
    """A value cannot be written as canonical JSON (NaN/inf, non-str key, foreign type)."""


class JSONDump(dict[str, Any]):
    """A dict made by pydantic's ``model_dump(mode="json")``: JSON-native by construction.

    Pydantic's JSON mode writes every key as a string and every sequence as a list, so
    the value reads back from its canonical JSON as itself: :func:`canonical_json_and_value`
    returns it as its own read-back instead of decoding the text and comparing (half the
    cost of a decision record's canonical JSON, measured). The text, and so every hash,
    is the same; NaN and infinities are still refused by the encoder.
    """


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
    return canonical_json_and_value(value)[0]


def canonical_json_and_value(value: Any) -> tuple[str, Any]:
    """Return the canonical JSON text of ``value`` and that text read back.

    The read-back is what a reader of the text gets (tuples become lists); the check
    decodes the text anyway, so a caller that needs both pays for one decode.

    Examples
    --------
    >>> canonical_json_and_value({"b": (1, 2.5)})
    ('{"b":[1,2.5]}', {'b': [1, 2.5]})
    """
    try:
        text = _DUMPS(value)
    except (ValueError, TypeError):
        # NaN/inf, a foreign type, or keys that cannot be sorted together: the walk names
        # the value; if it finds nothing, the encoder's own error stands (as it always did)
        _check(value, "$")
        raise
    # The encoder refuses NaN/inf and every type _check refuses, except one case: it
    # writes int/float/bool/None keys as strings. Such a key cannot read back equal
    # ({1: x} != {"1": x}), so a value equal to its read-back has only str keys; one
    # that is not equal (tuples read back as lists, or a bad key) gets the full walk.
    # One encode, one C decode and one C comparison replace a Python call per value.
    if type(value) is JSONDump:
        return text, value
    decoded = _LOADS(text)
    if decoded != value:
        _check(value, "$")
    return text, decoded


def canonical_scalar(value: str | int | None) -> str:
    """Return the canonical JSON of a str, an int or ``None`` (always canonical: no check).

    For splicing canonical text by hand (the ledger's entry hash).

    >>> print(canonical_scalar('é"'), canonical_scalar(7), canonical_scalar(None))
    "é\\"" 7 null
    """
    return _DUMPS(value)


def sha256_hex(text: str) -> str:
    """Return the hex SHA-256 of the UTF-8 bytes of ``text``."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical_hash(value: Any) -> str:
    """Return the hex SHA-256 of the canonical JSON of ``value``.

    Examples
    --------
    >>> canonical_hash({"a": 1}) == canonical_hash({"a": 1.0 * 1 if False else 1})
    True
    """
    return sha256_hex(canonical_json(value))
