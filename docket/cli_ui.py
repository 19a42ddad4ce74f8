"""`docket ui`: the MLflow UI on Docket's state folder (runs, versions, audit reports)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from docket.app import app, progress

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000


def ui_url(host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def run_page_url(
    experiment_id: str,
    run_id: str,
    artifact_path: str | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
) -> str:
    """A run's page in the MLflow UI; with ``artifact_path``, its Artifacts tab showing that file.

    The UI routes with a hash router; ``/experiments/E/runs/R/artifacts/PATH`` is the
    route MLflow 3's own links to an artifact take.
    """
    page = f"{ui_url(host, port)}/#/experiments/{experiment_id}/runs/{run_id}"
    return page + (f"/artifacts/{artifact_path}" if artifact_path else "")


def server_args(tracking_uri: str, artifact_root_uri: str, host: str, port: int) -> list[str]:
    """``mlflow server`` on Docket's store; each experiment keeps its own artifact folder."""
    return [
        "server",
        "--backend-store-uri",
        tracking_uri,
        "--registry-store-uri",
        tracking_uri,
        "--default-artifact-root",
        artifact_root_uri,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]


@app.command()
def ui(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = DEFAULT_PORT,
) -> None:
    """Start the MLflow UI on the state folder: runs, model versions and audit reports (Ctrl-C stops it)."""
    from models.settings import Settings

    settings = Settings.from_env().ensure()
    mlflow_bin = os.path.join(os.path.dirname(sys.executable), "mlflow")
    args = server_args(settings.tracking_uri, settings.artifact_root.as_uri(), host, port)
    progress(
        f"MLflow UI on {ui_url(host, port)} (state in {settings.home}; Ctrl-C to stop)."
        " An audit's report: the version's run, tab Artifacts, audits/<audit id>/report.html"
    )
    env = {**os.environ, **settings.as_env()}
    # the server takes over this process, so Ctrl-C and a terminate reach it directly
    os.execve(mlflow_bin, [mlflow_bin, *args], env)
