"""Outcome labels (R32): what actually happened after a decision, for live performance."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from serving.access import allow
from serving.decisions.errors import DecisionError
from serving.http.responses import API_GATE, json_errors
from serving.http.routers import deps
from serving.monitoring.outcomes import MAX_OUTCOMES, OutcomeItem, record_outcomes

router = APIRouter(tags=["monitoring"], responses=API_GATE)


class OutcomeLabel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    decision_id: str = Field(min_length=1, max_length=64)
    label: int | str = Field(
        description="1: the favourable outcome happened (e.g. the loan was repaid), 0: it did"
        " not; or the spec's favourable target value, meaning 1."
    )
    observed_at: str | None = Field(
        default=None, max_length=40, description="When it was observed (ISO 8601)."
    )
    correction: bool = Field(
        default=False,
        description="Replace a different label recorded before (without it: a conflict).",
    )


class OutcomesRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "outcomes": [
                        {
                            "decision_id": "4f1c2d9e8b7a4e6f9a0b1c2d3e4f5a6b",
                            "label": 1,
                            "observed_at": "2027-06-30T00:00:00Z",
                        },
                        {"decision_id": "9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d", "label": 0},
                    ]
                }
            ]
        },
    )

    outcomes: list[OutcomeLabel] = Field(min_length=1, max_length=MAX_OUTCOMES)


class OutcomesRefused(DecisionError):
    """No item of the call could be recorded."""

    kind = "conflict"


@router.post(
    "/outcomes",
    responses={
        **json_errors(400, 409),
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "recorded": 1,
                        "unchanged": 0,
                        "refused": 1,
                        "results": [
                            {
                                "decision_id": "4f1c2d9e8b7a4e6f9a0b1c2d3e4f5a6b",
                                "status": "recorded",
                                "label": 1,
                                "seq": 4182,
                            },
                            {
                                "decision_id": "9a8b7c6d5e4f4a3b2c1d0e9f8a7b6c5d",
                                "status": "not_found",
                                "error": "no decision with this id",
                            },
                        ],
                    }
                }
            }
        },
    },
    summary=f"record what actually happened after decisions (at most {MAX_OUTCOMES} per call),"
    " each a ledger entry about the decision; an application labels only its own decisions;"
    " the same label again records nothing; a different one needs `correction: true`;"
    " each item's result says `recorded`, `unchanged`, `not_found`, `forbidden`, `invalid` or"
    " `conflict`",
)
@allow("application")
def post_outcomes(body: OutcomesRequest, request: Request) -> dict[str, Any]:
    engine = deps.engine(request)

    def favourable_of(use_case: str) -> Any:
        try:
            return engine.served(use_case).spec.data.favourable
        except DecisionError:
            return None

    results = record_outcomes(
        engine.log,
        [OutcomeItem(o.decision_id, o.label, o.observed_at, o.correction) for o in body.outcomes],
        deps.principal(request),
        favourable_of=favourable_of,
    )
    counts = {s: sum(r.status == s for r in results) for s in ("recorded", "unchanged")}
    return {
        "recorded": counts["recorded"],
        "unchanged": counts["unchanged"],
        "refused": len(results) - counts["recorded"] - counts["unchanged"],
        "results": [r.as_dict() for r in results],
    }
