"""The batch runner's user-facing error."""

from __future__ import annotations

__all__ = ["BatchError"]


class BatchError(Exception):
    """A batch that cannot run as asked: the message says what and how to fix it."""
