"""Monitoring computations (R32): drift, live fairness, the human-plus-model system, alerts.

Pure functions over pandas frames of logged decisions (columns in
:mod:`audits.monitoring.frames`); the serving layer reads the ledger into those
frames and records, exposes and sends the alerts.
"""

from audits.monitoring.alerts import Alert, check_alerts
from audits.monitoring.drift import (
    DriftRow,
    ReferenceBins,
    drift_by_window,
    population_stability_index,
    psi_of_samples,
    reference_bins,
)
from audits.monitoring.fairness import LiveGroupRow, LiveSummary, live_fairness
from audits.monitoring.frames import (
    MonitoringInputError,
    Window,
    check_decisions,
    window_codes,
)
from audits.monitoring.grouping import Figure
from audits.monitoring.report import (
    MonitoringReport,
    WindowCount,
    feature_kinds,
    monitoring_report,
    to_plain,
)
from audits.monitoring.synthetic import SyntheticStream, synthetic_stream
from audits.monitoring.system import SYSTEM_FIGURES, SystemRow, system_by_group

__all__ = [
    "SYSTEM_FIGURES",
    "Alert",
    "DriftRow",
    "Figure",
    "LiveGroupRow",
    "LiveSummary",
    "MonitoringInputError",
    "MonitoringReport",
    "ReferenceBins",
    "SyntheticStream",
    "SystemRow",
    "Window",
    "WindowCount",
    "check_alerts",
    "check_decisions",
    "drift_by_window",
    "feature_kinds",
    "live_fairness",
    "monitoring_report",
    "population_stability_index",
    "psi_of_samples",
    "reference_bins",
    "synthetic_stream",
    "system_by_group",
    "to_plain",
    "window_codes",
]
