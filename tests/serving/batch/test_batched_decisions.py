"""Deciding rows together gives each row exactly what it gets alone.

``prepare_decisions`` shares the model, contributions, out-of-distribution and
recourse calls across rows; ``prepare_decision`` (what ``POST /decide`` runs) is
one row at a time. Records, personal payloads (with the recourse) and rationales
must be equal with ``==``, over both model families (trees and the linear
model), invalid rows mixed in, withheld consent and the stop switch.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from sqlalchemy.orm import Session

from docket.usecases import resolve_spec
from models import registry
from models.settings import Settings
from serving.access import Principal
from serving.batch.chunks import case_row
from serving.decisions.prepare import PreparedDecision, prepare_decision, prepare_decisions
from serving.decisions.served import ServedModel, load_served
from serving.decisions.validation import DecideRequest, InvalidFeatures
from serving.ledger import DecisionLog
from serving.review import open_referral_case
from serving.review.schema import CaseRow
from training.data import load_dataset

N = 80
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PRINCIPAL = Principal.local("batch-test", role="application")


def _served(settings: Settings, use_case: str) -> ServedModel:
    client = registry.connect(settings)
    version = registry.alias_version(client, use_case, registry.CHAMPION)
    return load_served(client, use_case, str(version))


def _requests(use_case: str, seed: int) -> list[DecideRequest]:
    spec = resolve_spec(use_case)
    frame = load_dataset(spec).frame[spec.feature_names]
    rng = np.random.default_rng(seed)
    rows = frame.iloc[rng.choice(len(frame), size=N, replace=False)].to_dict("records")
    numeric = [n for n in spec.feature_names if spec.features[n].type == "numeric"]
    out = []
    for i, row in enumerate(rows):
        features: dict[str, Any] = {
            k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()
        }
        if i % 17 == 5:  # out of the spec's range: refused, named
            features[numeric[0]] = 1e15
        out.append(
            DecideRequest(
                use_case=use_case,
                features=features,
                application_ref=f"app-{i}",
                automated_decision_consent=i % 7 != 3,
            )
        )
    return out


def _as_data(p: PreparedDecision | InvalidFeatures) -> Any:
    if isinstance(p, InvalidFeatures):
        return ("invalid", str(p), [q.model_dump() for q in p.problems])
    return (p.record, p.personal, p.case, p.rationale)


@pytest.mark.parametrize("use_case", ["credit-eligibility", "retention-propensity"])
@pytest.mark.parametrize(("seed", "stopped"), [(1, False), (2, False), (3, True)])
def test_batched_decisions_equal_one_by_one(
    served_settings: Settings, use_case: str, seed: int, stopped: bool
) -> None:
    served = _served(served_settings, use_case)
    requests = _requests(use_case, seed)
    ids = [f"d-{seed}-{i}" for i in range(N)]
    cases = [f"c-{seed}-{i}" for i in range(N)]
    # when: all together, and one at a time
    together = prepare_decisions(
        served, requests, PRINCIPAL, stopped=stopped, now=NOW, decision_ids=ids, case_ids=cases
    )
    alone: list[PreparedDecision | InvalidFeatures] = []
    for request, d, c in zip(requests, ids, cases, strict=True):
        try:
            alone.append(
                prepare_decision(
                    served, request, PRINCIPAL, stopped=stopped, now=NOW, decision_id=d, case_id=c
                )
            )
        except InvalidFeatures as exc:
            alone.append(exc)
    # then: the same, row by row, and the mix covers what it should
    assert [_as_data(p) for p in together] == [_as_data(p) for p in alone]
    decided = [p for p in alone if isinstance(p, PreparedDecision)]
    assert len(decided) == N - len([i for i in range(N) if i % 17 == 5])
    assert any(p.personal.recourse is not None for p in decided)  # adverse rows searched
    assert any(p.record.outcome == "referred" for p in decided)
    if not stopped:
        assert any(p.record.outcome != "referred" for p in decided)


def test_batched_case_rows_are_the_ones_the_service_opens(
    served_settings: Settings, served_copy: Settings
) -> None:
    served = _served(served_settings, "credit-eligibility")
    requests = _requests("credit-eligibility", 4)
    referred = [
        p
        for p in prepare_decisions(served, requests, PRINCIPAL, stopped=False, now=NOW)
        if isinstance(p, PreparedDecision) and p.case is not None
    ]
    assert referred
    log = DecisionLog(served_copy.database_url)
    try:
        log.migrate()
        with Session(log.engine) as session:
            for p in referred:
                open_referral_case(session, p.record)
            session.flush()
            columns = [c.name for c in CaseRow.__table__.columns]
            by_service = {
                row.case_id: {c: getattr(row, c) for c in columns}
                for row in session.query(CaseRow).all()
                if row.decision_id in {p.record.decision_id for p in referred}
            }
            session.rollback()
    finally:
        log.close()
    for p in referred:
        expected = by_service[p.record.case.case_id]  # type: ignore[union-attr]
        mine = case_row(p.record)
        assert {c: expected[c] for c in mine} == mine
        # every column the batch leaves out is one the service leaves empty too
        assert all(expected[c] is None for c in expected if c not in mine)
