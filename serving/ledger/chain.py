"""The hashes that chain the decision log.

Every hash in the log is SHA-256 over the UTF-8 bytes of *canonical JSON*
(:mod:`models.canonical`, the one scheme Docket hashes with).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from models.canonical import CanonicalJSONError, canonical_json, canonical_scalar, sha256_hex

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = [
    "ENTRY_HASH_FIELDS",
    "GENESIS_HASH",
    "CanonicalJSONError",
    "canonical_json",
    "compute_entry_hash",
    "compute_payload_hash",
    "entry_hash_prefix",
    "entry_hash_with_digest_text",
    "finish_entry_hash",
    "payload_hash_of_text",
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

_MESSAGE_BAD_FIELDS = "An entry hash covers exactly the fields {expected}; got {got}."


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


# The two functions below give the same hashes from canonical text already written (the
# ledger writes the digest's and the payload's canonical JSON anyway), so an append need
# not encode the digest and the payload a second time to hash them. Canonical JSON sorts
# keys, and both wrappers are objects whose keys are fixed, so the text is spliced.


def payload_hash_of_text(payload_text: str, salt: str) -> str:
    """:func:`compute_payload_hash` of the payload whose canonical JSON is ``payload_text``.

    ``payload_text`` must be ``canonical_json(payload)`` (not re-checked here).

    Examples
    --------
    >>> payload = {"income": 1200}
    >>> payload_hash_of_text(canonical_json(payload), "00" * 16) == compute_payload_hash(
    ...     payload, "00" * 16
    ... )
    True
    """
    # {"payload":...,"salt":...}: "payload" sorts before "salt"
    return sha256_hex('{"payload":' + payload_text + ',"salt":' + canonical_json(salt) + "}")


def entry_hash_with_digest_text(fields: Mapping[str, Any], digest_text: str) -> str:
    """:func:`compute_entry_hash` of ``fields`` whose ``digest`` has the canonical JSON
    ``digest_text`` (``fields["digest"]`` itself is not read).

    Examples
    --------
    >>> fields = {**dict.fromkeys(ENTRY_HASH_FIELDS), "digest": {"b": 1, "a": 2}}
    >>> entry_hash_with_digest_text(fields, canonical_json(fields["digest"])) == (
    ...     compute_entry_hash(fields)
    ... )
    True
    """
    if set(fields) != set(ENTRY_HASH_FIELDS):
        raise ValueError(
            _MESSAGE_BAD_FIELDS.format(expected=sorted(ENTRY_HASH_FIELDS), got=sorted(fields))
        )
    # "digest" is the first of the sorted keys, and there are others after it
    rest = canonical_json({k: v for k, v in fields.items() if k != "digest"})
    return sha256_hex('{"digest":' + digest_text + "," + rest[1:])


# An append knows every hashed field but prev_hash, recorded_at and seq before it takes
# the writer lock. The canonical text of the fields is, keys sorted: digest, entry_id,
# kind, payload_hash | prev_hash, recorded_at, seq, subject_id, use_case; the part
# before "|" is hashed before the lock (entry_hash_prefix), and under the lock a copy of
# that SHA-256 state takes the rest (finish_entry_hash): a few hundred bytes, not the
# whole digest, while every other writer waits.


def entry_hash_prefix(
    digest_text: str, entry_id: str, kind: str, payload_hash: str | None
) -> _Hash:
    """The SHA-256 state after the fields of an entry hash that sort before ``prev_hash``.

    ``digest_text`` must be ``canonical_json(digest)``. Pass the state to
    :func:`finish_entry_hash` (it is copied there, not changed).
    """
    return hashlib.sha256(
        (
            '{"digest":'
            + digest_text
            + ',"entry_id":'
            + canonical_scalar(entry_id)
            + ',"kind":'
            + canonical_scalar(kind)
            + ',"payload_hash":'
            + canonical_scalar(payload_hash)
            + ","
        ).encode("utf-8")
    )


def finish_entry_hash(
    prefix: _Hash,
    *,
    prev_hash: str,
    recorded_at: str,
    seq: int,
    subject_id: str | None,
    use_case: str,
) -> str:
    """:func:`compute_entry_hash` of the entry whose first fields ``prefix`` hashed.

    Examples
    --------
    >>> fields = {**dict.fromkeys(ENTRY_HASH_FIELDS, "x"), "seq": 3, "digest": {"b": [1]}}
    >>> prefix = entry_hash_prefix(canonical_json(fields["digest"]), "x", "x", "x")
    >>> finish_entry_hash(
    ...     prefix, prev_hash="x", recorded_at="x", seq=3, subject_id="x", use_case="x"
    ... ) == compute_entry_hash(fields)
    True
    """
    state = prefix.copy()
    state.update(
        (
            '"prev_hash":'
            + canonical_scalar(prev_hash)
            + ',"recorded_at":'
            + canonical_scalar(recorded_at)
            + ',"seq":'
            + canonical_scalar(seq)
            + ',"subject_id":'
            + canonical_scalar(subject_id)
            + ',"use_case":'
            + canonical_scalar(use_case)
            + "}"
        ).encode("utf-8")
    )
    return state.hexdigest()
