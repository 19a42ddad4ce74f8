"""One rule for when two spellings name one person (four eyes depend on it)."""

from __future__ import annotations

import pytest

from models.names import clean_name, same_name


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ann Lee", "ann lee"),
        ("Ann  Lee", " ann\tlee "),
        ("Ann\u200b Lee", "Ann Lee"),  # a zero-width space is not a different name
        ("Ａｎｎ Ｌｅｅ", "ann lee"),  # full-width letters
    ],
)
def test_spellings_of_one_name_are_the_same_person(a: str, b: str) -> None:
    assert same_name(a, b)


@pytest.mark.parametrize(("a", "b"), [("Ann Lee", "Anne Lee"), ("Ann Lee", "AnnLee")])
def test_different_names_are_different_people(a: str, b: str) -> None:
    assert not same_name(a, b)


def test_a_name_is_stored_without_invisible_characters_and_extra_space() -> None:
    assert clean_name("  Ann \u200bLee\t ") == "Ann Lee"
