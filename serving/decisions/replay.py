"""Replay a logged decision with its recorded model, spec, explainer and catalogue (R3).

The replay runs :func:`serving.decisions.evaluate.evaluate`, the very path a
request takes, on the recorded features with the recorded consent and stop
switch, and reports every difference in score, outcome or reasons.
"""

from __future__ import annotations

from typing import Any

from models import registry
from models.settings import Settings
from serving.decisions.evaluate import evaluate
from serving.decisions.record import DecisionRecord, PersonalData
from serving.decisions.served import load_served
from serving.ledger import DecisionLog

__all__ = ["ReplayError", "replay_decision"]


class ReplayError(LookupError):
    pass


def replay_decision(
    settings: Settings, log: DecisionLog, decision_id: str, reader: str = "replay"
) -> dict[str, Any]:
    """Re-score and re-explain one decision; report every difference in score or reasons."""
    entries = log.entries_for(decision_id)
    entry = next((e for e in entries if e.kind == "decision"), None)
    if entry is None:
        raise ReplayError(f"no decision with id {decision_id!r} in the log")
    record = DecisionRecord.model_validate(entry.digest)
    stored = log.get_payload(entry.entry_id)
    if stored.erased or stored.payload is None:
        return {
            "decision_id": decision_id,
            "replayable": False,
            "identical": None,
            "differences": ["the person's data was erased, so the decision cannot be re-scored"],
        }
    personal = PersonalData.model_validate(stored.payload)
    log.append(
        "access",
        entry.use_case,
        {
            "reader": reader,
            "role": "operator",
            "purpose": "replay verification",
            "decision_id": decision_id,
        },
        subject_id=decision_id,
    )
    client = registry.connect(settings)
    served = load_served(client, entry.use_case, record.model_version, record.spec_ref)
    ev = evaluate(
        served,
        personal.features,
        consent=personal.automated_decision_consent,
        stopped=any(r.rule == "stop_switch" for r in record.referral_reasons),
    )
    reasons = [r.code for r in ev.rationale.reasons]
    differences: list[str] = []
    checks = [
        ("score", record.score, ev.score),
        ("outcome", record.outcome, ev.policy.outcome),
        ("reasons", [r.code for r in record.reasons], reasons),
        ("explainer_version", record.explainer_version, served.explainer_version),
        ("catalogue_version", record.catalogue_version, served.catalogue_version),
        ("policy_version", record.policy_version, served.policy_version),
        ("spec_hash", record.spec_hash, served.spec_hash),
    ]
    for name, logged, now in checks:
        if logged != now:
            differences.append(f"{name}: logged {logged!r}, replayed {now!r}")
    return {
        "decision_id": decision_id,
        "replayable": True,
        "identical": not differences,
        "model_version": record.model_version,
        "score": ev.score,
        "reasons": reasons,
        "differences": differences,
    }
