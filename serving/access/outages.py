"""The database went away while a request was being authenticated: 503, never 500.

Authentication reads the database (keys, people, console sessions). When it
cannot be reached the client is told so in plain words with 503, and the log
gets one line naming the kind of failure: never the database URL, its password,
the SQL parameters, or a traceback.
"""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError

__all__ = ["MESSAGE_UNREACHABLE", "log_unreachable"]

logger = logging.getLogger("docket.access")

MESSAGE_UNREACHABLE = (
    "the service's database cannot be reached, so the credentials cannot be checked;"
    " try again shortly (the service answers 503 until its database is back)"
)


def log_unreachable(exc: SQLAlchemyError, doing: str) -> None:
    """One warning line: what was being done and the driver's error class and first line."""
    orig = getattr(exc, "orig", None) or exc
    # the driver's message names host and port at most; SQLAlchemy's own adds the SQL
    first = str(orig).strip().splitlines()[0][:200] if str(orig).strip() else ""
    logger.warning(
        "database unreachable while %s: %s: %s", doing, type(orig).__name__, _scrub(first)
    )


def _scrub(text: str) -> str:
    # a URL with a password (scheme://user:password@host) must never reach the log
    words = []
    for word in text.split(" "):
        if "://" in word and "@" in word:
            scheme, rest = word.split("://", 1)
            word = f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
        words.append(word)
    return " ".join(words)
