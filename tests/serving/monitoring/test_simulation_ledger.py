"""The issue's simulation through the ledger: a synthetic stream appended as decision,
review and appeal entries, read back, reported, and its alerts recorded as entries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from audits.monitoring import (
    SyntheticStream,
    check_alerts,
    monitoring_report,
    synthetic_stream,
)
from models.spec import MonitoringSection
from serving.ledger.entries import LogKind, NewEntry
from serving.ledger.store import DecisionLog
from serving.monitoring.alerts import record_alerts, status_lines
from serving.monitoring.reader import read_decisions
from serving.monitoring.state import alert_entries, current_alerts
from serving.review.entries import ReviewEntry

USE_CASE = "synthetic"
SETTINGS = MonitoringSection()


def _iso(stamp: Any) -> str:
    return pd.Timestamp(stamp).tz_localize("UTC").isoformat()


def _plain(value: Any) -> Any:
    # the frame's missing values as the ledger writes them (canonical JSON has no NaN)
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return None
    return value.item() if hasattr(value, "item") else value


def _entries(stream: SyntheticStream) -> list[NewEntry]:
    """Decision entries (digest + personal payload) and the review and appeal entries."""
    out: list[NewEntry] = []
    frame = stream.decisions
    for row in frame.itertuples(index=False):
        r = {k: _plain(v) for k, v in row._asdict().items()}
        decision_id = r["decision_id"]
        digest = {
            "decision_id": decision_id,
            "decided_at": _iso(r["decided_at"]),
            "use_case": USE_CASE,
            "model_version": "1",
            "score": float(r["score"]),
            "outcome": r["outcome"],
            "recommendation": r["model_recommendation"] or "approve",
        }
        attrs = {a: r[a] for a in stream.attributes if r[a] is not None}
        payload = {
            "features": {f: r[f] for f in stream.features},
            "audit_attributes": attrs or None,
        }
        out.append(NewEntry(LogKind.DECISION, USE_CASE, digest, payload, decision_id))
        if r["outcome"] == "referred":
            entry = ReviewEntry(
                action="resolved",
                case_id=f"c-{decision_id}",
                case_kind="referral",
                decision_id=decision_id,
                at=_iso(r["resolved_at"]),
                person_id=r["reviewer"],
                person_name=r["reviewer"],
                outcome=r["final_outcome"],
                model_recommendation=r["model_recommendation"],
            )
            out.append(NewEntry(LogKind.REVIEW_ACTION, USE_CASE, entry.digest(), None, decision_id))
        if r["appealed"]:
            filed = ReviewEntry(
                action="appeal_filed",
                case_id=f"a-{decision_id}",
                case_kind="appeal",
                decision_id=decision_id,
                at=_iso(r["resolved_at"]),
            )
            out.append(NewEntry(LogKind.APPEAL, USE_CASE, filed.digest(), None, decision_id))
            upheld = r["appeal_upheld"]
            if upheld is not None and not pd.isna(upheld):
                resolved = filed.model_copy(
                    update={
                        "action": "resolved",
                        "person_id": "r9",
                        "outcome": "approved" if upheld else "declined",
                    }
                )
                out.append(
                    NewEntry(LogKind.REVIEW_ACTION, USE_CASE, resolved.digest(), None, decision_id)
                )
    return out


def _fill(log: DecisionLog, stream: SyntheticStream) -> None:
    entries = _entries(stream)
    for i in range(0, len(entries), 5000):
        with log.transaction() as tx:
            tx.append_many(entries[i : i + 5000])


@pytest.fixture
def log(tmp_path: Path) -> Iterator[DecisionLog]:
    with DecisionLog(f"sqlite:///{tmp_path / 'decisions.db'}") as decision_log:
        decision_log.migrate()
        yield decision_log


def _run(log: DecisionLog, stream: SyntheticStream) -> list[Any]:
    read = read_decisions(
        log, USE_CASE, features=list(stream.features), attributes=stream.attributes
    )
    report = monitoring_report(
        read.frame,
        settings=SETTINGS,
        window="week",
        features=stream.features,
        attributes=read.attributes,
        reference=stream.reference,
    )
    return record_alerts(log, USE_CASE, report, check_alerts(report, SETTINGS))


def test_the_frame_read_back_is_the_stream(log: DecisionLog) -> None:
    stream = synthetic_stream(n_per_day=150, days=3, seed=3)
    _fill(log, stream)
    read = read_decisions(
        log, USE_CASE, features=list(stream.features), attributes=stream.attributes
    )
    got = read.frame.set_index("decision_id").sort_index()
    want = stream.decisions.set_index("decision_id").sort_index()
    assert read.attributes == stream.attributes
    for column in (
        "outcome",
        "reviewer",
        "final_outcome",
        "appealed",
        "sex",
        "age_band",
        "purpose",
    ):
        assert [_plain(v) for v in got[column]] == [_plain(v) for v in want[column]], column
    for column in ("decided_at", "resolved_at"):
        assert (got[column] == want[column]).all(), column
    for column in ("score", "income", "duration"):
        assert got[column].to_numpy() == pytest.approx(want[column].to_numpy()), column
    assert [_plain(v) for v in got["appeal_upheld"]] == [_plain(v) for v in want["appeal_upheld"]]
    # a referred decision's recommendation; an automated one is its own final outcome
    referred = want["outcome"] == "referred"
    assert (
        got.loc[referred, "model_recommendation"].tolist()
        == want.loc[referred, "model_recommendation"].tolist()
    )


def test_drift_and_reviewer_alerts_are_raised_in_the_right_week(log: DecisionLog) -> None:
    stream = synthetic_stream(n_per_day=2000, days=14, seed=11, shift_day=4, bias_day=9)
    _fill(log, stream)
    written = _run(log, stream)
    raised = [e.digest for e in written if e.digest["state"] == "raised"]
    # the population shifts on 2026-11-06 (week of 11-02); r2 turns on sex=f on 11-11
    drift = {(d["subject"], d["window"]["start"]) for d in raised if d["kind"] == "drift"}
    assert drift == {("income", "2026-11-02"), ("score", "2026-11-02")}
    system = [d for d in raised if d["kind"] == "system"]
    assert system and {d["window"]["start"] for d in system} == {"2026-11-09"}
    assert {d["reviewer"] for d in system} <= {"r2", None}
    assert any(d["reviewer"] == "r2" and d["what"] == "override_to_decline_gap" for d in system)
    assert not [d for d in raised if d["kind"] == "fairness"]
    # nothing cleared: both breaches last to the end
    assert all(e.digest["state"] == "raised" for e in written)
    now = current_alerts(log, USE_CASE)
    assert {a.key for a in now} == {d["key"] for d in raised}
    assert {line["use_case"] for line in status_lines(log)} == {USE_CASE}
    # the same run again records nothing new
    assert _run(log, stream) == []
    assert len(alert_entries(log, USE_CASE)) == len(written)


def test_a_clean_stream_raises_nothing(log: DecisionLog) -> None:
    stream = synthetic_stream(n_per_day=2000, days=14, seed=12, shift_day=None, bias_day=None)
    _fill(log, stream)
    assert _run(log, stream) == []
    assert current_alerts(log, USE_CASE) == [] and status_lines(log) == []


def test_an_alert_is_cleared_when_the_breach_stops(log: DecisionLog) -> None:
    # drift from day 4 only in the first two weeks' worth of data: then a clean third week
    shifted = synthetic_stream(n_per_day=2000, days=14, seed=5, shift_day=7, bias_day=None)
    clean = synthetic_stream(
        n_per_day=2000, days=7, seed=6, shift_day=None, bias_day=None, start=dt.date(2026, 11, 16)
    )
    clean.decisions["decision_id"] = "c" + clean.decisions["decision_id"]
    _fill(log, shifted)
    first = _run(log, shifted)
    assert {e.digest["window"]["start"] for e in first} == {"2026-11-09"}
    _fill(log, clean)
    both = SyntheticStream(
        decisions=pd.concat([shifted.decisions, clean.decisions], ignore_index=True),
        reference=shifted.reference,
        features=shifted.features,
        attributes=shifted.attributes,
        shift_day=shifted.shift_day,
        bias_day=None,
        biased_reviewer=shifted.biased_reviewer,
        disadvantaged_group=shifted.disadvantaged_group,
    )
    second = _run(log, both)
    assert second and all(e.digest["state"] == "cleared" for e in second)
    assert {e.digest["window"]["start"] for e in second} == {"2026-11-16"}
    assert {e.digest["key"] for e in second} == {e.digest["key"] for e in first}
    assert current_alerts(log, USE_CASE) == []
