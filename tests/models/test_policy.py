"""The decision policy: thresholds, and every referral rule listed when it fires."""

from __future__ import annotations

from models.policy import apply_policy
from models.spec import Policy, PolicyRule

POLICY = Policy(
    approve_at=0.7,
    decline_below=0.3,
    refer_adverse=False,
    rules=[PolicyRule(feature="amount", above=1000, reason="High amounts are always reviewed.")],
)


def _decide(score: float, policy: Policy = POLICY, **kw: object) -> object:
    args: dict = {"out_of_distribution": [], "consent": True, "stopped": False}
    args.update(kw)
    return apply_policy(policy, score, {"amount": 500}, **args)


def test_thresholds() -> None:
    assert _decide(0.7).outcome == "approved"  # type: ignore[attr-defined]
    assert _decide(0.2999).outcome == "declined"  # type: ignore[attr-defined]
    mid = apply_policy(
        POLICY, 0.5, {"amount": 1}, out_of_distribution=[], consent=True, stopped=False
    )
    assert mid.outcome == "referred" and [r.rule for r in mid.referral_reasons] == [
        "uncertain_score"
    ]
    assert mid.adverse


def test_every_fired_rule_is_listed() -> None:
    result = apply_policy(
        POLICY.model_copy(update={"refer_adverse": True}),
        0.1,
        {"amount": 5000},
        out_of_distribution=["amount: 5000 outside the training range [0, 3000]"],
        consent=False,
        stopped=True,
    )
    assert result.outcome == "referred"
    assert result.recommendation == "decline"
    assert [r.rule for r in result.referral_reasons] == [
        "stop_switch",
        "consent_withheld",
        "adverse_review",
        "high_stakes:amount",
        "out_of_distribution",
    ]


def test_stop_switch_refers_even_clear_approvals() -> None:
    result = apply_policy(
        POLICY, 0.99, {"amount": 1}, out_of_distribution=[], consent=True, stopped=True
    )
    assert result.outcome == "referred" and result.recommendation == "approve"
    assert not result.adverse


def test_ood_referral_can_be_switched_off() -> None:
    off = POLICY.model_copy(update={"refer_out_of_distribution": False})
    result = apply_policy(
        off, 0.9, {"amount": 1}, out_of_distribution=["x"], consent=True, stopped=False
    )
    assert result.outcome == "approved"
