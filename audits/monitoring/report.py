"""The monitoring report of one window kind: drift, live fairness, the human-plus-model system."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audits.monitoring.drift import DriftRow, drift_by_window
from audits.monitoring.fairness import LiveGroupRow, LiveSummary, live_fairness
from audits.monitoring.frames import (
    SCORE,
    SYSTEM_COLUMNS,
    FeatureKind,
    Window,
    check_kind,
)
from audits.monitoring.grouping import prepare
from audits.monitoring.system import SystemRow, system_by_group
from models.spec import DecisionSpec, MonitoringSection, WindowKind


@dataclass(frozen=True)
class WindowCount:
    """Decisions in a window, and how many of them carry no (complete) group."""

    window: Window
    n: int
    unknown_group: int


@dataclass(frozen=True)
class MonitoringReport:
    """Everything monitoring computes for one window kind.

    ``system`` is empty when the frame lacks the review columns; ``fairness``,
    ``fairness_summaries`` and ``system`` are empty without attributes; ``drift`` is
    empty without a reference.
    """

    window_kind: WindowKind
    min_group_size: int
    attributes: tuple[str, ...]
    windows: tuple[WindowCount, ...]
    drift: tuple[DriftRow, ...]
    fairness: tuple[LiveGroupRow, ...]
    fairness_summaries: tuple[LiveSummary, ...]
    system: tuple[SystemRow, ...]


def to_plain(value: Any) -> Any:
    """A report, alert or any of their parts as JSON-native values (for ``--json`` and the ledger).

    Dataclasses become dicts of their fields, tuples lists, dates ISO strings, and a
    :class:`Window` ``{"kind", "start", "label"}``; the result is accepted by
    :func:`models.canonical.canonical_json`.
    """
    if isinstance(value, Window):
        return {"kind": value.kind, "start": value.start.isoformat(), "label": value.label}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    return value


def feature_kinds(spec: DecisionSpec) -> dict[str, FeatureKind]:
    """The spec's model features and their kinds, the columns drift watches."""
    return {name: feature.type for name, feature in spec.features.items()}


def monitoring_report(
    decisions: pd.DataFrame,
    *,
    settings: MonitoringSection,
    window: WindowKind,
    features: Mapping[str, FeatureKind],
    attributes: Sequence[str] = (),
    reference: pd.DataFrame | None = None,
) -> MonitoringReport:
    """Drift, live fairness and the human-plus-model figures of every window.

    Parameters
    ----------
    decisions : DataFrame
        The logged decisions (columns in :mod:`audits.monitoring.frames`).
    settings : MonitoringSection
        The spec's ``[monitoring]`` (``MonitoringSection()`` for the defaults).
    window : {"day", "week"}
    features : mapping of str to {"numeric", "categorical"}
        The columns drift watches (:func:`feature_kinds`).
    attributes : sequence of str
        The ``audit_attributes`` columns; none: only what needs no groups.
    reference : DataFrame, optional
        The training sample (feature columns and ``score``); none: no drift.

    Returns
    -------
    MonitoringReport
    """
    kind = check_kind(window)
    attrs = tuple(attributes)
    ready = prepare(decisions, attrs, kind)
    codes, windows, groups = ready.window_of, ready.windows, ready.groups
    unknown = np.zeros(len(windows), dtype=np.int64)
    if groups is not None:
        unknown = np.bincount(codes[~groups.rows], minlength=len(windows))
    counts = np.bincount(codes, minlength=len(windows))
    drift: list[DriftRow] = []
    if reference is not None:
        drift = drift_by_window(
            reference,
            decisions,
            features,
            kind,
            bins=settings.drift.bins,
            score=SCORE in decisions.columns and SCORE in reference.columns,
        )
    rows: list[LiveGroupRow] = []
    summaries: list[LiveSummary] = []
    system: list[SystemRow] = []
    if attrs:
        rows, summaries = live_fairness(
            decisions,
            attrs,
            kind,
            min_group_size=settings.min_group_size,
            n_boot=settings.n_boot,
            confidence=settings.confidence,
            seed=settings.seed,
            prepared=ready,
        )
        if all(c in decisions.columns for c in SYSTEM_COLUMNS):
            system = system_by_group(decisions, attrs, kind, min_group_size=settings.min_group_size)
    return MonitoringReport(
        window_kind=kind,
        min_group_size=settings.min_group_size,
        attributes=attrs,
        windows=tuple(
            WindowCount(win, int(n), int(u))
            for win, n, u in zip(windows, counts, unknown, strict=True)
        ),
        drift=tuple(drift),
        fairness=tuple(rows),
        fairness_summaries=tuple(summaries),
        system=tuple(system),
    )
