"""The record of a search for less discriminatory alternatives (R29), as data.

:mod:`training.alternatives` writes it (to the search's MLflow parent run, and to the
run of a version registered from it); the model card reads it back to document the
search. Plain pydantic, no I/O, like :mod:`audits.report`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from audits.report import Metric, Outcome

SEARCH_SCHEMA_VERSION = "1"
#: where the record is stored: in the search's parent run, and in the run of a version
#: registered from the search (its tags name the search and the candidate)
SEARCH_ARTIFACT = "alternatives/search.json"
#: the frontier figure (PNG) next to it
FRONTIER_ARTIFACT = "alternatives/frontier.png"


class ProxyScore(BaseModel):
    """How well one feature alone predicts one sensitive attribute (0.5: not at all)."""

    model_config = ConfigDict(frozen=True)

    feature: str
    attribute: str
    strength: float
    measure: str


class CandidateResult(BaseModel):
    """One trained and audited alternative, judged on the same held-out rows as the rest."""

    model_config = ConfigDict(frozen=True)

    number: int  # 1-based, as `docket alternatives --register K` takes it
    name: str  # what differs from the spec's own model, in words
    settings: dict[str, Any]  # the training settings that reproduce it
    roc_auc: Metric
    roc_auc_ci_low: Metric = None
    roc_auc_ci_high: Metric = None
    worst_impact_ratio: Metric  # lowest gated impact ratio on automated approval
    worst_impact_ratio_ci_low: Metric = None
    worst_impact_ratio_ci_high: Metric = None
    worst_group: str | None = None
    equalized_odds_difference: Metric  # largest gated one
    equalized_odds_difference_ci_low: Metric = None
    equalized_odds_difference_ci_high: Metric = None
    worst_adverse_impact_ratio: Metric = None
    approval_rate: Metric = None
    referral_rate: Metric = None
    gate_outcome: Outcome
    failing: list[str]
    same_predictions_as: int | None = None  # an earlier candidate with identical scores
    on_frontier: bool = False
    seconds: float
    run_id: str | None = None
    # sha256 of the held-out scores (float64 bytes): a refit for registration must match it
    scores_sha256: str | None = None


class AlternativesSearch(BaseModel):
    """A bounded search: every candidate tried, the frontier and the recommendation."""

    schema_version: str = SEARCH_SCHEMA_VERSION
    search_id: str  # the MLflow parent run id
    use_case: str
    spec_hash: str
    created_at: str
    budget_seconds: float
    max_candidates: int
    stopped_by: Literal["budget", "max_candidates", "exhausted"]
    proxies: list[ProxyScore]
    candidates: list[CandidateResult]
    best_roc_auc: Metric
    auc_tolerance: float
    recommended: int | None
    recommended_why: str
    chosen: int | None = None
    chosen_why: str = ""
    # features whose proxy strength reached this floor were candidates for dropping
    proxy_floor: float | None = None
    # what the search skipped or could not do, in words
    notes: list[str] = Field(default_factory=list)

    def candidate(self, number: int) -> CandidateResult:
        """Candidate ``number`` (1-based)."""
        return next(c for c in self.candidates if c.number == number)
