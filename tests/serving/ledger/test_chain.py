"""Canonical JSON and hashing."""

from __future__ import annotations

import json
import random
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.canonical import _MESSAGE_BAD_KEY, _MESSAGE_BAD_TYPE, _MESSAGE_NOT_FINITE
from serving.ledger import GENESIS_HASH, CanonicalJSONError, canonical_json, compute_entry_hash
from serving.ledger.chain import _MESSAGE_BAD_FIELDS, ENTRY_HASH_FIELDS, compute_payload_hash

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=6)


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same JSON value with every object's keys inserted in another order."""
    if isinstance(value, dict):
        keys = list(value)
        rng.shuffle(keys)
        return {key: _shuffled(value[key], rng) for key in keys}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


def _fields(digest: dict[str, Any]) -> dict[str, Any]:
    return {
        "seq": 7,
        "entry_id": "0b4a3c3e-9c0e-4f57-9d7e-1e2f3a4b5c6d",
        "kind": "decision",
        "use_case": "credit-eligibility",
        "subject_id": None,
        "recorded_at": "2024-05-01T12:00:00.000000Z",
        "digest": digest,
        "payload_hash": None,
        "prev_hash": GENESIS_HASH,
    }


def test_canonical_json_sorts_keys_without_spaces_and_keeps_unicode() -> None:
    # given
    value = {"b": [1, 2.5, None, True], "a": "Zoë", "c": {"y": 1, "x": -0.0}}

    # when
    text = canonical_json(value)

    # then
    assert text == '{"a":"Zoë","b":[1,2.5,null,true],"c":{"x":-0.0,"y":1}}'


@pytest.mark.parametrize("number", [0.1, 1e-7, 1 / 3, 1e300, -2.5e-300])
def test_canonical_json_writes_floats_with_repr(number: float) -> None:
    # when
    text = canonical_json({"x": number})

    # then
    assert text == '{"x":' + repr(number) + "}"
    assert json.loads(text)["x"] == number


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_canonical_json_rejects_non_finite_numbers_naming_the_path(bad: float) -> None:
    # given
    value = {"rationale": {"contributions": [0.1, bad]}}

    # when / then
    message = _MESSAGE_NOT_FINITE.format(path="$.rationale.contributions[1]", value=bad)
    with pytest.raises(CanonicalJSONError, match=re.escape(message)):
        canonical_json(value)


def test_canonical_json_rejects_non_str_keys() -> None:
    # when / then
    message = _MESSAGE_BAD_KEY.format(path="$.reasons", key=1, type="int")
    with pytest.raises(CanonicalJSONError, match=re.escape(message)):
        canonical_json({"reasons": {1: "R01"}})


def test_canonical_json_rejects_foreign_types() -> None:
    # when / then
    message = _MESSAGE_BAD_TYPE.format(path="$.features", type="set")
    with pytest.raises(CanonicalJSONError, match=re.escape(message)):
        canonical_json({"features": {"age"}})


def test_compute_entry_hash_requires_exactly_the_documented_fields() -> None:
    # given
    fields = _fields({})
    del fields["prev_hash"]

    # when / then
    message = _MESSAGE_BAD_FIELDS.format(expected=sorted(ENTRY_HASH_FIELDS), got=sorted(fields))
    with pytest.raises(ValueError, match=re.escape(message)):
        compute_entry_hash(fields)


def test_payload_hash_depends_on_the_salt() -> None:
    # given
    payload = {"income": 1200, "application_ref": "A-17"}

    # when
    first = compute_payload_hash(payload, salt="00" * 16)
    second = compute_payload_hash(payload, salt="11" * 16)

    # then
    assert first != second
    assert first == compute_payload_hash(dict(reversed(payload.items())), salt="00" * 16)


@settings(max_examples=40, deadline=None)
@given(digest=json_objects, seed=st.integers(min_value=0, max_value=2**32))
def test_hashing_is_stable_under_key_order(digest: dict[str, Any], seed: int) -> None:
    # given
    shuffled = _shuffled(digest, random.Random(seed))

    # when
    hashes = {compute_entry_hash(_fields(digest)), compute_entry_hash(_fields(shuffled))}

    # then
    assert len(hashes) == 1
    assert canonical_json(shuffled) == canonical_json(digest)


@settings(max_examples=40, deadline=None)
@given(value=json_objects)
def test_canonical_json_reads_back_to_the_same_text(value: dict[str, Any]) -> None:
    # when
    text = canonical_json(value)

    # then
    assert canonical_json(json.loads(text)) == text


# -- hashes from canonical text already written (same hashes, no second encoding) --------


@settings(max_examples=300, deadline=None)
@given(json_objects, st.text(max_size=40))
def test_the_payload_hash_from_its_text_is_the_payload_hash(payload: Any, salt: str) -> None:
    from serving.ledger.chain import payload_hash_of_text

    assert payload_hash_of_text(canonical_json(payload), salt) == compute_payload_hash(
        payload, salt
    )


@settings(max_examples=300, deadline=None)
@given(
    json_objects,
    st.integers(min_value=1, max_value=2**62),
    st.text(max_size=20),
    st.one_of(st.none(), st.text(max_size=20)),
    st.one_of(st.none(), st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)),
)
def test_the_entry_hash_from_the_digest_text_is_the_entry_hash(
    digest: dict[str, Any], seq: int, use_case: str, subject: str | None, payload_hash: str | None
) -> None:
    from serving.ledger.chain import entry_hash_with_digest_text

    fields = {
        **_fields(digest),
        "seq": seq,
        "use_case": use_case,
        "subject_id": subject,
        "payload_hash": payload_hash,
    }
    assert entry_hash_with_digest_text(fields, canonical_json(digest)) == compute_entry_hash(fields)
    with pytest.raises(ValueError):
        entry_hash_with_digest_text({k: v for k, v in fields.items() if k != "seq"}, "{}")
