"""`docket batch --engine spark`: the same chunks, decided on Spark executors.

The driver reads the input, numbers its rows and hands them to Spark; the rows
of one chunk go to one partition (``repartition`` by chunk), and ``mapInPandas``
runs :func:`serving.batch.chunks.process_chunk` on each chunk: the same code, ids,
ledger transaction (one per chunk) and part files as the local engine. The served
model is pickled once on the driver and broadcast, so each executor process loads
it once (cached by run id); under Spark Connect (``SPARK_REMOTE``), which has no
broadcast, it travels with the task instead. Executors write to the ledger and to
OUTPUT themselves: on a cluster both must be reachable from them (a PostgreSQL
ledger, a shared OUTPUT path). PySpark is the optional extra ``docket[spark]``.
"""

from __future__ import annotations

import gc
import os
import pickle
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from typing import Any

import pandas as pd
import pyarrow as pa

from serving.batch.chunks import ChunkJob, ChunkResult, process_chunk
from serving.batch.errors import BatchError
from serving.batch.run import BatchPlan, BatchSummary, finish, progress_line
from serving.decisions.served import ServedModel
from serving.ledger import DecisionLog

__all__ = ["RESULT_DDL", "run_spark", "spark_session"]

RESULT_DDL = "chunk long, rows long, decided long, rejected long, referred long, how string"

# per executor process: the unpickled model and an open ledger, by run id
_WORKER: dict[str, tuple[ServedModel, DecisionLog]] = {}


def spark_session(master: str | None = None) -> Any:
    """The active session, else a new one: ``master``, else SPARK_REMOTE or the master
    spark-submit set, else ``local[*]``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise BatchError(
            "--engine spark needs PySpark: pip install 'docket[spark]' (and Java 17+)"
        ) from None
    active = SparkSession.getActiveSession()
    if active is not None and master is None:
        return active
    builder = (
        SparkSession.builder.appName("docket-batch")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        # the run prints its own progress, one line per chunk
        .config("spark.ui.showConsoleProgress", "false")
    )
    if master is not None:
        builder = builder.master(master)
    elif not os.environ.get("SPARK_REMOTE") and not _under_spark_submit():
        builder = builder.master("local[*]")
    if (master or "local").startswith("local") and not _under_spark_submit():
        # local executors run this interpreter (its packages), not whatever python3 is
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return builder.getOrCreate()


def _under_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands the Python driver its port: its
    # --master (or spark.master in spark-defaults.conf) then holds, not local[*]
    return bool(os.environ.get("PYSPARK_GATEWAY_PORT"))


def _worker_state(job: ChunkJob, model: Any) -> tuple[ServedModel, DecisionLog]:
    state = _WORKER.get(job.run_id)
    if state is None:
        blob = model.value if hasattr(model, "value") else model  # a broadcast, or the bytes
        state = (pickle.loads(blob), DecisionLog(job.database_url))
        gc.freeze()  # the model lives as long as the executor: no collection walks it
        _WORKER.clear()  # one run at a time per executor process
        _WORKER[job.run_id] = state
    return state


def _decide_partition(
    job: ChunkJob, model: Any, batches: Iterator[pd.DataFrame]
) -> Iterator[pd.DataFrame]:
    frames = list(batches)
    if not frames:
        return
    frame = pd.concat(frames, ignore_index=True)
    served, log = _worker_state(job, model)
    for chunk, group in frame.groupby("_chunk", sort=True):
        group = group.sort_values("_row")
        first, last = int(group["_row"].iloc[0]), int(group["_row"].iloc[-1])
        if last - first + 1 != len(group):  # a chunk is decided whole or not at all
            raise BatchError(f"chunk {chunk} reached an executor split ({len(group)} rows)")
        rows = group.drop(columns=["_row", "_chunk"]).reset_index(drop=True)
        result = process_chunk(job, served, log, int(str(chunk)), first, rows)
        yield pd.DataFrame([asdict(result)])


def run_spark(
    plan: BatchPlan,
    *,
    master: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
    session: Any = None,
) -> BatchSummary:
    """Decide every chunk on Spark; the summary and the rejects file as :func:`run_local`."""
    spark = session or spark_session(master)
    summary = BatchSummary(plan.job.run_id, plan.job.use_case, plan.job.version, "spark")
    t0 = time.perf_counter()
    n = plan.rows
    table = plan.table.append_column("_row", pa.array(range(n), pa.int64())).append_column(
        "_chunk", pa.array([i // plan.chunk_rows for i in range(n)], pa.int64())
    )
    blob = pickle.dumps(plan.served)
    try:
        model: Any = spark.sparkContext.broadcast(blob)
    except Exception:  # Spark Connect has no SparkContext: ship the bytes with the tasks
        model = blob
    job = plan.job
    frame = spark.createDataFrame(table.to_pandas()).repartition(plan.chunks, "_chunk")

    def decide(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        return _decide_partition(job, model, batches)

    results = frame.mapInPandas(decide, RESULT_DDL)
    # the next partition is computed while this one is read: both local[2] cores busy
    for row in results.toLocalIterator(prefetchPartitions=True):
        result = ChunkResult(**row.asDict())
        summary.add(result)
        progress(progress_line(summary, n, result, t0))
    summary.seconds = time.perf_counter() - t0
    if hasattr(model, "unpersist"):
        model.unpersist()
    return finish(plan, summary)
