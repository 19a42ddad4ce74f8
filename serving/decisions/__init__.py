"""Decisions: validation, policy, the engine (one decision and its record), replay.

>>> from serving.decisions import DecisionEngine  # doctest: +SKIP
"""

from models.policy import PolicyResult, Referral, apply_policy
from serving.decisions.engine import DecisionEngine
from serving.decisions.errors import (
    DecisionError,
    DecisionNotFound,
    NotServed,
    RecordFailed,
    UnknownUseCase,
)
from serving.decisions.evaluate import Evaluation, evaluate, judge
from serving.decisions.notice import notice_for
from serving.decisions.record import DecisionRecord, DecisionView, PersonalData
from serving.decisions.replay import ReplayError, replay_decision
from serving.decisions.search import DecisionPage, DecisionQuery, FoundDecision, search_decisions
from serving.decisions.served import ServedModel, load_served
from serving.decisions.validation import DecideRequest, FieldProblem, InvalidFeatures

__all__ = [
    "DecideRequest",
    "DecisionEngine",
    "DecisionError",
    "DecisionNotFound",
    "DecisionPage",
    "DecisionQuery",
    "DecisionRecord",
    "DecisionView",
    "Evaluation",
    "FieldProblem",
    "FoundDecision",
    "InvalidFeatures",
    "NotServed",
    "PersonalData",
    "PolicyResult",
    "RecordFailed",
    "Referral",
    "ReplayError",
    "ServedModel",
    "UnknownUseCase",
    "apply_policy",
    "evaluate",
    "judge",
    "load_served",
    "notice_for",
    "replay_decision",
    "search_decisions",
]
