"""Time the monitoring reader over N logged decisions, then the report, with load average.

    .venv/bin/python benchmarks/monitoring_ledger.py [N]   # default 1,000,000

A synthetic stream (audits.monitoring.synthetic, drift and reviewer bias planted) is
appended to a fresh SQLite ledger as decision (digest + payload), review and appeal
entries through ``append_many``; then ``read_decisions`` (the ledger to the frame),
``monitoring_report`` (week windows) and ``check_alerts`` are timed. The baseline in
the same run: the report over the in-memory stream, without the ledger.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from audits.monitoring import check_alerts, monitoring_report, synthetic_stream
from models.spec import MonitoringSection
from serving.ledger.store import DecisionLog
from serving.monitoring.reader import read_decisions


def main(n: int) -> None:
    # the simulation test's entries: one way to write the stream into a ledger
    import importlib.util

    path = (
        Path(__file__).resolve().parents[1] / "tests/serving/monitoring/test_simulation_ledger.py"
    )
    spec = importlib.util.spec_from_file_location("simulation_ledger", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    USE_CASE, _entries = module.USE_CASE, module._entries

    days = 14
    stream = synthetic_stream(n_per_day=max(n // days, 1), days=days, seed=1)
    settings = MonitoringSection()
    print(f"load average before: {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        log = DecisionLog(f"sqlite:///{tmp}/d.db")
        log.migrate()
        t0 = time.perf_counter()
        entries = _entries(stream)
        for i in range(0, len(entries), 20_000):
            with log.transaction() as tx:
                tx.append_many(entries[i : i + 20_000])
        fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        read = read_decisions(
            log, USE_CASE, features=list(stream.features), attributes=stream.attributes
        )
        reading = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = monitoring_report(
            read.frame,
            settings=settings,
            window="week",
            features=stream.features,
            attributes=read.attributes,
            reference=stream.reference,
        )
        alerts = check_alerts(report, settings)
        reporting = time.perf_counter() - t0
        t0 = time.perf_counter()
        monitoring_report(
            stream.decisions,
            settings=settings,
            window="week",
            features=stream.features,
            attributes=stream.attributes,
            reference=stream.reference,
        )
        baseline = time.perf_counter() - t0
        log.close()
    print(f"decisions: {len(read.frame)}; ledger entries: {len(entries)}; alerts: {len(alerts)}")
    print(f"fill (not monitoring's cost): {fill:.1f} s")
    print(f"read ledger -> frame: {reading:.1f} s ({len(read.frame) / reading:,.0f} decisions/s)")
    print(f"report + alerts on the read frame: {reporting:.1f} s")
    print(f"baseline: report on the in-memory stream: {baseline:.1f} s")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
