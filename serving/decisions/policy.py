"""The decision policy: thresholds first, then every rule that sends a case to a human."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from models.spec import Policy

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
        fired = (
            (rule.above is not None and value > rule.above)
            or (rule.below is not None and value < rule.below)
            or (rule.equals is not None and value == rule.equals)
        )
        if fired:
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
