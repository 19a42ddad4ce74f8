"""Promotions in the ledger: the recorder the gate calls, the reader, and the check against MLflow.

Every promotion, rollback and refused promotion is a ``promotion`` entry of the
ledger (digest: action, version, previous champion, who asked, who approved,
why, the audit, the spec hash and version it was promoted under, ``at``). The
MLflow registered-model tags ``docket.history.*`` stay a convenience copy;
:func:`compare_history` reports an event on one side and not the other, or an
event whose fields differ, matched on ``(at, version, action)``.

A refused approval of a waiver is recorded under the action
``waiver_approval_refused``; it is the ledger's name for a ``refused`` event of
MLflow's history. A waiver request (``waiver_requested``) is in the ledger only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from mlflow.tracking import MlflowClient

from audits.promotion import HistoryEvent, HistoryRecorder, history
from models.spec import DecisionSpec
from serving.ledger import DecisionLog, LogEntry

__all__ = [
    "COMPARED_FIELDS",
    "HistoryMismatch",
    "compare_history",
    "history_action",
    "history_mismatches",
    "ledger_promotions",
    "ledger_recorder",
    "promotion_digest",
]

#: the ledger's actions that are events of MLflow's history, and the MLflow action they stand for
_HISTORY_ACTIONS = {
    "promote": "promote",
    "rollback": "rollback",
    "refused": "refused",
    "waiver_approval_refused": "refused",
}
#: besides the key (at, version, action), the fields both copies must agree on
COMPARED_FIELDS = (
    "previous_champion",
    "requested_by",
    "approved_by",
    "reason",
    "audit_id",
    "audit_status",
)

Key = tuple[str, str, str]


def promotion_digest(
    event: HistoryEvent, *, spec_hash: str | None, spec_version: str | None
) -> dict[str, Any]:
    """The ledger digest of a history event (names, no tokens), with the spec it was under."""
    return {
        "action": event.action,
        "version": event.version,
        "previous_champion": event.previous_champion,
        "requested_by": event.requested_by,
        "approved_by": event.approved_by,
        "reason": event.reason,
        "audit_id": event.audit_id,
        "audit_status": event.audit_status,
        "spec_hash": spec_hash,
        "spec_version": spec_version,
        "justification": event.waiver.justification if event.waiver else None,
        "at": event.at,
    }


def ledger_recorder(log: DecisionLog, spec: DecisionSpec) -> HistoryRecorder:
    """A recorder for :func:`audits.promotion.promote` that appends each event to ``log``."""
    spec_hash, spec_version = spec.spec_hash(), spec.version

    def record(event: HistoryEvent) -> None:
        log.append(
            "promotion",
            spec.name,
            promotion_digest(event, spec_hash=spec_hash, spec_version=spec_version),
            subject_id=f"promotions:{spec.name}",
        )

    return record


def history_action(digest: Mapping[str, Any]) -> str | None:
    """The MLflow history action a ledger digest stands for, or None (e.g. a waiver request)."""
    action = _HISTORY_ACTIONS.get(str(digest.get("action")))
    return action if action is not None and digest.get("at") else None


def ledger_promotions(log: DecisionLog, use_case: str | None = None) -> list[LogEntry]:
    """The ``promotion`` entries (of one use case, or all), in ledger order."""
    return [
        e
        for e in log.iter_entries()
        if str(e.kind) == "promotion" and (use_case is None or e.use_case == use_case)
    ]


@dataclass(frozen=True)
class HistoryMismatch:
    """An event the two copies of a use case's promotion history disagree on."""

    use_case: str
    problem: Literal["mlflow_only", "ledger_only", "differs"]
    at: str
    version: str
    action: str
    fields: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "fields": list(self.fields)}

    def line(self) -> str:
        what = f"{self.use_case}: {self.action} of v{self.version} at {self.at}"
        if self.problem == "mlflow_only":
            return f"{what} is in the MLflow history tags but not in the ledger"
        if self.problem == "ledger_only":
            return f"{what} is in the ledger but not in the MLflow history tags"
        return f"{what} differs between the ledger and MLflow in {', '.join(self.fields)}"


def compare_history(
    use_case: str, mlflow_events: Iterable[HistoryEvent], ledger_entries: Iterable[LogEntry]
) -> list[HistoryMismatch]:
    """Events on one side only, or whose fields differ, matched on ``(at, version, action)``."""
    in_mlflow: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for event in mlflow_events:
        in_mlflow[(event.at, event.version, event.action)].append(event.model_dump())
    in_ledger: dict[Key, list[dict[str, Any]]] = defaultdict(list)
    for entry in ledger_entries:
        action = history_action(entry.digest)
        if action is not None:
            key = (str(entry.digest["at"]), str(entry.digest.get("version")), action)
            in_ledger[key].append(entry.digest)
    found: list[HistoryMismatch] = []
    for key in sorted(set(in_mlflow) | set(in_ledger)):
        ours, theirs = in_ledger.get(key, []), in_mlflow.get(key, [])
        for mlflow_event, digest in zip(theirs, ours, strict=False):
            fields = tuple(f for f in COMPARED_FIELDS if digest.get(f) != mlflow_event.get(f))
            if fields:
                found.append(HistoryMismatch(use_case, "differs", *key, fields=fields))
        for _ in theirs[len(ours) :]:
            found.append(HistoryMismatch(use_case, "mlflow_only", *key))
        for _ in ours[len(theirs) :]:
            found.append(HistoryMismatch(use_case, "ledger_only", *key))
    return found


def history_mismatches(
    client: MlflowClient, log: DecisionLog, use_cases: Iterable[str]
) -> list[HistoryMismatch]:
    """:func:`compare_history` for each of ``use_cases``, reading the ledger once."""
    by_use_case: dict[str, list[LogEntry]] = defaultdict(list)
    for entry in ledger_promotions(log):
        by_use_case[entry.use_case].append(entry)
    return [
        m
        for name in use_cases
        for m in compare_history(name, history(client, name), by_use_case.get(name, []))
    ]
