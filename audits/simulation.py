"""Threshold simulation: what other ``approve_at`` / ``decline_below`` values would do.

Nothing here changes a policy. A simulated setting is the spec's policy with only the
two thresholds replaced; a new policy is a new spec version, and that goes through the
gate like any other.

Design decisions
----------------
- Every setting decides the rows with :func:`models.policy.policy_outcomes`, the function
  the audit uses, so every other rule stays as the spec has it (``refer_adverse``, the
  high-stakes rules, the out-of-distribution check) and the current setting reproduces
  the audit's outcome rates exactly.
- Point estimates only (no bootstrap): every setting is applied to the same rows, so the
  comparison between settings is not blurred by resampling; the audit gives intervals
  for the setting that is finally chosen.
- Reviewer workload assumes every referral opens one case, and that the daily volume of
  applications looks like the simulated rows: cases per 1,000 applications =
  referral rate x 1,000; reviewer hours per day = daily volume x referral rate x
  minutes per case / 60.
- Impact ratios are the gate's (LL144): a group's automated approval rate over the
  highest among the groups in the ratios (share >= ``min_share``); adverse impact ratios
  as in :mod:`audits.outcomes`. The worst of each is taken over the groups the gate
  judges (intersections only when the gate judges them).
- Referrals that do not depend on the thresholds (a person who withheld consent, a
  high-stakes rule that fired on features since erased) are passed as ``forced`` and
  stay referred at every setting.

What it cannot tell: how reviewers would resolve the extra referrals, whether applicants
would behave differently, or how far the held-out rows still look like today's
applicants (the logged decisions answer that last one only for the rates).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audits.groups import impact_ratios
from audits.outcomes import evaluate_outcomes
from audits.report import Metric, OutcomeResult
from models.policy import REFERRED, PolicyOutcomes, policy_outcomes
from models.spec import Policy

__all__ = [
    "DEFAULT_DAILY_VOLUME",
    "DEFAULT_MINUTES_PER_CASE",
    "MAX_SETTINGS",
    "SWEEPABLE",
    "GroupImpact",
    "SettingResult",
    "SimulationError",
    "SimulationResult",
    "Source",
    "Sweep",
    "Workload",
    "parse_sweep",
    "policy_settings",
    "simulate",
]

Source = Literal["held_out", "logged"]
Threshold = Literal["approve_at", "decline_below"]
SWEEPABLE: tuple[Threshold, ...] = ("approve_at", "decline_below")
OPTION: dict[Threshold, str] = {"approve_at": "--approve-at", "decline_below": "--decline-below"}

#: defaults of ``docket simulate --daily-volume`` and ``--minutes-per-case``
DEFAULT_DAILY_VOLUME = 1000.0
DEFAULT_MINUTES_PER_CASE = 15.0
#: the most settings one sweep may hold
MAX_SETTINGS = 200
# a sweep's end is included when a step lands within this of it (0.6 + 6 * 0.05 != 0.9)
_END_TOLERANCE = 1e-9

MESSAGE_SWEEP_SYNTAX = (
    "--sweep must be NAME=START:END:STEP with NAME one of {names} and numbers for START, END"
    " and STEP (e.g. approve_at=0.6:0.9:0.05); got {got!r} instead."
)
MESSAGE_SWEEP_NAME = "--sweep must sweep one of {names}; got {got!r} instead."
MESSAGE_SWEEP_ORDER = (
    "--sweep {name}: START must be <= END and STEP must be > 0;"
    " got START={start:g}, END={end:g}, STEP={step:g} instead."
)
MESSAGE_SWEEP_SIZE = (
    "--sweep {name}: at most {most} settings; got {got} instead (use a larger STEP)."
)
MESSAGE_SWEEP_AND_OPTION = (
    "give {option} or --sweep {name}=..., not both; got {option} {value:g} and --sweep {sweep!r}."
)
MESSAGE_RANGE = "{source} must be between 0 and 1, both excluded; got {name}={value!r} instead."
MESSAGE_BAND = (
    "decline_below must be <= approve_at; got decline_below={decline:g} (from {decline_source})"
    " and approve_at={approve:g} (from {approve_source}) instead."
)
MESSAGE_NO_POLICY = (
    "use case {name!r}: the spec has no [policy] section, so there are no thresholds to simulate."
)


class SimulationError(ValueError):
    """A simulation was asked for with settings that cannot be simulated."""


class Workload(BaseModel):
    """How reviewer time is estimated: applications per day and minutes per referred case."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    daily_volume: float = Field(gt=0)
    minutes_per_case: float = Field(gt=0)

    def cases_per_1000(self, referral_rate: float | None) -> float | None:
        """Referred cases per 1,000 applications."""
        return None if referral_rate is None else referral_rate * 1000

    def hours_per_day(self, referral_rate: float | None) -> float | None:
        """Reviewer hours per day at this volume and time per case."""
        if referral_rate is None:
            return None
        return self.daily_volume * referral_rate * self.minutes_per_case / 60


@dataclass(frozen=True)
class Sweep:
    """One threshold taken through a range of values (the end included)."""

    name: Threshold
    values: tuple[float, ...]
    text: str


def parse_sweep(text: str) -> Sweep:
    """Parse ``NAME=START:END:STEP``; the end is included when a step lands on it.

    Examples
    --------
    >>> parse_sweep("approve_at=0.6:0.7:0.05").values
    (0.6, 0.65, 0.7)
    """
    match = re.fullmatch(r"\s*([A-Za-z_]+)\s*=\s*([^:]+):([^:]+):([^:]+)\s*", text)
    if match is None:
        raise SimulationError(MESSAGE_SWEEP_SYNTAX.format(names=list(SWEEPABLE), got=text))
    name = match.group(1)
    if name not in SWEEPABLE:
        raise SimulationError(MESSAGE_SWEEP_NAME.format(names=list(SWEEPABLE), got=name))
    try:
        start, end, step = (float(match.group(i)) for i in (2, 3, 4))
    except ValueError:
        raise SimulationError(
            MESSAGE_SWEEP_SYNTAX.format(names=list(SWEEPABLE), got=text)
        ) from None
    if not all(math.isfinite(x) for x in (start, end, step)) or step <= 0 or start > end:
        raise SimulationError(
            MESSAGE_SWEEP_ORDER.format(name=name, start=start, end=end, step=step)
        )
    count = math.floor((end - start) / step + _END_TOLERANCE) + 1
    if count > MAX_SETTINGS:
        raise SimulationError(MESSAGE_SWEEP_SIZE.format(name=name, most=MAX_SETTINGS, got=count))
    # rounded so that 0.6 + 3 * 0.05 prints and compares as 0.75
    values = tuple(round(start + i * step, 10) for i in range(count))
    return Sweep(name=name, values=values, text=text)  # type: ignore[arg-type]


def _in_unit_interval(name: str, value: float, source: str) -> None:
    if not (0 < value < 1):
        raise SimulationError(MESSAGE_RANGE.format(source=source, name=name, value=value))


def policy_settings(
    policy: Policy | None,
    *,
    use_case: str = "",
    approve_at: float | None = None,
    decline_below: float | None = None,
    sweep: Sweep | None = None,
) -> list[tuple[str, Policy]]:
    """The settings to simulate, the spec's own first (labelled ``current``).

    Without a sweep, ``approve_at`` and/or ``decline_below`` make one more setting (the
    missing one from the spec). With a sweep, each swept value makes a setting, the
    other threshold taken from its option or else from the spec.
    """
    if policy is None:
        raise SimulationError(MESSAGE_NO_POLICY.format(name=use_case))
    given: dict[Threshold, float | None] = {
        "approve_at": approve_at,
        "decline_below": decline_below,
    }
    for name, value in given.items():
        if value is not None:
            _in_unit_interval(name, value, OPTION[name])
    settings: list[tuple[str, Policy]] = [("current", policy)]
    if sweep is not None:
        fixed = given[sweep.name]
        if fixed is not None:
            raise SimulationError(
                MESSAGE_SWEEP_AND_OPTION.format(
                    option=OPTION[sweep.name], name=sweep.name, value=fixed, sweep=sweep.text
                )
            )
        for value in sweep.values:
            _in_unit_interval(sweep.name, value, f"every value of --sweep {sweep.text!r}")
            settings.append(
                (
                    f"{sweep.name}={value:g}",
                    _setting(policy, given | {sweep.name: value}, swept=sweep.name),
                )
            )
    elif approve_at is not None or decline_below is not None:
        settings.append(("proposed", _setting(policy, given, swept=None)))
    return settings


def _setting(policy: Policy, given: Mapping[Threshold, float | None], swept: str | None) -> Policy:
    values: dict[str, float] = {}
    sources: dict[str, str] = {}
    for name in SWEEPABLE:
        value = given[name]
        values[name] = getattr(policy, name) if value is None else value
        sources[name] = (
            "the spec" if value is None else "--sweep" if name == swept else OPTION[name]
        )
    if values["decline_below"] > values["approve_at"]:
        raise SimulationError(
            MESSAGE_BAND.format(
                decline=values["decline_below"],
                decline_source=sources["decline_below"],
                approve=values["approve_at"],
                approve_source=sources["approve_at"],
            )
        )
    try:
        return Policy.model_validate(policy.model_dump() | values)
    except ValidationError as error:  # pragma: no cover - the checks above come first
        raise SimulationError(str(error)) from None


class GroupImpact(BaseModel):
    """One group's outcome rates and impact ratios under one setting."""

    model_config = ConfigDict(frozen=True)

    attribute: str
    group: str
    n: int
    share: float
    included_in_ratios: bool
    gated: bool  # the gate judges this attribute (intersections only when it judges them)
    approval_rate: Metric
    referral_rate: Metric
    decline_rate: Metric
    adverse_rate: Metric
    impact_ratio: Metric = None
    adverse_impact_ratio: Metric = None


class SettingResult(BaseModel):
    """What one setting of the thresholds does to the rows simulated."""

    model_config = ConfigDict(frozen=True)

    label: str
    current: bool
    approve_at: float
    decline_below: float
    n: int
    approved: int
    referred: int
    declined: int
    adverse: int
    approval_rate: Metric
    referral_rate: Metric
    decline_rate: Metric
    adverse_rate: Metric
    cases_per_1000: Metric
    reviewer_hours_per_day: Metric
    referral_rules: dict[str, int]
    groups: list[GroupImpact] = Field(default_factory=list)
    worst_impact_ratio: Metric = None
    worst_impact_group: str | None = None
    worst_adverse_impact_ratio: Metric = None
    worst_adverse_impact_group: str | None = None


class SimulationResult(BaseModel):
    """Every setting applied to one set of rows (held-out rows, or logged decisions)."""

    model_config = ConfigDict(frozen=True)

    source: Source
    n: int
    workload: Workload
    swept: Threshold | None
    by_group: bool
    settings: list[SettingResult]
    notes: list[str] = Field(default_factory=list)

    @property
    def current(self) -> SettingResult:
        """The spec's own setting (always the first)."""
        return self.settings[0]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data (undefined numbers are ``None``)."""
        return self.model_dump(mode="json")


def _with_forced(
    decided: PolicyOutcomes, forced: Mapping[str, NDArray[np.bool_]]
) -> PolicyOutcomes:
    if not forced:
        return decided
    fired = dict(decided.fired)
    outcome = decided.outcome.copy()
    for name, mask in forced.items():
        fired[name] = fired.get(name, np.zeros(len(outcome), dtype=bool)) | mask
        outcome[mask] = REFERRED
    return PolicyOutcomes(outcome=outcome, recommendation=decided.recommendation, fired=fired)


def _groups(result: OutcomeResult, gated_intersections: bool) -> list[GroupImpact]:
    rows: list[GroupImpact] = []
    for attr in result.attributes:
        gated = len(attr.attributes) == 1 or gated_intersections
        rates = np.array(
            [np.nan if g.approval_rate is None else g.approval_rate for g in attr.groups]
        )
        included = np.array([g.included_in_ratios for g in attr.groups], dtype=bool)
        ratios = impact_ratios(rates, included)
        for g, ratio in zip(attr.groups, ratios, strict=True):
            rows.append(
                GroupImpact(
                    attribute=attr.attribute,
                    group=g.group,
                    n=g.n,
                    share=g.share,
                    included_in_ratios=g.included_in_ratios,
                    gated=gated,
                    approval_rate=g.approval_rate,
                    referral_rate=g.referral_rate,
                    decline_rate=g.decline_rate,
                    adverse_rate=g.adverse_rate,
                    impact_ratio=float(ratio),
                    adverse_impact_ratio=g.adverse_impact_ratio,
                )
            )
    return rows


def _worst(groups: list[GroupImpact], field: str) -> tuple[float | None, str | None]:
    found = [
        # an intersection's label already names its attributes
        (value, g.group if len(g.attribute.split(" & ")) > 1 else f"{g.attribute}: {g.group}")
        for g in groups
        if g.gated and g.included_in_ratios and (value := getattr(g, field)) is not None
    ]
    if not found:
        return None, None
    return min(found, key=lambda pair: pair[0])


def simulate(
    settings: Sequence[tuple[str, Policy]],
    scores: ArrayLike,
    frame: pd.DataFrame,
    *,
    source: Source,
    workload: Workload,
    out_of_distribution: ArrayLike | None = None,
    sensitive: Mapping[str, ArrayLike] | None = None,
    forced: Mapping[str, ArrayLike] | None = None,
    min_group_size: int = 30,
    min_share: float = 0.02,
    gated_intersections: bool = True,
    swept: Threshold | None = None,
    notes: Sequence[str] = (),
) -> SimulationResult:
    """Apply every setting to the same scored rows.

    Parameters
    ----------
    settings : sequence of (label, Policy)
        As from :func:`policy_settings`; the first is the spec's own.
    scores : array-like of float
        The model's score per row.
    frame : DataFrame
        The rows' raw feature values (the high-stakes rules read them).
    source : {"held_out", "logged"}
    workload : Workload
    out_of_distribution : array-like of bool, optional
        Per row, whether the out-of-distribution check fired.
    sensitive : mapping of str to array-like, optional
        Group label per row for each attribute; without it there are no by-group figures.
    forced : mapping of str to array-like of bool, optional
        Referral rules that fire whatever the thresholds (named as in ``referral_reasons``).
    min_group_size, min_share, gated_intersections
        The gate's: ``gate.min_group_size``, ``gate.min_share_for_ratios``, and whether
        ``gate.intersections == "gate"``.
    swept : {"approve_at", "decline_below"}, optional
        The threshold a sweep moves, for the table and the plot.
    notes : sequence of str
        What the reader should know about these rows.

    Returns
    -------
    SimulationResult
    """
    s = np.asarray(scores, dtype=np.float64)
    ood = None if out_of_distribution is None else np.asarray(out_of_distribution, dtype=bool)
    forced_masks = {k: np.asarray(v, dtype=bool) for k, v in (forced or {}).items()}
    groups_of = (
        {k: np.asarray(v) for k, v in sensitive.items()}
        if sensitive
        else {"all": np.full(len(s), "all")}
    )
    results: list[SettingResult] = []
    for i, (label, policy) in enumerate(settings):
        decided = _with_forced(policy_outcomes(policy, s, frame, ood), forced_masks)
        outcomes = evaluate_outcomes(
            decided, groups_of, min_group_size=min_group_size, min_share=min_share, n_boot=0
        )
        overall = outcomes.overall
        groups = _groups(outcomes, gated_intersections) if sensitive else []
        worst_ir, worst_ir_group = _worst(groups, "impact_ratio")
        worst_air, worst_air_group = _worst(groups, "adverse_impact_ratio")
        empty = len(s) == 0
        results.append(
            SettingResult(
                label=label,
                current=i == 0,
                approve_at=policy.approve_at,
                decline_below=policy.decline_below,
                n=overall.n,
                approved=overall.approved,
                referred=overall.referred,
                declined=overall.declined,
                adverse=overall.adverse,
                approval_rate=None if empty else overall.approval_rate,
                referral_rate=None if empty else overall.referral_rate,
                decline_rate=None if empty else overall.decline_rate,
                adverse_rate=None if empty else overall.adverse_rate,
                cases_per_1000=None if empty else workload.cases_per_1000(overall.referral_rate),
                reviewer_hours_per_day=None
                if empty
                else workload.hours_per_day(overall.referral_rate),
                referral_rules=dict(outcomes.referral_rules),
                groups=groups,
                worst_impact_ratio=worst_ir,
                worst_impact_group=worst_ir_group,
                worst_adverse_impact_ratio=worst_air,
                worst_adverse_impact_group=worst_air_group,
            )
        )
    return SimulationResult(
        source=source,
        n=len(s),
        workload=workload,
        swept=swept,
        by_group=bool(sensitive),
        settings=results,
        notes=list(notes),
    )
