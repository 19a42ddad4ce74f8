"""Outcome labels (``POST /outcomes``): what actually happened after a decision.

Each label is an ``admin`` entry of the decision's use case whose subject is the
decision id, digest ``{"action": "outcome_recorded", "decision_id", "label",
"observed_at", "by", "corrects"}``: chained like everything else, so a label cannot
be changed without it showing, and ``entries_for(decision_id)`` (the decision's
history) lists it. ``admin`` rather than a new entry kind: the chain's kinds are
read by every verifier and export, and a label is a recorded fact about a decision
like the other ``admin`` facts (erasures, switches), not a decision or a review.

Rules (all checked under the ledger's writer lock, so concurrent calls agree):

- an application labels only the decisions it requested (as ``GET /decisions/{id}``);
- the same label again records nothing (``unchanged``);
- a different label is refused (``conflict``) unless the item says ``correction: true``:
  then it is recorded too, naming the entry it corrects; the latest label counts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from serving.access import Principal
from serving.ledger.entries import LogKind, NewEntry
from serving.ledger.schema import LogEntryRow
from serving.ledger.store import DecisionLog
from serving.monitoring.reader import OUTCOME_ACTION

__all__ = ["MAX_OUTCOMES", "OutcomeItem", "OutcomeResult", "label_value", "record_outcomes"]

#: items of one call: one transaction holds the writer lock while they are checked
MAX_OUTCOMES = 1000

Status = Literal["recorded", "unchanged", "not_found", "forbidden", "invalid", "conflict"]


@dataclass(frozen=True)
class OutcomeItem:
    """One label as received (``label``: 0, 1, or the spec's favourable value)."""

    decision_id: str
    label: Any
    observed_at: str | None = None
    correction: bool = False


@dataclass(frozen=True)
class OutcomeResult:
    """What became of one item; ``seq`` is the entry recorded (or the one it repeats)."""

    decision_id: str
    status: Status
    label: int | None = None
    seq: int | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"decision_id": self.decision_id, "status": self.status}
        for name in ("label", "seq", "error"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


def label_value(label: Any, favourable: Any) -> int | None:
    """0 or 1 from ``label`` (0, 1, or the spec's favourable value meaning 1); None if neither."""
    if isinstance(label, bool):
        return None
    if label in (0, 1) and isinstance(label, int):
        return int(label)
    if favourable is not None and label == favourable and not isinstance(favourable, int):
        return 1
    return None


def record_outcomes(
    log: DecisionLog,
    items: Sequence[OutcomeItem],
    principal: Principal,
    *,
    favourable_of: Callable[[str], Any],
) -> list[OutcomeResult]:
    """Record the labels of ``items`` in one transaction; one result per item, in order.

    ``favourable_of(use_case)`` is the spec's favourable target value (a label equal to
    it means 1), or None.
    """
    ids = sorted({item.decision_id for item in items})
    results: list[OutcomeResult] = []
    with log.transaction() as tx:
        rows = tx.session.execute(
            select(
                LogEntryRow.seq,
                LogEntryRow.kind,
                LogEntryRow.subject_id,
                LogEntryRow.use_case,
                LogEntryRow.digest,
            )
            .where(
                LogEntryRow.subject_id.in_(ids),
                LogEntryRow.kind.in_([LogKind.DECISION.value, LogKind.ADMIN.value]),
            )
            .order_by(LogEntryRow.seq)
        ).all()
        decided: dict[str, tuple[str, str | None]] = {}
        labelled: dict[str, tuple[int, int]] = {}
        for seq, kind, subject_id, use_case, text in rows:
            subject = str(subject_id)
            digest = json.loads(text)
            if kind == LogKind.DECISION.value:
                decided[subject] = (use_case, digest.get("requested_by_key"))
            elif digest.get("action") == OUTCOME_ACTION:
                labelled[subject] = (int(digest["label"]), seq)
        pending: list[tuple[int, NewEntry]] = []
        for item in items:
            found = decided.get(item.decision_id)
            if found is None:
                results.append(
                    OutcomeResult(item.decision_id, "not_found", error="no decision with this id")
                )
                continue
            use_case, key = found
            if "application" in principal.roles and key != principal.key_id:
                results.append(
                    OutcomeResult(
                        item.decision_id,
                        "forbidden",
                        error="an application labels only the decisions it requested",
                    )
                )
                continue
            favourable = favourable_of(use_case)
            label = label_value(item.label, favourable)
            if label is None:
                allowed: list[Any] = [0, 1] + ([favourable] if favourable is not None else [])
                results.append(
                    OutcomeResult(
                        item.decision_id,
                        "invalid",
                        error=f"'label' must be one of {allowed} (got {item.label!r})",
                    )
                )
                continue
            held = labelled.get(item.decision_id)
            if held is not None and held[0] == label:
                results.append(OutcomeResult(item.decision_id, "unchanged", label, held[1]))
                continue
            if held is not None and not item.correction:
                results.append(
                    OutcomeResult(
                        item.decision_id,
                        "conflict",
                        label,
                        held[1],
                        error=f"already labelled {held[0]} (entry {held[1]}); send"
                        " 'correction': true to record a correction",
                    )
                )
                continue
            digest = {
                "action": OUTCOME_ACTION,
                "decision_id": item.decision_id,
                "label": label,
                "observed_at": item.observed_at,
                "by": principal.name,
                "corrects": None if held is None else held[1],
            }
            results.append(OutcomeResult(item.decision_id, "recorded", label))
            pending.append(
                (
                    len(results) - 1,
                    NewEntry(LogKind.ADMIN, use_case, digest, None, item.decision_id),
                )
            )
            # a repeat of the same id later in this call sees this label
            labelled[item.decision_id] = (label, -1)
        written = tx.append_many([entry for _, entry in pending])
    for (index, _), entry in zip(pending, written, strict=True):
        r = results[index]
        results[index] = OutcomeResult(r.decision_id, r.status, r.label, entry.seq)
    return [
        r if r.seq != -1 else OutcomeResult(r.decision_id, r.status, r.label, None, r.error)
        for r in results
    ]
