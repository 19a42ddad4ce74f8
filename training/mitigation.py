"""Fairness mitigation at training time; the result needs no sensitive attribute to decide.

- ``reweighing``: pre-processing (Kamiran & Calders): each training row is weighted
  by P(group) P(y) / P(group, y) over the intersection of the sensitive attributes,
  so that outcome and group are independent in the weighted data.
- ``grid-demographic-parity`` / ``grid-equalized-odds``: fairlearn's ``GridSearch``
  reduction on one sensitive attribute (``model.mitigation_attribute``, default the
  first one). Each grid point is one ordinary, deterministic predictor of the spec's
  family fitted on reweighted and relabelled rows; fairlearn picks the best
  trade-off, and that single predictor is kept (not a randomised mixture).

Either way the model goes through the ordinary fit (:func:`training.fit.fit_decision_model`)
and is an ordinary family estimator, so its contributions stay exact. Sensitive
attributes are used only while fitting. The method names are ``models.spec.MITIGATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, cast

import numpy as np
import pandas as pd

from models.decision_model import DecisionModel, Family
from models.spec import MITIGATIONS, DecisionSpec, Mitigation
from training.data import Dataset
from training.fit import fit_decision_model
from training.split import SplitIndices

MESSAGE_METHOD = "The 'method' parameter must be a str among {methods}."


def reweighing_weights(y: np.ndarray, groups: pd.Series) -> np.ndarray:
    """Kamiran-Calders weights: expected over observed frequency of each (group, y) cell."""
    frame = pd.DataFrame({"g": groups.to_numpy(), "y": y})
    n = len(frame)
    p_g = frame["g"].map(frame["g"].value_counts() / n)
    p_y = frame["y"].map(frame["y"].value_counts() / n)
    p_gy = frame.groupby(["g", "y"])["y"].transform("size") / n
    return (p_g * p_y / p_gy).to_numpy(dtype=float)


def _intersection(sensitive: pd.DataFrame) -> pd.Series:
    return sensitive.astype(str).agg(" & ".join, axis=1)


def _reweighed(spec: DecisionSpec, dataset: Dataset, split: SplitIndices) -> DecisionModel:
    groups = _intersection(dataset.sensitive.iloc[split.train])
    weights = reweighing_weights(dataset.y[split.train], groups)
    return fit_decision_model(spec, dataset, split, sample_weight=weights)


def _grid_search(
    estimator: Family,
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    constraint: Any,
    grid_size: int,
    sensitive: np.ndarray,
) -> Family:
    from fairlearn.reductions import GridSearch

    search = GridSearch(
        estimator, constraints=constraint, grid_size=grid_size, constraint_weight=0.5
    )
    search.fit(X_train, y_train, sensitive_features=sensitive)
    best: Family = search.predictors_[search.best_idx_]
    return best


def _reduction(constraint: str) -> Callable[[DecisionSpec, Dataset, SplitIndices], DecisionModel]:
    def fit(spec: DecisionSpec, dataset: Dataset, split: SplitIndices) -> DecisionModel:
        from fairlearn import reductions

        # one attribute keeps the grid small (fairlearn warns past 4 dimensions)
        attribute = spec.model.mitigation_attribute or spec.sensitive.attributes[0]
        sensitive = dataset.sensitive.iloc[split.train][attribute].to_numpy()
        search = partial(
            _grid_search,
            constraint=getattr(reductions, constraint)(),
            grid_size=spec.model.mitigation_grid_size,
            sensitive=sensitive,
        )
        return fit_decision_model(spec, dataset, split, fit_estimator=search)

    return fit


_METHODS: dict[Mitigation, Callable[[DecisionSpec, Dataset, SplitIndices], DecisionModel]] = {
    "reweighing": _reweighed,
    "grid-demographic-parity": _reduction("DemographicParity"),
    "grid-equalized-odds": _reduction("EqualizedOdds"),
}


def fit_mitigated(
    spec: DecisionSpec, dataset: Dataset, split: SplitIndices, method: str
) -> DecisionModel:
    """Fit the spec's model with the fairness mitigation ``method`` (one of ``MITIGATIONS``)."""
    if method not in MITIGATIONS:
        raise ValueError(
            f"{MESSAGE_METHOD.format(methods=list(MITIGATIONS))} Got {method!r} instead."
        )
    return _METHODS[cast(Mitigation, method)](spec, dataset, split)
