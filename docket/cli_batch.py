"""`docket batch`: decide every row of a Parquet or CSV file as ``POST /decide`` would.

Each decided row is recorded in the ledger (review cases opened for referred rows)
and written to OUTPUT, a Parquet folder (one ``part-*.parquet`` per chunk); rows
that fail validation go to ``<OUTPUT>.rejects.csv`` with their row number, field and
error. A run interrupted for any reason is resumed by running the same command
again: what was recorded is not decided twice (see :mod:`serving.batch.run`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from docket.app import ByOption, JsonFlag, app, emit, operator_name, progress, user_errors


class Engine(StrEnum):
    local = "local"
    spark = "spark"


def _human(result: dict) -> str:
    chunks = ", ".join(f"{n} {how}" for how, n in sorted(result["chunks"].items()))
    return (
        f"run {result['run_id']}: {result['use_case']} version {result['version']}"
        f" ({result['engine']})\n"
        f"  {result['rows']} rows: {result['decided']} decided ({result['referred']} referred"
        f" to review), {result['rejected']} rejected\n"
        f"  chunks: {chunks}\n"
        f"  results: {result['output']}\n"
        f"  rejects: {result['rejects']}\n"
        f"  {result['seconds']:.1f} s, {result['rows_per_second']} rows/s"
        + (f" in {result['workers']} processes" if (result["workers"] or 1) > 1 else "")
    )


@app.command()
@user_errors
def batch(
    use_case: Annotated[str, typer.Argument(help="Use case to decide (a served one).")],
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="Parquet or .csv file.")],
    output: Annotated[
        Path, typer.Argument(metavar="OUTPUT", help="Folder for the results (Parquet parts).")
    ],
    engine: Annotated[Engine, typer.Option(help="Where to decide: here, or on Spark.")] = (
        Engine.local
    ),
    version: Annotated[
        str | None,
        typer.Option(
            help="Version to decide with; its promotion must be on record (default: the champion)."
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            "--run-id",
            help="The run's id (default: from the input's SHA-256, use case and version);"
            " the same id resumes the run.",
        ),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option(help="Rows per chunk: one ledger transaction each.")
    ] = 5000,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Local engine: processes deciding chunks side by side (default:"
            " DOCKET_BATCH_WORKERS, else one per usable core).",
        ),
    ] = None,
    master: Annotated[
        str | None,
        typer.Option(help="Spark master (default: SPARK_REMOTE, spark-submit's, or local[*])."),
    ] = None,
    by: ByOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Decide every row of INPUT, record each decision, write the results to OUTPUT."""
    from models.settings import Settings
    from serving.batch import BatchError, plan_batch, run_local

    requested_by = operator_name(by)
    if workers is not None and workers < 1:
        typer.echo(f"error: --workers must be at least 1; got {workers}", err=True)
        raise typer.Exit(code=2)
    if workers is not None and engine is Engine.spark:
        typer.echo(
            f"error: --workers {workers} is for --engine local; Spark's parallelism is set by"
            " its master and executors (--master, SPARK_REMOTE)",
            err=True,
        )
        raise typer.Exit(code=2)
    try:
        plan = plan_batch(
            Settings.from_env().ensure(),
            use_case,
            input_path,
            output,
            requested_by=requested_by,
            version=version,
            run_id=run_id,
            chunk_rows=chunk_rows,
            engine=engine.value,
        )
        progress(
            f"run {plan.job.run_id}: {plan.rows} rows of {input_path} in {plan.chunks} chunks,"
            f" {use_case} version {plan.job.version}, engine {engine.value}"
            + (" (resuming)" if plan.resumed else "")
        )
        try:
            if engine is Engine.spark:
                from serving.batch.spark import run_spark

                summary = run_spark(plan, master=master, progress=progress)
            else:
                summary = run_local(plan, progress=progress, workers=workers)
        finally:
            plan.log.close()
    except BatchError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from None
    emit(summary.as_dict(), as_json, _human)
