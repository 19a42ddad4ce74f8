"""A ``JSONDump`` (pydantic's ``model_dump(mode="json")``) is written exactly as any value,
without reading its text back: same text and hash, itself as its read-back, NaN refused."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from models.canonical import CanonicalJSONError, JSONDump, canonical_json_and_value
from tests.models.test_canonical_reference import reference_canonical_json


class Holder(BaseModel):
    data: Any
    pair: tuple[int, str] = (1, "a")
    by_number: dict[int, float] = {}


finite = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | finite | st.text(max_size=5)
# what a model's Any field may hold: tuples and int keys too, which JSON mode rewrites
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3)
        | st.lists(children, max_size=3).map(tuple)
        | st.dictionaries(st.text(max_size=4), children, max_size=3)
        | st.dictionaries(st.integers(-3, 3), children, max_size=2)
    ),
    max_leaves=12,
)


@settings(max_examples=400, deadline=None)
@given(values, st.dictionaries(st.integers(-5, 5), finite, max_size=3))
def test_a_dump_is_written_as_itself_and_reads_back_as_itself(
    data: Any, by_number: dict[int, float]
) -> None:
    dumped = Holder(data=data, by_number=by_number).model_dump(mode="json")
    text, value = canonical_json_and_value(JSONDump(dumped))
    # the same text (so the same hashes) as the full check gives, and as the reference
    assert (text, value) == canonical_json_and_value(dumped)
    assert text == reference_canonical_json(dumped)
    assert value == dumped and type(value) is JSONDump


def test_nan_in_a_dump_is_still_refused_naming_where() -> None:
    dumped = JSONDump({"score": 0.5, "rationale": {"base_value": math.nan}})
    with pytest.raises(CanonicalJSONError, match=r"\$\.rationale\.base_value is nan"):
        canonical_json_and_value(dumped)
