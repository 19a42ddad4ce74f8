"""The model card's schema: Model Card Toolkit field names plus Docket's own sections.

The JSON uses the Model Card Toolkit's field names (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``) and adds
Docket's sections: ``fairness``, ``gate``, ``review_policy``, ``reason_codes``,
``factors``, ``caveats`` and ``changes_since_champion``. Out-of-scope uses have
their own list, ``considerations.out_of_scope_uses`` (not an MCT field). Every
section forbids unknown keys, so a stored card validates back only if it is one.

:func:`missing_sections` names the R19 sections that are empty; promotion is
blocked while any is.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audits.report import Waiver

CARD_SCHEMA_VERSION = "1"

# The sections R19 requires, in its order; :func:`missing_sections` returns these names.
SECTIONS = (
    "model_details",
    "intended_use",
    "out_of_scope_use",
    "factors",
    "metrics",
    "evaluation_data",
    "training_data",
    "unitary_fairness",
    "intersectional_fairness",
    "gate_outcome",
    "review_policy",
    "reason_codes",
    "ethical_considerations",
    "caveats",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- Model Card Toolkit sections ---------------------------------------------------
class Owner(_Section):
    name: str
    contact: str = ""


class Version(_Section):
    name: str
    date: str
    diff: str = ""


class License(_Section):
    identifier: str = ""
    custom_text: str = ""


class Reference(_Section):
    reference: str


class ModelDetails(_Section):
    name: str
    overview: str
    version: Version
    owners: list[Owner] = Field(default_factory=list)
    licenses: list[License] = Field(default_factory=list)
    references: list[Reference] = Field(default_factory=list)
    path: str = ""
    regulatory_requirements: str = ""


class SensitiveData(_Section):
    sensitive_data: list[str] = Field(default_factory=list)


class Dataset(_Section):
    name: str
    link: str = ""
    source: str = ""
    sensitive: SensitiveData = Field(default_factory=SensitiveData)
    description: str = ""
    rows: int | None = None


class DataSets(_Section):
    train: Dataset
    eval: Dataset


class ModelParameters(_Section):
    model_architecture: str
    data: DataSets
    input_format: str
    output_format: str


class ConfidenceInterval(_Section):
    lower_bound: float
    upper_bound: float


class PerformanceMetric(_Section):
    type: str
    value: float | None
    slice: str = ""
    confidence_interval: ConfidenceInterval | None = None


class Graphic(_Section):
    name: str
    image: str


class Graphics(_Section):
    description: str = ""
    collection: list[Graphic] = Field(default_factory=list)


class QuantitativeAnalysis(_Section):
    performance_metrics: list[PerformanceMetric] = Field(default_factory=list)
    graphics: Graphics = Field(default_factory=Graphics)


class Description(_Section):
    description: str


class Risk(_Section):
    name: str
    mitigation_strategy: str


class Considerations(_Section):
    users: list[Description] = Field(default_factory=list)
    use_cases: list[Description] = Field(default_factory=list)
    out_of_scope_uses: list[Description] = Field(default_factory=list)
    limitations: list[Description] = Field(default_factory=list)
    tradeoffs: list[Description] = Field(default_factory=list)
    ethical_considerations: list[Risk] = Field(default_factory=list)


# ---- Docket sections ---------------------------------------------------------------
class FairnessRow(_Section):
    attribute: str
    group: str
    n: int
    share: float
    selection_rate: float | None
    selection_rate_ci: ConfidenceInterval | None = None
    impact_ratio: float | None
    impact_ratio_ci: ConfidenceInterval | None = None
    included_in_ratios: bool
    excluded_reason: str | None = None
    insufficient: bool
    verdict: str = ""


class FairnessSummary(_Section):
    attribute: str
    name: str
    value: float | None
    confidence_interval: ConfidenceInterval | None = None
    groups_compared: int
    insufficient: bool


class Fairness(_Section):
    unitary: list[FairnessRow] = Field(default_factory=list)
    intersectional: list[FairnessRow] = Field(default_factory=list)
    summaries: list[FairnessSummary] = Field(default_factory=list)
    note: str = ""


class FailingCheck(_Section):
    id: str
    metric: str
    value: float | None
    threshold: float | None
    comparator: str
    verdict: str
    detail: str = ""


class GateSection(_Section):
    outcome: str | None = None
    audit_id: str | None = None
    spec_hash: str | None = None
    rule: str | None = None
    rule_text: str = ""
    thresholds: dict[str, Any] = Field(default_factory=dict)
    failing_checks: list[FailingCheck] = Field(default_factory=list)
    waiver: Waiver | None = None


class ReasonCodeEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    code: str
    features: list[str] = Field(default_factory=list)
    adverse: str = ""
    favourable: str = ""


class ReasonCodes(_Section):
    version: str | None = None
    # what the contributions behind an adverse decision's principal reasons are measured against
    reference: str | None = None
    codes: list[ReasonCodeEntry] = Field(default_factory=list)


class Factor(_Section):
    attribute: str
    derived_from: str | None = None
    groups: list[str] = Field(default_factory=list)
    model_input: bool
    note: str = ""


class MetricDelta(_Section):
    metric: str
    previous: float | None
    current: float | None
    delta: float | None


class Changes(_Section):
    previous_champion: str | None = None
    summary: str
    deltas: list[MetricDelta] = Field(default_factory=list)


class ModelCard(_Section):
    """A model card: MCT field names plus Docket's fairness, gate and policy sections."""

    schema_version: str = CARD_SCHEMA_VERSION
    model_details: ModelDetails
    model_parameters: ModelParameters
    quantitative_analysis: QuantitativeAnalysis
    considerations: Considerations
    fairness: Fairness
    gate: GateSection
    review_policy: dict[str, Any] = Field(default_factory=dict)
    reason_codes: ReasonCodes
    factors: list[Factor]
    caveats: list[str]
    changes_since_champion: Changes


def missing_sections(card: ModelCard) -> list[str]:
    """Names of the R19 sections that are empty (see ``SECTIONS``); promotion needs none.

    Examples
    --------
    >>> from audits.cards.schema import SECTIONS
    >>> "gate_outcome" in SECTIONS
    True
    """
    details = card.model_details
    data = card.model_parameters.data
    fairness = card.fairness
    filled = {
        "model_details": bool(details.name and details.overview and details.version.name),
        "intended_use": bool(card.considerations.use_cases),
        "out_of_scope_use": bool(card.considerations.out_of_scope_uses),
        "factors": bool(card.factors),
        "metrics": any(
            m.confidence_interval is not None
            for m in card.quantitative_analysis.performance_metrics
        ),
        "evaluation_data": bool(data.eval.name and data.eval.description),
        "training_data": bool(data.train.name and data.train.description),
        "unitary_fairness": bool(fairness.unitary),
        "intersectional_fairness": bool(fairness.intersectional)
        or bool(fairness.unitary and fairness.note),
        "gate_outcome": card.gate.outcome is not None,
        "review_policy": bool(card.review_policy),
        "reason_codes": bool(card.reason_codes.codes) and bool(card.reason_codes.reference),
        "ethical_considerations": bool(card.considerations.ethical_considerations),
        "caveats": bool(card.caveats),
    }
    return [name for name in SECTIONS if not filled[name]]
