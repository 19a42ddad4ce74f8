"""Which model version a use case may serve, loaded with the spec it was promoted under.

Only a version whose promotion is on record is served: the last ``promote`` or
``rollback`` event in the use case's promotion history must name it, and its
audit must be a PASS under the spec it serves with, or the event must carry an
approved waiver. Anyone with access to MLflow can move the ``champion`` alias
(its UI, its client); a version reached that way is refused with the reason,
and the service keeps serving the last version whose promotion is on record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlflow.entities.model_registry import ModelVersion

from audits.promotion import HistoryEvent, history
from models import registry, tags
from models.decision_model import DecisionModel
from models.rationale import (
    ApprovedReference,
    RationaleBuilder,
    approved_reference,
    explainer_version,
)
from models.recourse import RecourseBuilder
from models.spec import DecisionSpec
from serving.decisions.errors import NotServed

__all__ = ["ServedModel", "last_promotion", "load_served", "promotion_problem"]


@dataclass(frozen=True)
class ServedModel:
    use_case: str
    version: str
    model: DecisionModel
    spec: DecisionSpec
    builder: RationaleBuilder
    recourse: RecourseBuilder
    spec_hash: str
    explainer_version: str
    loaded_at: str
    spec_ref: str
    reference: ApprovedReference

    @property
    def policy_version(self) -> str:
        assert self.spec.policy is not None
        return self.spec.policy.version

    @property
    def catalogue_version(self) -> str:
        return self.builder.catalogue_version


def last_promotion(client: Any, use_case: str) -> HistoryEvent | None:
    """The last recorded promotion or rollback of ``use_case`` (refusals do not count)."""
    moves = [e for e in history(client, use_case) if e.action in ("promote", "rollback")]
    return moves[-1] if moves else None


def promotion_problem(
    mv: ModelVersion, spec: DecisionSpec, last: HistoryEvent | None
) -> str | None:
    """Why ``mv`` may not be served under ``spec`` (None when its promotion is on record)."""
    version = str(mv.version)
    if last is None:
        return (
            f"version {version} is the champion, but no promotion of any version is on record;"
            " the alias was set outside 'docket promote'"
        )
    if last.version != version:
        return (
            f"version {version} is the champion, but the last recorded promotion ({last.at}) is"
            f" of version {last.version}; the alias was moved outside 'docket promote'"
        )
    found = mv.tags or {}
    if last.waiver is not None:
        if found.get(tags.WAIVER_AUDIT_ID) != last.audit_id:
            return (
                f"version {version}: the waiver on record is for audit {last.audit_id!r}, but the"
                f" version's waiver tags name audit {found.get(tags.WAIVER_AUDIT_ID)!r}"
            )
        return None
    if found.get(tags.AUDIT_STATUS) != "PASS":
        return (
            f"version {version}: its audit status is {found.get(tags.AUDIT_STATUS)!r}, not PASS,"
            " and no approved waiver is on record"
        )
    if found.get(tags.AUDIT_ID) != last.audit_id:
        return (
            f"version {version}: the promotion on record relied on audit {last.audit_id!r}, but"
            f" the version's latest audit is {found.get(tags.AUDIT_ID)!r}"
        )
    if found.get(tags.AUDIT_SPEC_HASH) != spec.spec_hash():
        return (
            f"version {version}: its PASS audit was under spec hash"
            f" {found.get(tags.AUDIT_SPEC_HASH, '')[:12]!r}, not the spec it would serve with"
            f" ({spec.spec_hash()[:12]!r})"
        )
    return None


def load_served(
    client: Any,
    use_case: str,
    version: str,
    spec_ref: str | None = None,
    *,
    require_promotion: HistoryEvent | bool | None = False,
) -> ServedModel:
    """Load one registered version with the spec it was promoted under (or ``spec_ref``).

    ``require_promotion``: pass the use case's last recorded promotion (or None when
    there is none) to refuse a version whose promotion is not on record; replay of a
    logged decision passes ``False`` (it re-runs what was served, whatever it was).
    """
    mv = client.get_model_version(use_case, version)
    model: DecisionModel = registry.load_model(client, use_case, version)
    spec = (
        model.spec
        if spec_ref == "model"
        else registry.serving_spec(client, mv, model.spec, spec_ref)
    )
    if require_promotion is not False:
        assert require_promotion is None or isinstance(require_promotion, HistoryEvent)
        problem = promotion_problem(mv, spec, require_promotion)
        if problem is not None:
            raise NotServed(problem)
    if spec.policy is None or spec.reasons is None:
        raise NotServed(
            f"use case {use_case!r} version {version}: the spec has no [policy] or [reasons]"
            " section, so it cannot be served"
        )
    if spec.feature_names != model.feature_names:
        raise NotServed(
            f"use case {use_case!r} version {version}: spec features differ from the model's"
        )
    # adverse reasons are measured against the held-out applicants the policy approves
    held_out = registry.load_frame(client, registry.run_id_of(mv), registry.TEST_SPLIT_ARTIFACT)
    try:
        reference = approved_reference(model, model.encode(held_out), spec.policy.approve_at)
    except ValueError as exc:
        raise NotServed(f"use case {use_case!r} version {version}: {exc}") from None
    return ServedModel(
        use_case=use_case,
        version=str(version),
        model=model,
        spec=spec,
        builder=RationaleBuilder(model, spec, reference=reference),
        recourse=RecourseBuilder(model, spec),
        spec_hash=spec.spec_hash(),
        explainer_version=explainer_version(model),
        loaded_at=datetime.now(UTC).isoformat(timespec="seconds"),
        spec_ref=spec_ref or (mv.tags or {}).get(tags.SERVING_SPEC, "model"),
        reference=reference,
    )
