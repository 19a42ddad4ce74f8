"""The model card's schema: Model Card Toolkit field names plus Docket's own sections.

The JSON uses the Model Card Toolkit's field names (``model_details``,
``model_parameters``, ``quantitative_analysis``, ``considerations``) and adds
Docket's sections: ``fairness``, ``outcomes``, ``gate``, ``provenance``,
``review_policy``, ``reason_codes``, ``factors``, ``caveats`` and
``changes_since_champion``. Out-of-scope uses have
their own list, ``considerations.out_of_scope_uses`` (not an MCT field). Every
section forbids unknown keys, so a stored card validates back only if it is one.

:func:`missing_sections` names the R19 sections that are empty; promotion is
blocked while any is. Two sections join R19's list because the audit now measures
them and a card without them cannot say what was judged: ``outcome_mix`` (the served
policy's approvals, referrals, declines and adverse outcomes by group, the results the
fairness sections are computed from) whenever the spec has a review policy, and
``provenance`` whenever the version's tags name an alternatives search whose record
could not be read (the card must document the search it was chosen from).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from audits.report import Waiver

# 2: outcomes (the served policy's outcome mix), gate basis, provenance
CARD_SCHEMA_VERSION = "2"

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
    "outcome_mix",
    "gate_outcome",
    "provenance",
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
    basis: str = ""  # the decision the check is computed on (empty for score checks)
    value: float | None
    threshold: float | None
    comparator: str
    verdict: str
    detail: str = ""


class OutcomeRow(_Section):
    """What the served policy did with one group's held-out rows (``overall``: all rows)."""

    attribute: str
    group: str
    n: int
    share: float
    approved: int
    referred: int
    declined: int
    adverse: int
    approval_rate: float | None
    approval_rate_ci: ConfidenceInterval | None = None
    referral_rate: float | None
    referral_rate_ci: ConfidenceInterval | None = None
    decline_rate: float | None
    decline_rate_ci: ConfidenceInterval | None = None
    adverse_rate: float | None
    adverse_rate_ci: ConfidenceInterval | None = None
    adverse_impact_ratio: float | None = None
    adverse_impact_ratio_ci: ConfidenceInterval | None = None
    included_in_ratios: bool
    insufficient: bool


class Outcomes(_Section):
    """The outcome mix at the operating thresholds; ``note`` says why it is empty."""

    basis: str | None = None  # "policy" or "decision_threshold", as the report says
    gated_decision: str = ""  # the decision the gate's fairness checks are computed on
    thresholds: str = ""  # the policy's operating thresholds, in words
    adverse_definition: str = ""
    overall: OutcomeRow | None = None
    unitary: list[OutcomeRow] = Field(default_factory=list)
    intersectional: list[OutcomeRow] = Field(default_factory=list)
    referral_rules: dict[str, int] = Field(default_factory=dict)
    n_boot: int | None = None
    confidence: float | None = None
    seed: int | None = None
    note: str = ""


class GateSection(_Section):
    outcome: str | None = None
    audit_id: str | None = None
    spec_hash: str | None = None
    rule: str | None = None
    rule_text: str = ""
    # what the fairness checks judged: "policy" (the served policy's automated approvals)
    # or "decision_threshold" (a separate threshold justified in the spec)
    basis: str | None = None
    basis_text: str = ""
    decision_threshold: float | None = None
    decision_threshold_justification: str = ""
    thresholds: dict[str, Any] = Field(default_factory=dict)
    failing_checks: list[FailingCheck] = Field(default_factory=list)
    # with basis "decision_threshold": the served policy's automated approvals, not gated
    served_fairness: list[FairnessRow] = Field(default_factory=list)
    waiver: Waiver | None = None


class Mitigation(_Section):
    method: str = "none"
    attribute: str = ""
    setting: str = ""


class SearchCandidate(_Section):
    number: int
    name: str
    roc_auc: float | None
    roc_auc_ci: ConfidenceInterval | None = None
    worst_impact_ratio: float | None
    worst_impact_ratio_ci: ConfidenceInterval | None = None
    worst_group: str | None = None
    equalized_odds_difference: float | None
    equalized_odds_difference_ci: ConfidenceInterval | None = None
    gate_outcome: str
    failing: list[str] = Field(default_factory=list)
    same_predictions_as: int | None = None
    on_frontier: bool


class SearchSummary(_Section):
    """What a less-discriminatory-alternatives search tried and why this version was chosen."""

    search_id: str
    created_at: str
    spec_hash: str
    candidates_tried: int
    max_candidates: int
    budget_seconds: float
    stopped_by: str
    best_roc_auc: float | None
    auc_tolerance: float
    candidates: list[SearchCandidate]
    recommended: int | None
    recommended_why: str
    chosen: int | None
    chosen_why: str
    notes: list[str] = Field(default_factory=list)  # what the search skipped or could not do


class Provenance(_Section):
    """Which mitigation produced the version and, if any, the search it was chosen from."""

    mitigation: Mitigation = Field(default_factory=Mitigation)
    search_id: str | None = None  # from the version's tags
    candidate: int | None = None  # from the version's tags
    search: SearchSummary | None = None
    frontier_figure: str | None = None  # base64 PNG
    note: str = ""  # why the search record is not shown


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
    outcomes: Outcomes = Field(default_factory=Outcomes)
    gate: GateSection
    provenance: Provenance = Field(default_factory=Provenance)
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
    >>> "gate_outcome" in SECTIONS, "outcome_mix" in SECTIONS
    (True, True)
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
        # with no review policy there is nothing served to describe (review_policy is
        # missing then, and blocks promotion on its own)
        "outcome_mix": card.outcomes.overall is not None or not card.review_policy,
        "gate_outcome": card.gate.outcome is not None,
        "provenance": card.provenance.search_id is None or card.provenance.search is not None,
        "review_policy": bool(card.review_policy),
        "reason_codes": bool(card.reason_codes.codes) and bool(card.reason_codes.reference),
        "ethical_considerations": bool(card.considerations.ethical_considerations),
        "caveats": bool(card.caveats),
    }
    return [name for name in SECTIONS if not filled[name]]
