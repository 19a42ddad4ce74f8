"""Replay a logged decision with its recorded model, spec, explainer and catalogue (R3).

The replay runs :func:`serving.decisions.evaluate.evaluate` and
:func:`serving.decisions.evaluate.find_recourse`, the very path a request takes
(validation, score, out-of-distribution check, policy outcome with every referral
rule, exact contributions, reasons, recourse), on the recorded features with the
recorded consent and stop switch. It compares the whole result with the record,
field by field: numbers within :data:`TOLERANCE`, everything else exactly, and
names every difference by its path (``rationale.contributions[2].contribution``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from models import registry
from models.settings import Settings
from serving.decisions.evaluate import evaluate, find_recourse
from serving.decisions.record import DecisionRecord, PersonalData, RecordedRationale
from serving.decisions.served import load_served
from serving.decisions.validation import InvalidFeatures
from serving.ledger import DecisionLog

__all__ = ["TOLERANCE", "ReplayError", "differences", "replay_decision", "replayed_ids"]

#: numbers (scores, contributions, log-odds) may differ by this much, from floating point
TOLERANCE = 1e-9

#: the fields of a decision record that a replay recomputes
REPLAYED_FIELDS = (
    "score",
    "outcome",
    "recommendation",
    "referral_reasons",
    "reasons",
    "rationale",
    "recourse_found",
    "explainer_version",
    "catalogue_version",
    "policy_version",
    "spec_hash",
)


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
    consent = personal.automated_decision_consent
    stopped = any(r.rule == "stop_switch" for r in record.referral_reasons)
    try:
        ev = evaluate(served, personal.features, consent=consent, stopped=stopped)
    except InvalidFeatures as exc:
        return {
            "decision_id": decision_id,
            "replayable": True,
            "identical": False,
            "model_version": record.model_version,
            "differences": [f"validation: the recorded features are refused now: {exc}"],
        }
    recourse = find_recourse(served, ev, consent=consent, stopped=stopped)
    logged = record.model_dump(mode="json", include=set(REPLAYED_FIELDS))
    logged["recourse"] = personal.recourse
    replayed = {
        "score": ev.score,
        "outcome": ev.policy.outcome,
        "recommendation": ev.policy.recommendation,
        "referral_reasons": [r.model_dump(mode="json") for r in ev.policy.referral_reasons],
        "reasons": [r.model_dump(mode="json") for r in ev.rationale.reasons],
        "rationale": RecordedRationale.model_validate(
            ev.rationale.model_dump(mode="json")
        ).model_dump(mode="json"),
        "recourse_found": None if recourse is None else recourse.found,
        "explainer_version": served.explainer_version,
        "catalogue_version": served.catalogue_version,
        "policy_version": served.policy_version,
        "spec_hash": served.spec_hash,
        "recourse": None if recourse is None else recourse.model_dump(mode="json"),
    }
    found = differences(logged, replayed)
    return {
        "decision_id": decision_id,
        "replayable": True,
        "identical": not found,
        "model_version": record.model_version,
        "score": ev.score,
        "reasons": [r.code for r in ev.rationale.reasons],
        "differences": found,
    }


def differences(logged: Any, replayed: Any, path: str = "") -> list[str]:
    """Every place where two JSON values differ: numbers beyond :data:`TOLERANCE`, else exactly.

    Examples
    --------
    >>> differences({"a": [1.0, "x"]}, {"a": [1.0 + 1e-12, "y"]})
    ["a[1]: logged 'x', replayed 'y'"]
    """
    here = path or "(decision)"
    numbers = (int, float)
    if (
        isinstance(logged, numbers)
        and isinstance(replayed, numbers)
        and not isinstance(logged, bool)
        and not isinstance(replayed, bool)
    ):
        if abs(float(logged) - float(replayed)) <= TOLERANCE:
            return []
        return [f"{here}: logged {logged!r}, replayed {replayed!r}"]
    if isinstance(logged, dict) and isinstance(replayed, dict):
        out: list[str] = []
        for key in sorted(set(logged) | set(replayed)):
            where = f"{path}.{key}" if path else str(key)
            if key not in logged:
                out.append(f"{where}: not logged, replayed {replayed[key]!r}")
            elif key not in replayed:
                out.append(f"{where}: logged {logged[key]!r}, not replayed")
            else:
                out += differences(logged[key], replayed[key], where)
        return out
    if isinstance(logged, list) and isinstance(replayed, list):
        if len(logged) != len(replayed):
            return [f"{here}: logged {len(logged)} items, replayed {len(replayed)}"]
        out = []
        for i, (a, b) in enumerate(zip(logged, replayed, strict=True)):
            out += differences(a, b, f"{path}[{i}]")
        return out
    # True == 1 in Python, but a flag that became a number is a difference
    if logged != replayed or isinstance(logged, bool) != isinstance(replayed, bool):
        return [f"{here}: logged {logged!r}, replayed {replayed!r}"]
    return []


def replayed_ids(
    log: DecisionLog, use_case: str | None = None, since: datetime | None = None
) -> Iterator[str]:
    """Decision ids in the log, oldest first, of one use case and decided at ``since`` or later."""
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    for entry in log.iter_entries():
        if entry.kind != "decision":
            continue
        if use_case is not None and entry.use_case != use_case:
            continue
        if since is not None and datetime.fromisoformat(str(entry.digest["decided_at"])) < since:
            continue
        yield str(entry.digest["decision_id"])
