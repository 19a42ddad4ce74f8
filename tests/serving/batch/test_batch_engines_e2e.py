"""The same rows through a real `docket serve` (/decide), `--engine local` and `--engine spark`.

Outcomes, scores, contributions and reasons must be identical, compared exactly:
all three build the decision with the same code on the same model, and JSON and
Parquet carry float64 values without loss.
"""

from __future__ import annotations

import json
import math
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from models.settings import Settings
from serving.access.keys import create_key
from serving.batch import plan_batch, run_local
from serving.batch.spark import run_spark
from serving.ledger import DecisionLog, LogKind
from tests.conftest import SERVED_LEDGER

from ..server import docket_server
from .rows import USE_CASE, sample_rows, write_input

pytestmark = [
    pytest.mark.e2e,
    # PySpark 4.3 warns that it is not yet tested with pandas 3; this test checks the results
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]

N = 40


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    import os
    import sys

    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = (
        SparkSession.builder.master("local[2]")
        .appName("docket-batch-tests")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    yield session
    session.stop()


def _ledger_copy(served: Settings, work: Path, name: str) -> Settings:
    shutil.copyfile(served.home / SERVED_LEDGER, work / name)
    return served.model_copy(update={"database_url": f"sqlite:///{work / name}"})


def _body(record: dict[str, Any]) -> dict[str, Any]:
    features = {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in record.items()}
    return {"use_case": USE_CASE, "features": features}


def _essentials(outcome: str, score: float, contributions: list, reasons: list) -> tuple:
    return (
        outcome,
        score,
        [(c["feature"], c["contribution"], c["direction"]) for c in contributions],
        [(r["code"], tuple(r["features"]), r["contribution"], r["text"]) for r in reasons],
    )


def test_decide_local_and_spark_agree(
    served_settings: Settings, tmp_path_factory: pytest.TempPathFactory, spark: Any
) -> None:
    work = tmp_path_factory.mktemp("batch-e2e")
    rows = sample_rows(N, seed=21, bad=False)
    source = write_input(rows, work / "in.parquet")
    records = pd.read_parquet(source).to_dict("records")

    # /decide on a real service
    served = _ledger_copy(served_settings, work, "served.db")
    log = DecisionLog(served.database_url)
    log.migrate()
    key = create_key(log.engine, "application", "batch e2e")[0]
    log.close()
    online: dict[int, tuple] = {}
    with docket_server(served, work) as url:
        for i, record in enumerate(records):
            r = httpx.post(
                f"{url}/decide",
                json=_body(record),
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            )
            assert r.status_code == 200, r.text
            body = r.json()
            online[i] = _essentials(
                body["outcome"],
                body["score"],
                body["rationale"]["contributions"],
                body["rationale"]["reasons"],
            )

    def batch_results(engine: str) -> dict[int, tuple]:
        settings = _ledger_copy(served_settings, work, f"{engine}.db")
        out = work / f"out-{engine}"
        plan = plan_batch(settings, USE_CASE, source, out, requested_by="e2e", chunk_rows=15)
        try:
            summary = run_local(plan) if engine == "local" else run_spark(plan, session=spark)
        finally:
            plan.log.close()
        assert (summary.rows, summary.decided, summary.rejected) == (N, N, 0)
        # recorded once each, chain intact
        log = DecisionLog(settings.database_url)
        try:
            assert log.verify().ok
            counts = Counter(e.subject_id for e in log.iter_entries() if e.kind == LogKind.DECISION)
        finally:
            log.close()
        frame = pd.read_parquet(out)
        assert sorted(counts) == sorted(frame["decision_id"]) and set(counts.values()) == {1}
        return {
            int(r["row"]): _essentials(
                r["outcome"], r["score"], json.loads(r["contributions"]), json.loads(r["reasons"])
            )
            for _, r in frame.iterrows()
        }

    local = batch_results("local")
    on_spark = batch_results("spark")
    assert len(online) == N
    assert Counter(v[0] for v in online.values())["referred"] > 0  # a mix of paths
    assert local == online
    assert on_spark == online


def test_spark_resumes_a_run_that_crashed_locally(
    served_settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    spark: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from serving.batch import chunks as chunks_module

    work = tmp_path_factory.mktemp("batch-resume-spark")
    settings = _ledger_copy(served_settings, work, "resume.db")
    source = write_input(sample_rows(45, seed=5, bad=False), work / "in.parquet")
    out = work / "out"
    # given: chunk 0 written, chunk 1 recorded in the ledger but its files never written
    real_write, calls = chunks_module._write, {"n": 0}

    def crash_on_third_write(*args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash after the commit")
        real_write(*args)

    monkeypatch.setattr(chunks_module, "_write", crash_on_third_write)
    plan = plan_batch(settings, USE_CASE, source, out, requested_by="e2e", chunk_rows=15)
    with pytest.raises(RuntimeError, match="simulated crash"):
        try:
            run_local(plan, workers=1)  # in this process, where the crash is patched in
        finally:
            plan.log.close()
    monkeypatch.undo()
    # when: resumed on Spark
    plan = plan_batch(settings, USE_CASE, source, out, requested_by="e2e", chunk_rows=15)
    try:
        summary = run_spark(plan, session=spark)
    finally:
        plan.log.close()
    # then: chunk 0 left alone, chunk 1 rewritten from the ledger, chunk 2 decided
    assert plan.resumed and summary.chunks == {"done": 1, "rewritten": 1, "decided": 1}
    log = DecisionLog(settings.database_url)
    try:
        assert log.verify().ok
        entries = {e.subject_id: e for e in log.iter_entries() if e.kind == LogKind.DECISION}
        counts = Counter(e.subject_id for e in log.iter_entries() if e.kind == LogKind.DECISION)
    finally:
        log.close()
    frame = pd.read_parquet(out)
    assert len(frame) == 45 and set(counts.values()) == {1}
    assert set(frame["decision_id"]) == set(counts)
    for _, r in frame.iterrows():  # receipts, rewritten ones included, are the ledger's
        receipt = json.loads(r["receipt"])
        assert receipt["entry_hash"] == entries[r["decision_id"]].entry_hash
