"""Find real rows of a served use case that take each path through the policy."""

from __future__ import annotations

from typing import Any

import numpy as np

from docket.usecases import resolve_spec
from models.spec import load_spec
from serving.decisions.engine import DecisionEngine
from training.data import load_dataset


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in record.items():
        if isinstance(v, float) and np.isnan(v):
            out[k] = None
        elif isinstance(v, float) and v.is_integer():
            out[k] = int(v)
        else:
            out[k] = v
    return out


def rows_by_path(engine: DecisionEngine, use_case: str, per_path: int = 3) -> dict[str, list[dict]]:
    """Feature dicts whose model recommendation is approve / decline / uncertain, and that
    trip no other referral rule (so the path is decided by the score alone)."""
    served = engine.served(use_case)
    spec, model = served.spec, served.model
    assert spec.policy is not None
    # the served spec comes from the registry; read the data through the spec file
    synth = engine.settings.home / "synth" / "spec.toml"
    data_spec = load_spec(synth) if use_case == "synthetic-eligibility" else resolve_spec(use_case)
    frame = load_dataset(data_spec).frame[spec.feature_names]
    X = model.encode(frame)
    scores = model.score(X)
    found: dict[str, list[dict]] = {"approve": [], "decline": [], "uncertain": []}
    for i in np.random.default_rng(0).permutation(len(frame)):
        s = scores[i]
        path = (
            "approve"
            if s >= spec.policy.approve_at
            else "decline"
            if s < spec.policy.decline_below
            else "uncertain"
        )
        if len(found[path]) >= per_path or model.out_of_distribution(X[i : i + 1]):
            continue
        record = _clean(frame.iloc[i].to_dict())
        if any(
            r.above is not None and (record.get(r.feature) or 0) > r.above
            for r in spec.policy.rules
        ):
            continue
        found[path].append(record)
        if all(len(v) >= per_path for v in found.values()):
            break
    return found
