"""Logged decisions exported as data for retraining or monitoring labels, with consent only.

A decision is exported only when the person consented to the use of their data for
model training (``training_data_consent`` in the request, recorded in the personal
payload; requests without it count as no consent) and their personal data has not
been erased. Every exported decision is a read of personal data, so each one is an
``access`` entry of the ledger naming the reader and the purpose (R31).

A row holds the decision's features (the person's values), its final outcome and who
made it (model, review or appeal; :mod:`serving.review.outcomes`), the model version,
and when it was decided and became final.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from serving.ledger import DecisionLog, LogKind
from serving.ledger.reads import record_reads
from serving.ledger.schema import LogEntryRow
from serving.review.outcomes import final_outcome

__all__ = ["CONSENT_FIELD", "Export", "export_decisions"]

#: the personal payload's field that records consent to the use of data for training
CONSENT_FIELD = "training_data_consent"


@dataclass
class Export:
    """The exported rows, and what was left out and why."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    without_consent: int = 0
    erased: int = 0
    pending_review: int = 0

    def summary(self) -> dict[str, int]:
        return {
            "exported": len(self.rows),
            "left_out_without_training_consent": self.without_consent,
            "left_out_erased": self.erased,
            "left_out_pending_review": self.pending_review,
        }


def export_decisions(
    log: DecisionLog,
    use_case: str,
    *,
    reader: str,
    purpose: str,
    since: datetime | None = None,
) -> Export:
    """Final decisions of ``use_case`` whose person consented to training use, as rows."""
    if not purpose.strip():
        raise ValueError(f"an export needs a purpose (e.g. 'retraining'); got {purpose!r}")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    out = Export()
    read: list[str] = []
    with Session(log.engine) as session:
        decisions = session.execute(
            select(LogEntryRow.entry_id, LogEntryRow.subject_id, LogEntryRow.digest)
            .where(LogEntryRow.kind == str(LogKind.DECISION), LogEntryRow.use_case == use_case)
            .order_by(LogEntryRow.seq)
        ).all()
        for entry_id, decision_id, digest_text in decisions:
            digest = _digest(digest_text)
            if since is not None and datetime.fromisoformat(digest["decided_at"]) < since:
                continue
            stored = log.get_payload(str(entry_id))
            if stored.payload is None:
                out.erased += 1
                continue
            if stored.payload.get(CONSENT_FIELD) is not True:
                out.without_consent += 1
                continue
            standing = final_outcome(session, str(decision_id))
            if standing.status != "final":
                out.pending_review += 1
                continue
            read.append(str(decision_id))
            out.rows.append(
                {
                    **stored.payload.get("features", {}),
                    "__decision_id": decision_id,
                    "__model_version": digest["model_version"],
                    "__decided_at": digest["decided_at"],
                    "__final_outcome": standing.outcome,
                    "__decided_by": standing.decided_by,
                    "__final_at": standing.decided_at,
                }
            )
    record_reads(log, use_case, read, reader=reader, purpose=f"export: {purpose}")
    return out


def _digest(value: Any) -> dict[str, Any]:
    import json

    return value if isinstance(value, dict) else dict(json.loads(value))
