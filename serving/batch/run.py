"""A batch run: which version decides, the run's id, resuming, and the local engine.

The run id is ``--run-id`` or, by default, derived from the input file's SHA-256,
the use case and the served version; decision ids are derived from the run id and
the row number (:func:`serving.batch.chunks.decision_id_of`). The run's start is a
``batch_run`` entry of the ledger naming the input's hash: running the same run id
again resumes it (chunks already recorded are not decided again), and running it
over a changed input is refused, since its rows would get the ids of other rows.
"""

from __future__ import annotations

import gc
import hashlib
import json
import multiprocessing
import os
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from mlflow.exceptions import MlflowException

from models import registry
from models.settings import Settings
from serving.batch.chunks import REJECT_SCHEMA, REJECTS_DIR, ChunkJob, ChunkResult, process_chunk
from serving.batch.errors import BatchError
from serving.batch.rows import check_columns, file_sha256, read_table
from serving.decisions.errors import NotServed
from serving.decisions.served import ServedModel, last_promotion, load_served
from serving.ledger import DecisionLog, LogKind

__all__ = ["BatchPlan", "BatchSummary", "plan_batch", "rejects_path", "run_local"]

DEFAULT_CHUNK_ROWS = 5000
#: processes of a local run (default: one per usable core)
WORKERS_ENV = "DOCKET_BATCH_WORKERS"
MANIFEST = "_batch_run.json"


def rejects_path(output: Path) -> Path:
    """Where the rejected rows go: next to OUTPUT, ``<OUTPUT>.rejects.csv``."""
    return output.with_name(output.name + ".rejects.csv")


@dataclass
class BatchPlan:
    job: ChunkJob
    served: ServedModel
    table: pa.Table
    input_sha256: str
    chunk_rows: int
    resumed: bool
    log: DecisionLog

    @property
    def rows(self) -> int:
        return self.table.num_rows

    @property
    def chunks(self) -> int:
        return -(-self.rows // self.chunk_rows)

    def frames(self) -> Iterator[tuple[int, int, pd.DataFrame]]:
        for chunk in range(self.chunks):
            first = chunk * self.chunk_rows
            yield chunk, first, self.table.slice(first, self.chunk_rows).to_pandas()


@dataclass
class BatchSummary:
    run_id: str
    use_case: str
    version: str
    engine: str
    rows: int = 0
    decided: int = 0
    rejected: int = 0
    referred: int = 0
    chunks: dict[str, int] = field(default_factory=dict)
    output: str = ""
    rejects: str = ""
    seconds: float = 0.0
    #: processes that decided a local run; None on Spark (its master sets the parallelism)
    workers: int | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def add(self, result: ChunkResult) -> None:
        self.rows += result.rows
        self.decided += result.decided
        self.rejected += result.rejected
        self.referred += result.referred
        self.chunks[result.how] = self.chunks.get(result.how, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "rows_per_second": round(self.rows_per_second, 1)}


def _served(settings: Settings, use_case: str, version: str | None) -> ServedModel:
    """The version to decide with, under the service's rule: its promotion is on record."""
    client = registry.connect(settings)
    try:
        client.get_registered_model(use_case)
        last = last_promotion(client, use_case)
        if version is None:
            version = registry.alias_version(client, use_case, registry.CHAMPION)
            if version is None:
                raise BatchError(
                    f"use case {use_case!r} has no champion: no version has passed the gate"
                    " and been promoted, so there is nothing to decide with"
                )
        return load_served(client, use_case, str(version), require_promotion=last)
    except NotServed as exc:
        raise BatchError(f"--version {version}: may not be served: {exc}") from None
    except MlflowException as exc:
        what = f"--version {version}: no such version of" if version else "no"
        raise BatchError(f"{what} use case {use_case!r} in the registry: {exc.message}") from None


def _run_entries(log: DecisionLog, run_id: str) -> list[dict[str, Any]]:
    return [
        e.digest
        for e in log.entries_for(f"batch:{run_id}")
        if e.kind == LogKind.ADMIN and e.digest.get("action") == "batch_run"
    ]


def plan_batch(
    settings: Settings,
    use_case: str,
    input_path: Path,
    output: Path,
    *,
    requested_by: str,
    version: str | None = None,
    run_id: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    engine: str = "local",
) -> BatchPlan:
    """Check everything that can be checked before deciding, and record the run's start."""
    if chunk_rows < 1:
        raise BatchError(f"--chunk-rows must be at least 1; got {chunk_rows}")
    served = _served(settings, use_case, version)
    table = read_table(input_path)
    check_columns(table.column_names, served.spec.feature_names, use_case)
    sha = file_sha256(input_path)
    run_id = (
        run_id or hashlib.sha256(f"{sha}:{use_case}:{served.version}".encode()).hexdigest()[:24]
    )
    log = DecisionLog(settings.database_url)
    log.migrate()
    started = _run_entries(log, run_id)
    start = {
        "action": "batch_run",
        "run_id": run_id,
        "input_sha256": sha,
        "input": str(input_path),
        "rows": table.num_rows,
        "model_version": served.version,
        "chunk_rows": chunk_rows,
        "output": str(output),
        "requested_by": requested_by,
    }
    if started:
        first = started[0]
        if first["input_sha256"] != sha:
            log.close()
            raise BatchError(
                f"run {run_id} was started on an input with SHA-256 {first['input_sha256'][:16]}…,"
                f" and {input_path} now has {sha[:16]}…: the input changed, so its rows cannot"
                " be resumed under the same ids. Give a new --run-id (or none: the default is"
                " derived from the input) to decide the new input as a new run"
            )
        if first["model_version"] != served.version:
            log.close()
            raise BatchError(
                f"run {run_id} was started with version {first['model_version']}; resume it"
                f" with --version {first['model_version']} or give a new --run-id"
            )
        chunk_rows = int(first["chunk_rows"])  # the chunks are the run's, whatever is asked now
    else:
        log.append(LogKind.ADMIN, use_case, start, subject_id=f"batch:{run_id}")
    output.mkdir(parents=True, exist_ok=True)
    manifest = output / MANIFEST
    if manifest.exists():
        held = json.loads(manifest.read_text())
        if held.get("run_id") != run_id:
            log.close()
            raise BatchError(
                f"OUTPUT {output} holds the results of run {held.get('run_id')}, not of run"
                f" {run_id}: choose another OUTPUT folder"
            )
    else:
        manifest.write_text(json.dumps({**start, "engine": engine}, indent=2))
    job = ChunkJob(
        run_id=run_id,
        use_case=use_case,
        version=served.version,
        database_url=settings.database_url,
        output=str(output),
        requested_by=requested_by,
    )
    return BatchPlan(job, served, table, sha, chunk_rows, bool(started), log)


def finish(plan: BatchPlan, summary: BatchSummary) -> BatchSummary:
    """Merge the chunks' rejects into the rejects file and record the run's end."""
    output = Path(plan.job.output)
    parts = sorted((output / REJECTS_DIR).glob("part-*.parquet"))
    tables = [pq.read_table(p) for p in parts] or [REJECT_SCHEMA.empty_table()]
    rejects = pa.concat_tables(tables).to_pandas().sort_values(["row", "field"], kind="stable")
    target = rejects_path(output)
    rejects.to_csv(target, index=False)
    summary.output, summary.rejects = str(output), str(target)
    plan.log.append(
        LogKind.ADMIN,
        plan.job.use_case,
        {
            "action": "batch_run_done",
            "run_id": plan.job.run_id,
            "rows": summary.rows,
            "decided": summary.decided,
            "rejected": summary.rejected,
            "referred": summary.referred,
            "engine": summary.engine,
        },
        subject_id=f"batch:{plan.job.run_id}",
    )
    return summary


def progress_line(summary: BatchSummary, total: int, result: ChunkResult, t0: float) -> str:
    elapsed = time.perf_counter() - t0
    rate = summary.rows / elapsed if elapsed else 0.0
    return (
        f"chunk {result.chunk + 1} {result.how}: {summary.rows}/{total} rows"
        f" ({100 * summary.rows / max(total, 1):.0f}%), {summary.decided} decided,"
        f" {summary.rejected} rejected, {summary.referred} referred, {rate:.0f} rows/s"
    )


def local_workers(chunks: int) -> int:
    """How many processes decide a local run: ``DOCKET_BATCH_WORKERS``, else one per
    usable core; never more than there are chunks."""
    raw = os.environ.get(WORKERS_ENV)
    if raw is None or not raw.strip():
        wanted = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    else:
        try:
            wanted = int(raw)
        except ValueError:
            wanted = 0
        if wanted < 1:
            raise BatchError(f"{WORKERS_ENV} must be a whole number of at least 1; got {raw!r}")
    return max(1, min(wanted, chunks))


def run_local(
    plan: BatchPlan,
    progress: Callable[[str], None] = lambda _: None,
    *,
    workers: int | None = None,
) -> BatchSummary:
    """Decide every chunk on this machine: in this process, in order, with one worker;
    else in ``workers`` processes (default :func:`local_workers`), each deciding whole
    chunks with its own ledger connection (the ledger orders their transactions)."""
    if workers is not None and workers < 1:
        raise BatchError(f"workers must be at least 1; got {workers}")
    n = local_workers(plan.chunks) if workers is None else min(workers, max(plan.chunks, 1))
    summary = BatchSummary(plan.job.run_id, plan.job.use_case, plan.job.version, "local")
    summary.workers = n
    t0 = time.perf_counter()
    if n == 1:
        gc.freeze()  # the model and the input are kept to the end: no collection walks them
        for chunk, first, frame in plan.frames():
            result = process_chunk(plan.job, plan.served, plan.log, chunk, first, frame)
            summary.add(result)
            progress(progress_line(summary, plan.rows, result, t0))
    else:
        for result in _in_processes(plan, n):
            summary.add(result)
            progress(progress_line(summary, plan.rows, result, t0))
    summary.seconds = time.perf_counter() - t0
    return finish(plan, summary)


# per worker process: the model and an open ledger (set by _start_worker)
_WORKER: list[tuple[ChunkJob, ServedModel, DecisionLog]] = []


#: how often a worker looks whether the run that started it is still there
PARENT_CHECK_S = 0.5


def _exit_with_parent(parent: int) -> None:
    """End this worker once the run's process is gone (killed, even with SIGKILL).

    The pool's queues stay open in the sibling workers, so a worker waiting for its
    next chunk would otherwise wait forever, holding the model and a ledger connection.
    A chunk it was deciding is rolled back with its transaction (a chunk is recorded
    whole or not at all), and the next run decides it.
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    os._exit(3)


def _start_worker(job: ChunkJob, blob: bytes, parent: int) -> None:
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    _WORKER.append((job, pickle.loads(blob), DecisionLog(job.database_url)))
    gc.freeze()


def _worker_chunk(chunk: int, first: int, frame: pd.DataFrame) -> ChunkResult:
    job, served, log = _WORKER[0]
    return process_chunk(job, served, log, chunk, first, frame)


def _in_processes(plan: BatchPlan, workers: int) -> Iterator[ChunkResult]:
    """The chunks decided by ``workers`` fresh processes, results as they finish.

    Fresh (spawned) processes, not forks: a fork would inherit the parent's open
    database connections and LightGBM's OpenMP state, neither safe to use after it.
    At most two chunks per worker are in flight, so the input is not copied at once.
    """
    context = multiprocessing.get_context("spawn")
    frames = plan.frames()
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_start_worker,
        initargs=(plan.job, pickle.dumps(plan.served), os.getpid()),
    ) as pool:
        pending: set[Future[ChunkResult]] = set()
        try:
            while True:
                for chunk, first, frame in frames:
                    pending.add(pool.submit(_worker_chunk, chunk, first, frame))
                    if len(pending) >= 2 * workers:
                        break
                if not pending:
                    return
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in sorted(done, key=lambda f: f.result().chunk):
                    yield future.result()
        except BaseException:
            for future in pending:
                future.cancel()
            raise
