"""Alerts: severities and gating by hand, and the simulation of issue 15.

The simulation: a stream whose population shifts on day 4 and whose reviewer r2
starts overturning the approvals of group f on day 9. The drift alert must be raised
from the window holding day 4 and not before, the human-plus-model alert from the
window holding day 9 and not before, and a stream without either raises nothing.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from audits.monitoring import (
    Alert,
    DriftRow,
    MonitoringReport,
    SyntheticStream,
    Window,
    check_alerts,
    feature_kinds,
    monitoring_report,
    synthetic_stream,
    to_plain,
)
from docket.usecases import SHIPPED_DIR
from models.canonical import canonical_json
from models.spec import MonitoringSection, load_spec

SETTINGS = MonitoringSection()
DAY = Window("day", dt.date(2026, 11, 2))


def _drift_row(psi: float, p_value: float | None, *, is_score: bool = False) -> DriftRow:
    return DriftRow(
        window=DAY,
        column="score" if is_score else "income",
        is_score=is_score,
        kind="numeric",
        n=1000,
        psi=psi,
        test="ks",
        statistic=None if p_value is None else 0.1,
        p_value=p_value,
        missing_share=0.0,
        unseen=0,
    )


def _report(*rows: DriftRow) -> MonitoringReport:
    return MonitoringReport("day", 30, (), (), tuple(rows), (), (), ())


def test_drift_severity_follows_the_thresholds_and_the_test() -> None:
    # given: defaults warn 0.1, alert 0.25, p < 0.001; the score has its own thresholds
    settings = MonitoringSection.model_validate(
        {"drift": {"score_psi_warn": 0.05, "score_psi_alert": 0.5}}
    )
    report = _report(
        _drift_row(0.30, 1e-9),  # alert
        _drift_row(0.12, 1e-9),  # warn
        _drift_row(0.09, 1e-9),  # nothing
        _drift_row(0.30, 0.01),  # the test does not reject: nothing
        _drift_row(0.30, None),  # no test possible: PSI alone
        _drift_row(0.30, 1e-9, is_score=True),  # warn under the score's thresholds
    )

    # when
    alerts = check_alerts(report, settings)

    # then
    assert [(a.what, a.severity, a.value, a.threshold) for a in alerts] == [
        ("psi", "alert", 0.30, 0.25),
        ("psi", "warn", 0.12, 0.1),
        ("psi", "alert", 0.30, 0.25),
        ("score_psi", "warn", 0.30, 0.05),
    ]
    assert alerts[0].message == "alert: psi of income in day 2026-11-02 is 0.3 (threshold 0.25)"


@pytest.fixture(scope="module")
def planted() -> SyntheticStream:
    return synthetic_stream(n_per_day=20_000, days=14, seed=11, shift_day=4, bias_day=9)


@pytest.fixture(scope="module")
def clean() -> SyntheticStream:
    return synthetic_stream(n_per_day=20_000, days=14, seed=12, shift_day=None, bias_day=None)


def _alerts(stream: SyntheticStream, window: str) -> tuple[list[Alert], list[Window]]:
    report = monitoring_report(
        stream.decisions,
        settings=SETTINGS,
        window=window,  # type: ignore[arg-type]
        features=stream.features,
        attributes=stream.attributes,
        reference=stream.reference,
    )
    return check_alerts(report, SETTINGS), [w.window for w in report.windows]


@pytest.mark.parametrize("window", ["day", "week"])
def test_drift_and_human_system_alerts_start_in_the_right_window(
    planted: SyntheticStream, window: str
) -> None:
    # given
    assert planted.shift_day == dt.date(2026, 11, 6) and planted.bias_day == dt.date(2026, 11, 11)
    shift = Window(window, planted.shift_day)  # type: ignore[arg-type]
    bias = Window(window, planted.bias_day)  # type: ignore[arg-type]
    if window == "week":  # the Mondays of the weeks holding those days
        shift, bias = Window("week", dt.date(2026, 11, 2)), Window("week", dt.date(2026, 11, 9))

    # when
    alerts, windows = _alerts(planted, window)

    # then: drift of income (and so of the score) in every window from the shift on, and
    # never before; a week that is partly shifted may only warn
    drift = [a for a in alerts if a.kind == "drift"]
    assert {a.subject for a in drift} == {"income", "score"}
    assert {a.window for a in drift if a.subject == "income"} == {w for w in windows if w >= shift}
    assert {a.window for a in drift if a.severity == "alert"} == {
        w for w in windows if w > shift
    } | ({shift} if window == "day" else set())
    # the human-plus-model system: r2 overturns f's approvals, from the bias on
    system = [a for a in alerts if a.kind == "system"]
    assert min(a.window for a in system) == bias
    flagged = [a for a in system if a.reviewer == "r2" and a.what == "override_to_decline_gap"]
    assert flagged and all(a.subject == "sex" or "sex=f" in a.groups[0] for a in flagged)
    assert all(a.groups[0].startswith(("f", "sex=f")) for a in flagged)
    assert not [a for a in system if a.reviewer not in (None, "r2")]
    # nothing else: live fairness is group-blind in the stream
    assert not [a for a in alerts if a.kind == "fairness"]


@pytest.mark.parametrize("window", ["day", "week"])
def test_a_stream_without_drift_or_bias_raises_no_alert(
    clean: SyntheticStream, window: str
) -> None:
    alerts, windows = _alerts(clean, window)
    assert len(windows) == (14 if window == "day" else 2)
    assert alerts == []


def test_a_report_and_its_alerts_read_back_from_canonical_json(planted: SyntheticStream) -> None:
    # given
    report = monitoring_report(
        planted.decisions.head(40_000),
        settings=SETTINGS,
        window="day",
        features=planted.features,
        attributes=planted.attributes,
        reference=planted.reference,
    )
    alerts = check_alerts(report, SETTINGS)

    # when
    text = canonical_json({"report": to_plain(report), "alerts": to_plain(alerts)})
    back = json.loads(text)

    # then
    assert back["report"]["window_kind"] == "day"
    assert back["report"]["windows"][0]["window"] == {
        "kind": "day",
        "start": "2026-11-02",
        "label": "day 2026-11-02",
    }
    assert len(back["report"]["system"]) == len(report.system)
    first = report.fairness[0]
    assert back["report"]["fairness"][0]["approval_rate"]["value"] == first.approval_rate.value
    assert back["alerts"] == [to_plain(a) for a in alerts]
    # rows without sex are left out of the groups and counted per window
    head = planted.decisions.head(40_000)
    assert sum(w.unknown_group for w in report.windows) == int(head["sex"].isna().sum()) > 0
    assert sum(w.n for w in report.windows) == 40_000
    assert feature_kinds(load_spec(SHIPPED_DIR / "credit-eligibility.toml"))["Amount"] == "numeric"
