"""Alerts recorded in the ledger (raised, then cleared), status lines, and the webhook.

An alert never stops a decision: nothing here touches the stop switch (R32; the stop
stays a person's call).

Recording replays the report's windows in order against the alerts the ledger says
are raised: a key that breaches in a window and is not raised is *raised* (an
``admin`` entry), a raised key that does not breach in a later window is *cleared*.
Windows before the latest one already recorded for the window kind are skipped, so
running the report again over the same range records nothing new.
"""

from __future__ import annotations

import json
import logging
import math
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from audits.monitoring import Alert, MonitoringReport, Window, to_plain
from serving.ledger.entries import LogEntry, LogKind, NewEntry
from serving.ledger.store import DecisionLog
from serving.monitoring.state import (
    ALERT_ACTION,
    AlertState,
    alert_digest,
    alert_entries,
    alert_key,
    current_alerts,
    subject_of,
)

__all__ = ["WEBHOOK_TIMEOUT_S", "record_alerts", "send_webhook", "status_lines"]

logger = logging.getLogger(__name__)

#: the webhook gets one attempt with this timeout: a slow receiver must not hold monitoring
WEBHOOK_TIMEOUT_S = 5.0

_SEVERITY = {"warn": 0, "alert": 1}


def _finite(digest: Mapping[str, Any]) -> dict[str, Any]:
    # canonical JSON refuses NaN and infinities; a figure without a value is None
    return {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in digest.items()
    }


def _cleared_digest(state: AlertState, window: Window) -> dict[str, Any]:
    return _finite(
        {
            "action": ALERT_ACTION,
            "state": "cleared",
            "key": state.key,
            "kind": state.kind,
            "severity": state.severity,
            "what": state.what,
            "subject": state.subject,
            "groups": state.group.split(" vs ") if state.group else [],
            "reviewer": state.reviewer,
            "window": to_plain(window),
            "value": state.value,
            "threshold": state.threshold,
            "raised_window": state.window,
            "message": f"cleared: {state.what} of {state.subject} within threshold in"
            f" {window.label} (raised in {state.window})",
        }
    )


def _worst(alerts: Iterable[Alert]) -> dict[str, Alert]:
    """One alert per key (the most severe, then the largest breach)."""
    out: dict[str, Alert] = {}
    for alert in alerts:
        key = alert_key(alert)
        held = out.get(key)
        if held is None or (_SEVERITY[alert.severity], abs(alert.value)) > (
            _SEVERITY[held.severity],
            abs(held.value),
        ):
            out[key] = alert
    return out


def record_alerts(
    log: DecisionLog,
    use_case: str,
    report: MonitoringReport,
    alerts: Sequence[Alert],
    *,
    webhook: str | None = None,
) -> list[LogEntry]:
    """Record the raised and cleared alerts of ``report``'s windows; returns the new entries.

    All entries are appended in one transaction; then, if ``webhook`` is given, each is
    sent to it (:func:`send_webhook`: failures are logged, never raised).
    """
    kind = report.window_kind
    history = [s for s in alert_entries(log, use_case) if s.window_kind == kind]
    raised = {s.key: s for s in current_alerts(log, use_case) if s.window_kind == kind}
    last = max((s.window for s in history), default=None)
    windows = [w.window for w in report.windows]
    if last is not None:
        windows = [w for w in windows if w.label >= last]
    by_window: dict[Window, list[Alert]] = {}
    for alert in alerts:
        by_window.setdefault(alert.window, []).append(alert)
    new: list[NewEntry] = []
    for window in sorted(windows):
        breaching = _worst(by_window.get(window, ()))
        for key, alert in sorted(breaching.items()):
            if key not in raised:
                digest = _finite(alert_digest(alert, "raised"))
                new.append(NewEntry(LogKind.ADMIN, use_case, digest, None, subject_of(use_case)))
                raised[key] = _placeholder(use_case, digest)
        for key in sorted(set(raised) - set(breaching)):
            digest = _cleared_digest(raised.pop(key), window)
            new.append(NewEntry(LogKind.ADMIN, use_case, digest, None, subject_of(use_case)))
    if not new:
        return []
    with log.transaction() as tx:
        written = tx.append_many(new)
    if webhook:
        for entry in written:
            send_webhook(webhook, {"use_case": use_case, "seq": entry.seq, **entry.digest})
    return written


def _placeholder(use_case: str, digest: Mapping[str, Any]) -> AlertState:
    window = digest["window"]
    groups = digest.get("groups") or []
    return AlertState(
        use_case=use_case,
        key=digest["key"],
        state="raised",
        kind=digest["kind"],
        severity=digest["severity"],
        what=digest["what"],
        subject=digest["subject"],
        group=" vs ".join(groups),
        reviewer=digest.get("reviewer"),
        window=window["label"],
        window_kind=window["kind"],
        value=float(digest["value"] if digest["value"] is not None else math.nan),
        threshold=float(digest["threshold"]),
        message=digest["message"],
        raised_at="",
        seq=0,
    )


def status_lines(log: DecisionLog) -> list[dict[str, Any]]:
    """One line per alert raised now, for ``/admin/status`` (every use case, oldest first)."""
    return [
        {
            "check": "monitoring",
            "use_case": state.use_case,
            "status": state.severity,
            "detail": state.message,
            "kind": state.kind,
            "what": state.what,
            "subject": state.subject,
            "group": state.group,
            "reviewer": state.reviewer,
            "window": state.window,
            "value": state.value,
            "threshold": state.threshold,
            "raised_at": state.raised_at,
            "seq": state.seq,
        }
        for state in current_alerts(log)
    ]


def send_webhook(url: str, body: Mapping[str, Any], *, timeout: float = WEBHOOK_TIMEOUT_S) -> bool:
    """POST ``body`` as JSON to ``url`` once; ``True`` if it answered 2xx.

    One attempt, no retries (a receiver that is down gets no storm; the ledger keeps
    the alert and ``/admin/status`` shows it). Failures are logged, never raised.
    """
    data = json.dumps(body, sort_keys=True).encode("utf-8")
    request = urllib.request.Request(
        url, data=data, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            ok = 200 <= int(answer.status) < 300
            if not ok:
                logger.warning("monitoring webhook %s answered %s", url, answer.status)
            return ok
    except (urllib.error.URLError, OSError, ValueError) as error:
        logger.warning("monitoring webhook %s failed: %s", url, error)
        return False
