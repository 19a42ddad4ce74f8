"""Reads of personal data recorded as ``access`` entries, many in one transaction (R31)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from serving.ledger.entries import LogKind
from serving.ledger.store import DecisionLog

__all__ = ["record_reads"]


def record_reads(
    log: DecisionLog,
    use_case: str,
    decision_ids: Iterable[str],
    *,
    reader: str,
    purpose: str,
    role: str = "operator",
    details: Mapping[str, Any] | None = None,
) -> int:
    """One ``access`` entry per decision read, naming the reader and the purpose.

    All are written in one transaction after the reads; returns how many.
    """
    ids = list(decision_ids)
    if not ids:
        return 0
    with log.transaction() as tx:
        for decision_id in ids:
            tx.append(
                LogKind.ACCESS,
                use_case,
                {
                    "reader": reader,
                    "role": role,
                    "purpose": purpose,
                    "decision_id": decision_id,
                    **(details or {}),
                },
                subject_id=decision_id,
            )
    return len(ids)
