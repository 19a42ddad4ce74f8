"""When two spellings name one person: the rule every four-eyes check uses.

A name is stored without format or control characters and with white space
collapsed (:func:`clean_name`); two names are the same person's when they agree
after Unicode compatibility folding (full-width letters) and case folding
(:func:`name_key`). People's accounts are unique on this key, and a waiver's
requester and approver are compared with it (R23).
"""

from __future__ import annotations

import unicodedata

__all__ = ["clean_name", "name_key", "same_name"]


def clean_name(name: str) -> str:
    """``name`` as stored: format and control characters removed, white space collapsed.

    >>> clean_name("  Ann \\u200bLee\\t ")
    'Ann Lee'
    """
    visible = "".join(c for c in name if unicodedata.category(c) not in ("Cf", "Cc") or c.isspace())
    return " ".join(visible.split())


def name_key(name: str) -> str:
    """What two spellings of one name have in common (the unique key of a person).

    >>> name_key("Ann  Lee") == name_key("ann lee") == name_key("ＡＮＮ LEE")
    True
    """
    folded = unicodedata.normalize("NFKC", clean_name(name)).casefold()
    return " ".join(unicodedata.normalize("NFKC", folded).split())


def same_name(a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` are two spellings of one name."""
    return name_key(a) == name_key(b)
