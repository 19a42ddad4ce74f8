"""The fast canonical JSON writes and refuses exactly what the original walk-first one did.

The original implementation (one Python call per value, then ``json.dumps``) is kept
here verbatim as the reference. Every hash in existing ledgers was made with it, so
the text (and hence every hash) of any value must be the same, and every value it
refused must still be refused with the same error.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from decimal import Decimal
from enum import IntEnum
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.canonical import (
    CanonicalJSONError,
    canonical_hash,
    canonical_json,
    canonical_json_and_value,
    canonical_scalar,
    sha256_hex,
)

# -- the reference: models/canonical.py before the fast path (commit a5e4071) --------------

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


def _reference_check(value: Any, path: str) -> None:
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
            _reference_check(item, f"{path}.{key}")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _reference_check(item, f"{path}[{index}]")
        return
    raise CanonicalJSONError(_MESSAGE_BAD_TYPE.format(path=path, type=type(value).__name__))


def reference_canonical_json(value: Any) -> str:
    _reference_check(value, "$")
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


# -- values: JSON-native ones and everything the reference refuses -------------------------


class Level(IntEnum):
    LOW = 1
    HIGH = 2


good_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
bad_scalars = (
    st.sampled_from([math.nan, math.inf, -math.inf, -math.nan])
    | st.binary(max_size=3)
    | st.builds(Decimal, st.integers(-5, 5))
    | st.frozensets(st.integers(0, 3), max_size=2)
    | st.builds(np.float64, st.floats(allow_nan=True, allow_infinity=True))
    | st.builds(np.int64, st.integers(-(2**31), 2**31))
    | st.sampled_from([Level.LOW, Level.HIGH, complex(1, 2), object])
)
keys = st.text(max_size=6) | st.integers(-3, 3) | st.floats() | st.booleans() | st.none()


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.dictionaries(keys, children, max_size=3)
        | st.dictionaries(st.text(max_size=3), children, max_size=2).map(MappingProxyType)
    )


clean_values = st.recursive(
    good_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=20,
)
any_values = st.recursive(good_scalars | bad_scalars, containers, max_leaves=16)


def outcome(fn: Any, value: Any) -> tuple[str, str]:
    try:
        return ("text", fn(value))
    except Exception as exc:  # the type and message are what is compared
        return (type(exc).__name__, str(exc))


@settings(max_examples=600, deadline=None)
@given(clean_values)
def test_clean_values_have_the_reference_text_and_hash(value: Any) -> None:
    expected = reference_canonical_json(value)
    assert canonical_json(value) == expected
    assert canonical_hash(value) == sha256_hex(expected)


@settings(max_examples=1500, deadline=None)
@given(any_values)
def test_every_value_is_written_or_refused_exactly_as_before(value: Any) -> None:
    assert outcome(canonical_json, value) == outcome(reference_canonical_json, value)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, good_scalars, min_size=1, max_size=4))
def test_a_non_str_key_is_refused_even_where_the_encoder_would_write_it(
    value: dict[Any, Any],
) -> None:
    expected = outcome(reference_canonical_json, value)
    assert outcome(canonical_json, value) == expected
    if any(not isinstance(k, str) for k in value):
        assert expected[0] == "CanonicalJSONError"


@pytest.mark.parametrize(
    "value",
    [
        {1: "a"},  # json.dumps alone would write {"1":"a"}
        {"a": {None: 1}},
        {"a": [{True: 1}]},
        {1.5: 0},
        {"x": math.nan},
        [math.inf],
        {"a": np.float64("nan")},
        {"a": b"bytes"},
        {"a": {1, 2}},
        {"a": Decimal("1.5")},
        {1: "a", "b": 2},  # keys the encoder cannot even sort
    ],
)
def test_known_refusals_are_still_refused_with_the_same_message(value: Any) -> None:
    with pytest.raises(CanonicalJSONError) as caught:
        canonical_json(value)
    with pytest.raises(CanonicalJSONError) as before:
        reference_canonical_json(value)
    assert str(caught.value) == str(before.value)


def test_values_the_reference_accepted_through_subclasses_still_write_the_same() -> None:
    value = {"f": np.float64(0.1), "level": Level.HIGH, "t": (1, [2.5, "é"]), "big": 2**70}
    assert canonical_json(value) == reference_canonical_json(value)


@settings(max_examples=600, deadline=None)
@given(any_values)
def test_the_text_and_value_form_gives_the_reference_text_and_its_read_back(value: Any) -> None:
    expected = outcome(reference_canonical_json, value)
    got = outcome(lambda v: canonical_json_and_value(v)[0], value)
    assert got == expected
    if expected[0] == "text":
        assert canonical_json_and_value(value)[1] == json.loads(expected[1])


@settings(max_examples=300, deadline=None)
@given(st.text() | st.integers() | st.none())
def test_a_scalar_is_written_as_the_reference_writes_it(value: str | int | None) -> None:
    assert canonical_scalar(value) == reference_canonical_json(value)
