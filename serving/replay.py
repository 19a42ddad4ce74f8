"""Replay a logged decision with its recorded model, spec, explainer and catalogue (R3)."""

from __future__ import annotations

from typing import Any

from models import registry
from models.settings import Settings
from serving.engine import load_served
from serving.log import DecisionLog


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
    digest = entry.digest
    stored = log.get_payload(entry.entry_id)
    if stored.erased or stored.payload is None:
        return {
            "decision_id": decision_id,
            "replayable": False,
            "identical": None,
            "differences": ["the person's data was erased, so the decision cannot be re-scored"],
        }
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
    served = load_served(client, entry.use_case, digest["model_version"], digest.get("spec_ref"))
    x = served.model.encode_records([stored.payload["features"]])
    score = float(served.model.score(x)[0])
    rationale = served.builder.explain(x, adverse=digest["recommendation"] != "approve")
    reasons = [r.code for r in rationale.reasons]
    differences: list[str] = []
    checks = [
        ("score", digest["score"], score),
        ("reasons", [r["code"] for r in digest["reasons"]], reasons),
        ("explainer_version", digest["explainer_version"], served.explainer_version),
        ("catalogue_version", digest["catalogue_version"], served.catalogue_version),
        ("policy_version", digest["policy_version"], served.policy_version),
        ("spec_hash", digest["spec_hash"], served.spec_hash),
    ]
    for name, logged, now in checks:
        if logged != now:
            differences.append(f"{name}: logged {logged!r}, replayed {now!r}")
    return {
        "decision_id": decision_id,
        "replayable": True,
        "identical": not differences,
        "model_version": digest["model_version"],
        "score": score,
        "reasons": reasons,
        "differences": differences,
    }
