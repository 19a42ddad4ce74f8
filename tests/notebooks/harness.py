"""Execute the notebooks in notebooks/ with nbclient, with what each one needs.

``01_data_scientist`` needs only a state folder. The others talk to a running
``docket serve``: :func:`served_for_notebooks` builds a registry serving the
synthetic use case (:func:`tests.serving.http.review_setup.build_registry`:
audited PASS, promoted, a one-second minimum review time), an application key,
a reviewer and an auditor, a ledger signing key and a witness folder, starts the
service with a checkpoint every second, and yields the environment the
notebooks read their settings from.

The kernel is this interpreter (the project's venv), named by a kernelspec
written into a folder of the caller's: a kernelspec installed elsewhere on the
machine (another Python) is never picked up.

``tools/run_notebooks.py`` (``make notebooks``) executes them all with this module
and writes an HTML copy of each, outputs included.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import nbformat
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

from serving.access.keys import create_key
from serving.access.people import add_person
from serving.ledger import DecisionLog
from serving.ledger.signing import generate_key
from tests.serving.http.review_setup import USE_CASE, build_registry
from tests.serving.server import docket_server

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
KERNEL_NAME = "docket-venv"
CELL_TIMEOUT_S = 600
KERNEL_START_TIMEOUT_S = 120
MIN_REVIEW_SECONDS = 1
#: notebooks that need a running service (the others need only a state folder)
NEEDS_SERVER = ("02_application", "03_reviewer", "04_auditor")


def notebook_paths() -> list[Path]:
    return sorted(NOTEBOOKS.glob("*.ipynb"))


def kernel_specs(folder: Path) -> KernelSpecManager:
    """A kernelspec for this interpreter in ``folder``, and a manager that sees only it."""
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Docket (project venv)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return KernelSpecManager(kernel_dirs=[str(folder / "kernels")], ensure_native_kernel=False)


def base_env(home: Path) -> dict[str, str]:
    """This process's environment without Docket or MLflow settings, on state folder ``home``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "DOCKET_"))}
    env.update(
        {"DOCKET_HOME": str(home), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    )
    return env


def execute(
    path: Path, env: Mapping[str, str], workdir: Path
) -> tuple[nbformat.NotebookNode, float]:
    """Run ``path`` top to bottom in a fresh kernel; a cell that raises raises here."""
    nb = nbformat.read(path, as_version=4)
    kernel = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=kernel_specs(workdir))
    client = NotebookClient(
        nb,
        km=kernel,
        timeout=CELL_TIMEOUT_S,
        startup_timeout=KERNEL_START_TIMEOUT_S,
        kernel_name=KERNEL_NAME,
        resources={"metadata": {"path": str(workdir)}},
    )
    started = time.monotonic()
    client.execute(env=dict(env))
    return nb, time.monotonic() - started


@contextmanager
def served_for_notebooks(home: Path) -> Iterator[dict[str, str]]:
    """A running service for notebooks 02-04; yields the settings they read (see module doc)."""
    settings, _ = build_registry(home / "registry", MIN_REVIEW_SECONDS)
    with DecisionLog(settings.database_url) as log:
        log.migrate()
        app_key = create_key(log.engine, "application", "notebook app")[0]
        auditor_key = create_key(log.engine, "auditor", "notebook audit desk")[0]
        reviewer, _ = add_person(log.engine, "Rita Reviewer", ["reviewer"], "notebook setup")
    key_file = home / "ledger" / "ledger-signing.key"
    generate_key(key_file)
    witness = home / "witness"
    serve_env = {
        "DOCKET_CHECKPOINT_SECONDS": "1",
        "DOCKET_LEDGER_KEY_FILE": str(key_file),
        "DOCKET_WITNESS": str(witness),
    }
    with docket_server(settings, home, env=serve_env) as url:
        yield {
            **settings.as_env(),
            "DOCKET_URL": url,
            "DOCKET_USE_CASE": USE_CASE,
            "DOCKET_APP_KEY": app_key,
            "DOCKET_REVIEWER_TOKEN": reviewer,
            "DOCKET_AUDITOR_TOKEN": auditor_key,
            "DOCKET_WITNESS": str(witness),
            "DOCKET_LEDGER_PUBLIC_KEY_FILE": str(key_file.with_name(key_file.name + ".pub")),
            "DOCKET_MIN_REVIEW_SECONDS": str(MIN_REVIEW_SECONDS),
        }
