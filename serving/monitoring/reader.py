"""The decisions frame of :mod:`audits.monitoring`, read from the ledger; the reference sample.

One row per ``decision`` entry of the use case decided in ``[start, end)``, with
(columns in :mod:`audits.monitoring.frames`):

- from the decision's digest: ``decided_at``, ``outcome``, ``score``,
  ``model_recommendation`` (the record's ``recommendation``), ``model_version``;
- from its personal payload: the feature values, and the group labels of the
  ``audit_attributes`` (a raw source such as ``Age`` banded as the spec says); an
  erased payload leaves them missing (group unknown);
- from the referral case's resolution (``resolved``, or ``second_review_confirmed``
  under four eyes): ``reviewer`` (who made the call), ``final_outcome``,
  ``resolved_at``; an automated decision is its own final outcome at ``decided_at``;
- from ``appeal`` entries and the appeal case's resolution: ``appealed``,
  ``appeal_upheld`` (the resolution differs from the outcome appealed);
- from outcome entries (``POST /outcomes``): ``label`` (the latest one).

Review, appeal and outcome entries are read from ``start`` on (they come after the
decision), so a decision decided before ``start`` is not in the frame at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models.sensitive import UNMAPPED_GROUP
from models.spec import BandsDerived, DecisionSpec, Derived, MapDerived
from serving.ledger.entries import LogKind, LogReadError
from serving.ledger.schema import LogEntryRow, PayloadRow
from serving.ledger.store import DecisionLog
from serving.ledger.times import stamp

__all__ = [
    "OUTCOME_ACTION",
    "DecisionsFrame",
    "group_labels",
    "read_decisions",
    "read_spec_decisions",
    "reference_sample",
]

#: ``digest["action"]`` of the ``admin`` entry that records an observed outcome label.
OUTCOME_ACTION = "outcome_recorded"

_FINAL_ACTIONS = ("resolved", "second_review_confirmed")


@dataclass(frozen=True)
class DecisionsFrame:
    """The frame, the attribute columns it carries, and the model versions seen."""

    frame: pd.DataFrame
    attributes: tuple[str, ...]
    model_versions: tuple[str, ...]


def _as_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def group_labels(
    attributes: Sequence[str], derived: Mapping[str, Derived], given: pd.DataFrame
) -> pd.DataFrame:
    """Each sensitive attribute's group from the raw ``audit_attributes`` (one row each).

    An attribute given directly is taken as is; otherwise it is derived from its source
    (bands, map) the way audits derive it; neither given: missing (group unknown).
    """
    out: dict[str, pd.Series] = {}
    for attr in attributes:
        direct = (
            given[attr]
            if attr in given.columns
            else pd.Series(None, index=given.index, dtype=object)
        )
        labels = direct.map(lambda v: None if v is None or pd.isna(v) else _as_text(v))
        rule = derived.get(attr)
        if rule is not None and rule.source in given.columns:
            source = given[rule.source]
            if isinstance(rule, BandsDerived):
                raw = pd.to_numeric(source, errors="coerce")
                banded = pd.cut(raw, bins=rule.edges, labels=rule.labels, right=False)
                from_source = banded.astype(object).where(banded.notna(), None)
            else:
                assert isinstance(rule, MapDerived)
                mapping = rule.group_of()
                from_source = pd.Series(
                    [
                        None
                        if v is None or pd.isna(v)
                        else mapping.get(_as_text(v), UNMAPPED_GROUP)
                        for v in source
                    ],
                    index=source.index,
                    dtype=object,
                )
            labels = labels.where(labels.notna(), from_source)
        out[attr] = labels.astype(object).where(labels.notna(), None)
    return pd.DataFrame(out, index=given.index)


def _rows(session: Session, query: Any, batch: int) -> Iterator[Any]:
    yield from session.execute(query.execution_options(yield_per=batch))


def read_spec_decisions(
    log: DecisionLog,
    spec: DecisionSpec,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    model_version: str | None = None,
) -> DecisionsFrame:
    """:func:`read_decisions` of ``spec``'s use case, features and sensitive attributes."""
    return read_decisions(
        log,
        spec.name,
        features=spec.feature_names,
        attributes=spec.sensitive.attributes,
        derived=spec.derived,
        start=start,
        end=end,
        model_version=model_version,
    )


def read_decisions(
    log: DecisionLog,
    use_case: str,
    *,
    features: Sequence[str],
    attributes: Sequence[str],
    derived: Mapping[str, Derived] | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    model_version: str | None = None,
    batch_size: int = 20_000,
) -> DecisionsFrame:
    """The decisions of ``use_case`` decided in ``[start, end)`` (see the module notes).

    ``features``: the payload's feature columns to carry (for drift); ``attributes``:
    the group columns, given directly or derived from a source by ``derived``.
    """
    since = None if start is None else stamp(start)
    until = None if end is None else stamp(end)
    decisions = (
        select(LogEntryRow.subject_id, LogEntryRow.digest, PayloadRow.payload)
        .outerjoin(PayloadRow, PayloadRow.entry_id == LogEntryRow.entry_id)
        .where(LogEntryRow.use_case == use_case, LogEntryRow.kind == LogKind.DECISION.value)
        .order_by(LogEntryRow.seq)
    )
    later = (
        select(LogEntryRow.kind, LogEntryRow.subject_id, LogEntryRow.digest)
        .where(
            LogEntryRow.use_case == use_case,
            LogEntryRow.kind.in_(
                [LogKind.REVIEW_ACTION.value, LogKind.APPEAL.value, LogKind.ADMIN.value]
            ),
        )
        .order_by(LogEntryRow.seq)
    )
    if since is not None:
        decisions = decisions.where(LogEntryRow.recorded_at >= since)
        later = later.where(LogEntryRow.recorded_at >= since)
    if until is not None:
        decisions = decisions.where(LogEntryRow.recorded_at < until)
    ids: list[str] = []
    decided: list[str] = []
    outcome: list[str] = []
    score: list[float] = []
    recommendation: list[str] = []
    version: list[str] = []
    values: list[dict[str, Any]] = []
    given: list[dict[str, Any]] = []
    resolutions: dict[str, dict[str, Any]] = {}
    appeals: set[str] = set()
    appeal_results: dict[str, str] = {}
    labels: dict[str, int] = {}
    try:
        with Session(log.engine) as session:
            for subject, digest_text, payload_text in _rows(session, decisions, batch_size):
                d = json.loads(digest_text)
                if model_version is not None and d.get("model_version") != model_version:
                    continue
                ids.append(subject)
                decided.append(d["decided_at"])
                outcome.append(d["outcome"])
                score.append(d.get("score", np.nan))
                recommendation.append(d.get("recommendation"))
                version.append(str(d.get("model_version")))
                payload = json.loads(payload_text) if payload_text else None
                values.append((payload or {}).get("features") or {})
                given.append((payload or {}).get("audit_attributes") or {})
            for kind, subject, digest_text in _rows(session, later, batch_size):
                d = json.loads(digest_text)
                if kind == LogKind.APPEAL.value:
                    appeals.add(subject)
                elif kind == LogKind.REVIEW_ACTION.value:
                    if d.get("action") not in _FINAL_ACTIONS or "outcome" not in d:
                        continue
                    if d.get("case_kind") == "appeal":
                        appeal_results[subject] = d["outcome"]
                    else:
                        resolutions[subject] = d
                elif d.get("action") == OUTCOME_ACTION:
                    labels[subject] = int(d["label"])
    except SQLAlchemyError as error:
        raise LogReadError(f"could not read the decisions of {use_case!r}: {error}") from error
    frame = pd.DataFrame(
        {
            "decision_id": pd.Series(ids, dtype=object),
            "decided_at": _times(decided),
            "outcome": pd.Series(outcome, dtype=object),
            "score": pd.Series(score, dtype=float),
            "model_recommendation": pd.Series(recommendation, dtype=object),
            "model_version": pd.Series(version, dtype=object),
        }
    )
    automated = frame["outcome"] != "referred"
    resolved = [resolutions.get(i) for i in ids]
    frame["reviewer"] = pd.Series(
        [None if r is None else (r.get("proposed_by_id") or r.get("person_id")) for r in resolved],
        dtype=object,
    )
    final = pd.Series([None if r is None else r["outcome"] for r in resolved], dtype=object)
    frame["final_outcome"] = final.where(~automated, frame["outcome"])
    resolved_at = _times([None if r is None else r.get("at") for r in resolved])
    frame["resolved_at"] = resolved_at.where(~automated, frame["decided_at"])
    frame["appealed"] = frame["decision_id"].isin(appeals)
    upheld = [
        None if i not in appeal_results or f is None else appeal_results[i] != f
        for i, f in zip(ids, frame["final_outcome"], strict=True)
    ]
    frame["appeal_upheld"] = pd.Series(upheld, dtype=object)
    frame["label"] = pd.Series([labels.get(i) for i in ids], dtype="Float64")
    feature_frame = pd.DataFrame.from_records(values, columns=features) if values else None
    for name in features:
        column = None if feature_frame is None else feature_frame[name]
        frame[name] = column.to_numpy() if column is not None else pd.Series(dtype=object)
    attrs = tuple(attributes)
    raw = pd.DataFrame.from_records(given) if given else pd.DataFrame()
    groups = group_labels(attrs, derived or {}, raw)
    has_groups = bool(given) and any(groups[a].notna().any() for a in attrs)
    for attr in attrs:
        frame[attr] = groups[attr].to_numpy() if len(groups) else pd.Series(dtype=object)
    return DecisionsFrame(
        frame=frame,
        attributes=attrs if has_groups else (),
        model_versions=tuple(sorted(set(version))),
    )


def _times(texts: Sequence[str | None]) -> pd.Series:
    # naive UTC, as audits.monitoring takes them
    parsed = pd.to_datetime(pd.Series(texts, dtype=object), utc=True, format="ISO8601")
    return parsed.dt.tz_localize(None)


def reference_sample(client: Any, spec: DecisionSpec, version: str) -> pd.DataFrame:
    """The reference of drift: the held-out split of ``version``'s training run, with scores.

    The registry keeps the test split (``registry.TEST_SPLIT_ARTIFACT``) as a frame; the
    training rows are only kept as indices, so the held-out rows, drawn from the same
    population before training, are the reference. ``score`` is the model's calibrated
    score of each row, as a decision records it.
    """
    from models import registry  # mlflow is slow to import; only the CLI needs it

    mv = client.get_model_version(spec.name, version)
    frame = registry.load_frame(client, registry.run_id_of(mv), registry.TEST_SPLIT_ARTIFACT)
    model = registry.load_model(client, spec.name, version)
    out = frame[spec.feature_names].copy()
    out["score"] = np.asarray(model.score(model.encode(frame[spec.feature_names])), dtype=float)
    return out
