"""Gather what a model card is generated from: the registry, the spec and the audits."""

from __future__ import annotations

import base64
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from pydantic import ValidationError

from audits.audit import latest_report
from audits.cards import ModelCard, build_card
from audits.report import Waiver
from audits.search import FRONTIER_ARTIFACT, SEARCH_ARTIFACT, AlternativesSearch
from models import registry, tags
from models.rationale import approved_reference, describe_reference
from models.spec import DecisionSpec


def card_for_version(
    client: MlflowClient, spec: DecisionSpec, version: str, waiver: Waiver | None = None
) -> ModelCard:
    """The card of one version; ``waiver`` is a waiver about to be recorded, if any."""
    mv = client.get_model_version(spec.name, version)
    version_tags = dict(mv.tags or {})
    run = client.get_run(registry.run_id_of(mv))
    metrics = {k: float(v) for k, v in run.data.metrics.items()}
    data_report = registry.load_json(client, run.info.run_id, "data/report.json")
    report = latest_report(client, spec.name, version)
    champion = registry.alias_version(client, spec.name, registry.CHAMPION)
    previous = (
        latest_report(client, spec.name, champion)
        if champion is not None and champion != version
        else None
    )
    if waiver is not None and waiver.at is None:
        waiver = waiver.model_copy(update={"at": datetime.now(UTC).isoformat(timespec="seconds")})
    created = datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, UTC)
    reason_reference = _reason_reference(client, spec, mv)
    search, problem, frontier = (
        search_record(client, run.info.run_id)
        if version_tags.get(tags.ALTERNATIVE_SEARCH)
        else (None, "", None)
    )
    return build_card(
        spec,
        version=version,
        created_at=created.isoformat(timespec="seconds"),
        run_metrics=metrics,
        run_tags={**run.data.tags, **version_tags},
        data_report=data_report,
        report=report,
        waiver=waiver or Waiver.from_tags(version_tags),
        previous=previous,
        reason_reference=reason_reference,
        search=search,
        search_problem=problem,
        frontier_figure=frontier,
    )


def search_record(
    client: MlflowClient, run_id: str
) -> tuple[AlternativesSearch | None, str, str | None]:
    """The alternatives-search record in a version's run, why it is missing, its figure.

    A missing or invalid record is reported in words, never raised: the card says so
    (and counts its provenance section as empty) instead of failing to render.
    """
    try:
        raw = registry.load_json(client, run_id, SEARCH_ARTIFACT)
    except (MlflowException, OSError, ValueError) as exc:
        return None, f"{SEARCH_ARTIFACT} could not be loaded ({type(exc).__name__}: {exc})", None
    try:
        search = AlternativesSearch.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the record"
        return (
            None,
            f"{SEARCH_ARTIFACT} is not a valid search record ({where}: {first['msg']})",
            None,
        )
    return search, "", _frontier_png(client, run_id)


def _frontier_png(client: MlflowClient, run_id: str) -> str | None:
    try:
        with tempfile.TemporaryDirectory() as tmp:
            local = client.download_artifacts(run_id, FRONTIER_ARTIFACT, tmp)
            data = Path(local).read_bytes()
    except (MlflowException, OSError):
        return None  # the table carries the search; the figure only draws it
    return base64.b64encode(data).decode("ascii") if data else None


def _reason_reference(client: MlflowClient, spec: DecisionSpec, mv: ModelVersion) -> str:
    """How serving measures principal reasons for this version under ``spec`` (same rows)."""
    if spec.policy is None:
        return "The spec has no [policy]: the version is not served, so no decision is explained."
    model = registry.load_model(client, spec.name, mv.version)
    held_out = registry.load_frame(client, registry.run_id_of(mv), registry.TEST_SPLIT_ARTIFACT)
    try:
        reference = approved_reference(model, model.encode(held_out), spec.policy.approve_at)
    except ValueError as exc:
        return f"No reference: {exc}. The version cannot be served under this policy."
    return describe_reference(reference)
