"""Review test helpers: people, a fake clock, the credit spec, decisions built as typed records.

Decisions are built directly (no trained model) and appended the way the
engine does, with the case opened in the same transaction.
"""

from __future__ import annotations

import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from docket.usecases import SHIPPED_DIR
from models.policy import Referral
from models.rationale import Reason
from models.spec import DecisionSpec, parse_spec
from serving.decisions.record import CaseRef, DecisionRecord, PersonalData, RecordedRationale
from serving.ledger import DecisionLog
from serving.review import ReviewDesk, open_referral_case

USE_CASE = "credit-eligibility"
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: people, as the HTTP layer would pass them after authenticating their tokens
ANN = {"person_id": "p-ann", "person_name": "Ann Lee", "roles": {"reviewer"}}
BOB = {"person_id": "p-bob", "person_name": "Bob Roe", "roles": {"reviewer"}}
CAT = {"person_id": "p-cat", "person_name": "Cat Poe", "roles": {"reviewer"}}
SAM = {"person_id": "p-sam", "person_name": "Sam Senior", "roles": {"reviewer", "senior_reviewer"}}
TIA = {"person_id": "p-tia", "person_name": "Tia Senior", "roles": {"senior_reviewer"}}
AUDITOR = {"person_id": "p-aud", "person_name": "Aud Itor", "roles": {"auditor"}}

#: an applicant below every high-stakes limit of the credit spec
FEATURES: dict[str, Any] = {
    "Seniority": 3,
    "Home": "rent",
    "Time": 36,
    "Records": "no",
    "Job": "fixed",
    "Expenses": 50,
    "Income": 120,
    "Assets": 0,
    "Debt": 0,
    "Amount": 1000,
    "Price": 1200,
}


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def credit_spec(**review: Any) -> DecisionSpec:
    """The shipped credit spec, with ``review`` keys replaced (``review=None`` drops the section)."""
    raw = tomllib.loads((SHIPPED_DIR / "credit-eligibility.toml").read_text())
    if review.get("review", "keep") is None:
        del raw["review"]
    else:
        raw["review"].update(review)
    return parse_spec(raw, source="credit-eligibility.toml")


def _rationale(decided: str, recommendation: str) -> RecordedRationale:
    adverse = recommendation != "approve"
    reason = Reason(
        code="INC01",
        features=("Income",),
        contribution=-0.8 if adverse else 0.8,
        direction="adverse" if adverse else "favourable",
        text="Your monthly income is low for this credit",
    )
    return RecordedRationale.model_validate(
        {
            "reference_kind": "approved_population",
            "reference": "held-out applicants the policy approves",
            "base_value": 0.4,
            "contributions": [
                {
                    "feature": "Income",
                    "label": "Monthly income",
                    "contribution": reason.contribution,
                    "direction": reason.direction,
                }
            ],
            "log_odds": -0.4,
            "score": 0.4,
            "additivity_error": 0.0,
            "adverse": adverse,
            "reasons": [reason.model_dump()],
            "summary": f"decided {decided}",
            "explainer_version": "exact-linear/2",
            "catalogue_version": "1",
        }
    )


def record_decision(
    log: DecisionLog,
    clock: FakeClock,
    *,
    recommendation: str = "decline",
    outcome: str = "referred",
    features: dict[str, Any] | None = None,
    deadline_hours: float = 48,
    rules: tuple[str, ...] = ("adverse_review",),
    training_consent: bool = False,
) -> DecisionRecord:
    """Append a decision like the engine does; a referred one opens its case in the same transaction."""
    now = clock()
    referred = outcome == "referred"
    record = DecisionRecord(
        decision_id=uuid.uuid4().hex,
        decided_at=now.isoformat(),
        use_case=USE_CASE,
        model_version="1",
        policy_version="1",
        explainer_version="exact-linear/2",
        catalogue_version="1",
        spec_hash="ab" * 32,
        spec_ref="models:/credit-eligibility/1",
        score=0.4,
        outcome=outcome,  # type: ignore[arg-type]
        recommendation=recommendation,  # type: ignore[arg-type]
        status="pending_review" if referred else "final",
        case=CaseRef(
            case_id=uuid.uuid4().hex,
            deadline=(now + timedelta(hours=deadline_hours)).isoformat(timespec="seconds"),
        )
        if referred
        else None,
        referral_reasons=tuple(Referral(rule=r, detail=f"{r} fired") for r in rules)
        if referred
        else (),
        reasons=_rationale(now.isoformat(), recommendation).reasons,
        rationale=_rationale(now.isoformat(), recommendation),
        recourse_found=False,
        requested_by="loans-app",
    )
    personal = PersonalData(
        features=dict(FEATURES if features is None else features),
        application_ref="A-1",
        automated_decision_consent=True,
        recourse={"found": False, "changes": []},
        training_data_consent=training_consent,
    )

    def on_referred(session: Any, entry: Any) -> None:
        open_referral_case(session, record)

    log.append(
        "decision",
        USE_CASE,
        record.model_dump(mode="json"),
        payload=personal.model_dump(mode="json"),
        subject_id=record.decision_id,
        also=on_referred if referred else None,
    )
    return record


def work(
    desk: ReviewDesk, case_id: str, person: dict[str, Any], clock: FakeClock, seconds: float = 60
) -> None:
    """Claim and open ``case_id`` as ``person``, then let ``seconds`` pass."""
    desk.claim(case_id, **person)
    desk.open(case_id, **person)
    clock.advance(seconds=seconds)
