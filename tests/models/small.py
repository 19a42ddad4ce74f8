"""A small seeded logistic decision model whose base value alone is below the line.

Built from models/ parts only (no training package), so rationale and recourse
tests can check their rules on a model whose every number is easy to recompute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from models.decision_model import DecisionModel, build_estimator
from models.encoder import FeatureEncoder
from models.estimators import PlattCalibrator
from models.ood import OODDetector
from models.spec import DecisionSpec, parse_spec

APPROVE_AT = 0.6
CATEGORIES = ["none", "basic", "full"]


def small_spec(approve_at: float = APPROVE_AT) -> DecisionSpec:
    raw: dict[str, Any] = {
        "name": "small-loans",
        "description": "A small seeded loan model for tests.",
        "intended_use": "Tests only.",
        "out_of_scope_use": ["Anything else."],
        "data": {
            "source": "small.csv",
            "target": "repaid",
            "favourable": 1,
            "datasheet": {
                "source": "seeded generator",
                "original_purpose": "tests",
                "preparation": "none",
                "known_gaps": "synthetic",
                "known_biases": "synthetic",
            },
        },
        "features": {
            "income": {
                "type": "numeric",
                "label": "Income",
                "min": 0,
                "max": 200,
                "monotone": "increasing",
                "actionable": True,
                "step": 5,
            },
            "debt": {
                "type": "numeric",
                "label": "Debt",
                "min": 0,
                "max": 100,
                "monotone": "decreasing",
                "actionable": True,
                "step": 1,
            },
            "age_of_file": {"type": "numeric", "label": "Age of credit file", "min": 0, "max": 40},
            "cover": {
                "type": "categorical",
                "label": "Insurance cover",
                "categories": CATEGORIES,
                "actionable": True,
            },
        },
        "sensitive": {"attributes": ["group"]},
        "model": {"family": "logistic", "seed": 1, "params": {"C": 1.0}},
        "policy": {
            "approve_at": approve_at,
            "decline_below": 0.3,
            "refer_out_of_distribution": True,
            "rules": [
                {
                    "feature": "debt",
                    "above": 60,
                    "reason": "Debts above 60 are always reviewed by a person.",
                }
            ],
        },
        "reasons": {
            "codes": {
                "INC01": {
                    "features": ["income"],
                    "adverse": "Your income is low for the amount",
                    "favourable": "Your income is high for the amount",
                },
                "DBT01": {
                    "features": ["debt"],
                    "adverse": "Your existing debt is high",
                    "favourable": "Your existing debt is low",
                },
                "HIS01": {
                    "features": ["age_of_file", "cover"],
                    "adverse": "Your credit history and cover are limited",
                    "favourable": "Your credit history and cover are strong",
                },
            }
        },
    }
    return parse_spec(raw, source="small.toml")


@dataclass
class Small:
    spec: DecisionSpec
    model: DecisionModel
    X_train: np.ndarray
    X_test: np.ndarray


def small_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Encoded rows (income, debt, age_of_file, cover code) and a rare favourable outcome."""
    rng = np.random.default_rng(seed)
    income = np.clip(rng.normal(60, 20, n).round(), 0, 200)
    debt = np.clip(rng.normal(30, 12, n).round(), 0, 100)
    age = np.clip(rng.normal(10, 5, n).round(), 0, 40)
    cover = rng.integers(0, 3, n).astype(float)
    # a large negative intercept: the favourable outcome is rare
    logit = -5.0 + 0.06 * income - 0.05 * debt + 0.08 * age + 0.6 * cover
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return np.column_stack([income, debt, age, cover]), y


def small_model(seed: int = 11) -> Small:
    spec = small_spec()
    X, y = small_data(1200, seed)
    train, cal, test = slice(0, 600), slice(600, 900), slice(900, 1200)
    encoder = FeatureEncoder(spec)
    estimator = build_estimator(spec, encoder)
    estimator.fit(X[train], y[train])
    calibrator = PlattCalibrator().fit(estimator.margin(X[cal]), y[cal])
    ood = OODDetector(kinds=encoder.kinds, names=encoder.names).fit(X[train])
    model = DecisionModel(
        spec=spec, encoder=encoder, estimator=estimator, calibrator=calibrator, ood=ood
    )
    return Small(spec=spec, model=model, X_train=X[train], X_test=X[test])
