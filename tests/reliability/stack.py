"""What a reliability run serves: a registry, its ledger on SQLite or PostgreSQL, keys, people.

:func:`build_stack` trains the synthetic use case (mitigated, audited PASS,
promoted, its promotion recorded in *this* ledger so ``docket ledger verify``
finds the registry and the ledger agreeing), with a one-second minimum review
time so reviewers can resolve cases under load. The ledger lives wherever
``database_url`` says: a SQLite file or a PostgreSQL schema.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audits.audit import run_audit
from audits.promotion import promote
from models.settings import Settings
from models.spec import load_spec
from serving.access.keys import create_key
from serving.access.people import add_person
from serving.access.promotions import ledger_recorder
from serving.ledger import DecisionLog
from tests.serving.http.review_setup import USE_CASE, data_rows, patch_review
from training.synthetic import write_synthetic
from training.train import train_use_case

__all__ = ["USE_CASE", "Stack", "build_stack"]

MIN_REVIEW_SECONDS = 1
REVIEWERS = 2


@dataclass(frozen=True)
class Stack:
    settings: Settings
    rows: list[dict[str, Any]]
    app_key: str
    admin_key: str
    reviewer_tokens: tuple[str, ...]


def build_stack(home: Path, database_url: str | None = None) -> Stack:
    """A served synthetic use case whose ledger is at ``database_url`` (default: SQLite in home)."""
    settings = Settings.local(home)
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    spec_path = write_synthetic(home / "synth", rows=2000, disparity=1.5, seed=3)
    patch_review(spec_path, MIN_REVIEW_SECONDS)
    spec = load_spec(spec_path)
    trained = train_use_case(spec, settings, mitigation="reweighing")
    assert run_audit(spec, settings, version=trained.version).outcome == "PASS"
    log = DecisionLog(settings.database_url)
    log.migrate()
    try:
        promote(
            spec,
            settings,
            trained.version,
            requested_by="model-owner",
            record=ledger_recorder(log, spec),
        )
        app_key = create_key(log.engine, "application", "load client", log=log, by="test")[0]
        admin_key = create_key(log.engine, "admin", "operator", log=log, by="test")[0]
        tokens = tuple(
            add_person(log.engine, f"Reviewer {i}", ["reviewer"], "test", log=log)[0]
            for i in range(REVIEWERS)
        )
    finally:
        log.close()
    return Stack(settings, data_rows(spec_path.parent / "data.csv"), app_key, admin_key, tokens)
