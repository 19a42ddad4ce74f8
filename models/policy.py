"""The decision policy: thresholds first, then every rule that sends a case to a human.

:func:`apply_policy` decides one scored case, as the service does for every request.
:func:`policy_outcomes` decides many held-out rows at once with the same rules, for
audits and threshold simulations: the thresholds, ``refer_adverse``, the high-stakes
rules and the out-of-distribution check. The stop switch and withheld consent depend
on the moment and the person, so offline they are taken as off and given.
Both share :func:`rule_fires`, and a test checks that they agree row by row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict

from models.spec import Policy, PolicyRule

Outcome = Literal["approved", "declined", "referred"]
Recommendation = Literal["approve", "decline", "uncertain"]


class Referral(BaseModel):
    """One rule that sent the case to a person, and what it found."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: str
    detail: str


@dataclass(frozen=True)
class PolicyResult:
    outcome: Outcome
    recommendation: Recommendation
    referral_reasons: list[Referral] = field(default_factory=list)

    @property
    def adverse(self) -> bool:
        """Not approved by the model: reasons and recourse are owed to the person."""
        return self.recommendation != "approve"


def apply_policy(
    policy: Policy,
    score: float,
    features: dict[str, Any],
    *,
    out_of_distribution: list[str],
    consent: bool,
    stopped: bool,
) -> PolicyResult:
    """Outcome of one scored case; a referral lists every rule that fired."""
    if score >= policy.approve_at:
        recommendation: Recommendation = "approve"
    elif score < policy.decline_below:
        recommendation = "decline"
    else:
        recommendation = "uncertain"
    reasons: list[Referral] = []
    if stopped:
        reasons.append(
            Referral(rule="stop_switch", detail="automated decisions are stopped for this use case")
        )
    if not consent:
        reasons.append(
            Referral(
                rule="consent_withheld",
                detail="the person asked not to be subject to an automated decision",
            )
        )
    if recommendation == "uncertain":
        reasons.append(
            Referral(
                rule="uncertain_score",
                detail=f"score {score:.4f} is between decline_below {policy.decline_below}"
                f" and approve_at {policy.approve_at}",
            )
        )
    if recommendation == "decline" and policy.refer_adverse:
        reasons.append(
            Referral(
                rule="adverse_review", detail="every adverse outcome is reviewed before it is final"
            )
        )
    for rule in policy.rules:
        value = features.get(rule.feature)
        if value is None:
            continue
        if rule_fires(rule, value):
            reasons.append(Referral(rule=f"high_stakes:{rule.feature}", detail=rule.reason))
    if policy.refer_out_of_distribution and out_of_distribution:
        reasons.append(
            Referral(
                rule="out_of_distribution",
                detail="input unlike the training data: " + "; ".join(out_of_distribution),
            )
        )
    if reasons:
        return PolicyResult("referred", recommendation, reasons)
    return PolicyResult("approved" if recommendation == "approve" else "declined", recommendation)


def rule_fires(rule: PolicyRule, value: Any) -> bool:
    """Whether a high-stakes rule fires on one present (not missing) feature value."""
    return bool(
        (rule.above is not None and value > rule.above)
        or (rule.below is not None and value < rule.below)
        or (rule.equals is not None and value == rule.equals)
    )


def rule_column(rule: PolicyRule, column: pd.Series) -> NDArray[np.bool_]:
    """:func:`rule_fires` for a column of raw values; a missing value never fires it."""
    present = column.notna().to_numpy()
    if rule.equals is not None:
        hit = column.astype(str).to_numpy() == rule.equals
    else:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        with np.errstate(invalid="ignore"):
            hit = numbers > rule.above if rule.above is not None else numbers < rule.below
    return np.asarray(present & hit, dtype=bool)


#: codes of :attr:`PolicyOutcomes.outcome`, in this order
OUTCOMES: tuple[Outcome, ...] = ("approved", "referred", "declined")
APPROVED, REFERRED, DECLINED = 0, 1, 2


@dataclass(frozen=True)
class PolicyOutcomes:
    """What the policy does with each of many scored rows.

    Attributes
    ----------
    outcome : ndarray of int
        Index into :data:`OUTCOMES` per row.
    recommendation : ndarray of str
        ``approve``, ``decline`` or ``uncertain`` per row (the score band alone).
    fired : dict of str to ndarray of bool
        Per referral rule (named as in a decision's ``referral_reasons``), the rows it fired on.
    """

    outcome: NDArray[np.int64]
    recommendation: NDArray[np.str_]
    fired: dict[str, NDArray[np.bool_]]

    @property
    def approved(self) -> NDArray[np.int64]:
        """1 where the case is approved automatically (the selection), else 0."""
        return (self.outcome == APPROVED).astype(np.int64)

    @property
    def adverse(self) -> NDArray[np.bool_]:
        """Where the model recommends declining (declined, or referred for adverse review)."""
        return np.asarray(self.recommendation == "decline", dtype=bool)

    def rates(self) -> dict[str, float]:
        """Share of rows approved, referred and declined."""
        n = max(len(self.outcome), 1)
        counts = np.bincount(self.outcome, minlength=len(OUTCOMES))
        return {name: float(counts[i] / n) for i, name in enumerate(OUTCOMES)}


def policy_outcomes(
    policy: Policy,
    scores: NDArray[np.floating],
    frame: pd.DataFrame,
    out_of_distribution: NDArray[np.bool_] | None = None,
) -> PolicyOutcomes:
    """Decide many rows as :func:`apply_policy` would, with consent given and no stop switch.

    Parameters
    ----------
    policy : Policy
    scores : ndarray of float
        The model's score per row.
    frame : DataFrame
        The rows' raw feature values (columns named as the spec's features).
    out_of_distribution : ndarray of bool, optional
        Per row, whether the out-of-distribution check found anything.

    Returns
    -------
    PolicyOutcomes
    """
    s = np.asarray(scores, dtype=np.float64)
    if len(frame) != len(s):
        raise ValueError(
            f"policy_outcomes needs one score per row: got {len(s)} scores for {len(frame)} rows"
        )
    recommendation = np.where(
        s >= policy.approve_at,
        "approve",
        np.where(s < policy.decline_below, "decline", "uncertain"),
    )
    fired: dict[str, NDArray[np.bool_]] = {"uncertain_score": recommendation == "uncertain"}
    if policy.refer_adverse:
        fired["adverse_review"] = recommendation == "decline"
    for rule in policy.rules:
        if rule.feature not in frame.columns:
            raise ValueError(
                f"policy rule on {rule.feature!r} needs that column; the rows have"
                f" {list(frame.columns)}"
            )
        name = f"high_stakes:{rule.feature}"
        fired[name] = fired.get(name, np.zeros(len(s), dtype=bool)) | rule_column(
            rule, frame[rule.feature]
        )
    if policy.refer_out_of_distribution and out_of_distribution is not None:
        fired["out_of_distribution"] = np.asarray(out_of_distribution, dtype=bool)
    referred = np.zeros(len(s), dtype=bool)
    for mask in fired.values():
        referred |= mask
    outcome = np.where(
        referred, REFERRED, np.where(recommendation == "approve", APPROVED, DECLINED)
    ).astype(np.int64)
    return PolicyOutcomes(outcome=outcome, recommendation=recommendation, fired=fired)
