"""The current monitoring alerts, read from their ``admin`` entries in the ledger.

Alerts are recorded as ``admin`` entries with subject ``monitoring:<use case>`` and a
digest ``{"action": "monitoring_alert", "state": "raised" | "cleared", "key": ...}``
(:func:`alert_digest`). An alert is identified by its ``key`` (kind, figure, subject,
reviewer and window kind, not the window: the same breach in the next week is the
same alert, still raised); the latest entry of a key says whether it is raised.
The ledger is the state: nothing else needs to be kept, and the history of every
alert is tamper-evident.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from audits.monitoring import Alert, to_plain
from serving.ledger.entries import LogKind, LogReadError
from serving.ledger.schema import LogEntryRow
from serving.ledger.store import DecisionLog

__all__ = [
    "ALERT_ACTION",
    "SUBJECT_PREFIX",
    "AlertState",
    "alert_digest",
    "alert_entries",
    "alert_key",
    "current_alerts",
    "subject_of",
]

#: ``digest["action"]`` of an alert entry.
ALERT_ACTION = "monitoring_alert"
#: The subject of a use case's alert entries is ``monitoring:<use case>``.
SUBJECT_PREFIX = "monitoring:"


def subject_of(use_case: str) -> str:
    """The ``subject_id`` of ``use_case``'s alert entries."""
    return f"{SUBJECT_PREFIX}{use_case}"


def alert_key(alert: Alert) -> str:
    """What identifies an alert across windows: kind, figure, subject, reviewer, window kind.

    Not the groups: which group is lowest may change from one week to the next and it is
    still the same breach.
    """
    return "|".join(
        [alert.kind, alert.what, alert.subject, alert.reviewer or "", alert.window.kind]
    )


def alert_digest(alert: Alert, state: Literal["raised", "cleared"]) -> dict[str, Any]:
    """The digest of the ``admin`` entry that records ``alert`` being raised or cleared.

    No personal data: groups are attribute values, reviewers are staff ids.
    """
    plain = to_plain(alert)
    return {
        "action": ALERT_ACTION,
        "state": state,
        "key": alert_key(alert),
        **plain,
        "message": alert.message,
    }


@dataclass(frozen=True)
class AlertState:
    """One alert as last recorded (only raised ones are *current*).

    ``what`` names the figure (``psi``, ``approval_impact_ratio``, ``override_rate_gap``,
    ... see :class:`audits.monitoring.Alert`); ``subject`` the feature or attribute;
    ``group`` the groups concerned, joined by ``" vs "`` (empty for drift); ``window``
    the label of the window the state was recorded for (``week 2026-12-07``);
    ``raised_at`` when the raised entry was recorded (ISO UTC); ``seq`` that entry's
    position in the ledger.
    """

    use_case: str
    key: str
    state: str
    kind: str
    severity: str
    what: str
    subject: str
    group: str
    reviewer: str | None
    window: str
    window_kind: str
    value: float
    threshold: float
    message: str
    raised_at: str
    seq: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields (for ``/admin/status`` and the console)."""
        return {
            "use_case": self.use_case,
            "key": self.key,
            "state": self.state,
            "kind": self.kind,
            "severity": self.severity,
            "what": self.what,
            "subject": self.subject,
            "group": self.group,
            "reviewer": self.reviewer,
            "window": self.window,
            "window_kind": self.window_kind,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "raised_at": self.raised_at,
            "seq": self.seq,
        }


def _state_of(use_case: str, seq: int, recorded_at: str, digest: dict[str, Any]) -> AlertState:
    window = digest.get("window") or {}
    groups = digest.get("groups") or []
    return AlertState(
        use_case=use_case,
        key=str(digest.get("key", "")),
        state=str(digest.get("state", "")),
        kind=str(digest.get("kind", "")),
        severity=str(digest.get("severity", "")),
        what=str(digest.get("what", "")),
        subject=str(digest.get("subject", "")),
        group=" vs ".join(str(g) for g in groups),
        reviewer=digest.get("reviewer"),
        window=str(window.get("label", "")),
        window_kind=str(window.get("kind", "")),
        value=float(digest.get("value", 0.0)),
        threshold=float(digest.get("threshold", 0.0)),
        message=str(digest.get("message", "")),
        raised_at=recorded_at,
        seq=seq,
    )


def alert_entries(log: DecisionLog, use_case: str | None = None) -> list[AlertState]:
    """Every alert entry (raised and cleared), oldest first; of one use case if given."""
    query = select(
        LogEntryRow.seq, LogEntryRow.use_case, LogEntryRow.recorded_at, LogEntryRow.digest
    ).where(LogEntryRow.kind == LogKind.ADMIN.value)
    if use_case is None:
        query = query.where(LogEntryRow.subject_id.like(f"{SUBJECT_PREFIX}%"))
    else:
        query = query.where(LogEntryRow.subject_id == subject_of(use_case))
    try:
        with Session(log.engine) as session:
            rows = session.execute(query.order_by(LogEntryRow.seq)).all()
    except SQLAlchemyError as error:
        raise LogReadError(f"could not read the monitoring alerts: {error}") from error
    out = []
    for seq, case, recorded_at, text in rows:
        digest = json.loads(text)
        if digest.get("action") == ALERT_ACTION:
            out.append(_state_of(case, seq, recorded_at, digest))
    return out


def current_alerts(log: DecisionLog, use_case: str | None = None) -> list[AlertState]:
    """The alerts raised now: for every key, its latest entry, if that entry raised it.

    ``raised_at`` and ``seq`` are those of the raised entry. Sorted by use case then seq.
    """
    latest: dict[tuple[str, str], AlertState] = {}
    for state in alert_entries(log, use_case):
        latest[(state.use_case, state.key)] = state
    raised = [s for s in latest.values() if s.state == "raised"]
    return sorted(raised, key=lambda s: (s.use_case, s.seq))
