"""Gather what a model card is generated from: the registry, the spec and the audits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlflow.tracking import MlflowClient

from audits.audit import latest_report
from audits.cards import ModelCard, build_card
from audits.promotion import Waiver
from models import registry
from models.spec import DecisionSpec


def _waiver_from_tags(tags: dict[str, str]) -> dict[str, Any] | None:
    if "waiver.justification" not in tags:
        return None
    return {
        "justification": tags["waiver.justification"],
        "requested_by": tags.get("waiver.requested_by", ""),
        "approved_by": tags.get("waiver.approved_by", ""),
        "at": tags.get("waiver.at", ""),
    }


def card_for_version(
    client: MlflowClient, spec: DecisionSpec, version: str, waiver: Waiver | None = None
) -> ModelCard:
    """The card of one version; ``waiver`` is a waiver about to be recorded, if any."""
    mv = client.get_model_version(spec.name, version)
    tags = dict(mv.tags or {})
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
    waiver_info = _waiver_from_tags(tags)
    if waiver is not None:
        waiver_info = {**waiver.model_dump(), "at": datetime.now(UTC).isoformat(timespec="seconds")}
    created = datetime.fromtimestamp(int(mv.creation_timestamp) / 1000, UTC)
    return build_card(
        spec,
        version=version,
        created_at=created.isoformat(timespec="seconds"),
        run_metrics=metrics,
        run_tags={**run.data.tags, **tags},
        data_report=data_report,
        report=report,
        waiver=waiver_info,
        previous=previous,
    )
