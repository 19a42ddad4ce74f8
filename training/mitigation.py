"""Fairness mitigation at training time; the result needs no sensitive attribute to decide.

- ``reweighing``: pre-processing (Kamiran & Calders): each training row is weighted
  by P(group) P(y) / P(group, y) over the intersection of the sensitive attributes,
  so that outcome and group are independent in the weighted data.
- ``grid-demographic-parity`` / ``grid-equalized-odds``: fairlearn's ``GridSearch``
  reduction on one sensitive attribute (``model.mitigation_attribute``, default the
  first one). Each grid point is one ordinary, deterministic predictor of the spec's
  family fitted on reweighted and relabelled rows; fairlearn picks the best
  trade-off, and that single predictor is kept (not a randomised mixture).
  ``training.variants.TrainingSettings`` may name another attribute and grid size.

:func:`mitigate` also says what was done, for the version's tags: the attribute(s)
targeted and the setting chosen (the weight range; the grid point and its lambdas).

Either way the model goes through the ordinary fit (:func:`training.fit.fit_decision_model`)
and is an ordinary family estimator, so its contributions stay exact. Sensitive
attributes are used only while fitting. The method names are ``models.spec.MITIGATIONS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

import numpy as np
import pandas as pd

from models.decision_model import DecisionModel, Family
from models.spec import MITIGATIONS, DecisionSpec, Mitigation
from training.data import Dataset
from training.fit import fit_decision_model
from training.split import SplitIndices
from training.variants import TrainingSettings

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


@dataclass(frozen=True)
class Mitigated:
    """A mitigated model, with the attribute(s) it targeted and the setting it chose (text)."""

    model: DecisionModel
    method: Mitigation
    attribute: str
    setting: str


def _reweighed(
    spec: DecisionSpec, dataset: Dataset, split: SplitIndices, training: TrainingSettings
) -> Mitigated:
    sensitive = dataset.sensitive.iloc[split.train]
    groups = _intersection(sensitive)
    weights = reweighing_weights(dataset.y[split.train], groups)
    model = fit_decision_model(spec, dataset, split, sample_weight=weights, training=training)
    setting = (
        f"weights {weights.min():.3g} to {weights.max():.3g} over"
        f" {groups.nunique()} groups x 2 outcomes"
    )
    return Mitigated(model, "reweighing", " & ".join(sensitive.columns), setting)


def _lambda_text(lambdas: pd.Series) -> str:
    nonzero = lambdas[lambdas.abs() > 1e-12]
    if nonzero.empty:
        return "all lambda 0 (the unconstrained fit)"
    parts = [
        f"{'/'.join(str(k) for k in (key if isinstance(key, tuple) else (key,)))}={value:.3g}"
        for key, value in nonzero.items()
    ]
    return "lambda " + ", ".join(parts)


def _grid_search(
    estimator: Family,
    X_train: np.ndarray,
    y_train: np.ndarray,
    *,
    constraint: Any,
    grid_size: int,
    sensitive: np.ndarray,
    chosen: list[str],
) -> Family:
    from fairlearn.reductions import GridSearch

    search = GridSearch(
        estimator, constraints=constraint, grid_size=grid_size, constraint_weight=0.5
    )
    search.fit(X_train, y_train, sensitive_features=sensitive)
    best_idx = int(search.best_idx_)
    n_points = len(search.predictors_)
    chosen.append(
        f"grid point {best_idx + 1} of {n_points}: {_lambda_text(search.lambda_vecs_[best_idx])}"
    )
    best: Family = search.predictors_[best_idx]
    return best


def _reduction(
    method: Mitigation, constraint: str
) -> Callable[[DecisionSpec, Dataset, SplitIndices, TrainingSettings], Mitigated]:
    def fit(
        spec: DecisionSpec, dataset: Dataset, split: SplitIndices, training: TrainingSettings
    ) -> Mitigated:
        from fairlearn import reductions

        # one attribute keeps the grid small (fairlearn warns past 4 dimensions)
        attribute = (
            training.mitigation_attribute
            or spec.model.mitigation_attribute
            or spec.sensitive.attributes[0]
        )
        grid_size = training.mitigation_grid_size or spec.model.mitigation_grid_size
        sensitive = dataset.sensitive.iloc[split.train][attribute].to_numpy()
        chosen: list[str] = []
        search = partial(
            _grid_search,
            constraint=getattr(reductions, constraint)(),
            grid_size=grid_size,
            sensitive=sensitive,
            chosen=chosen,
        )
        model = fit_decision_model(spec, dataset, split, fit_estimator=search, training=training)
        setting = f"{constraint}, grid size {grid_size}, {chosen[0]}"
        return Mitigated(model, method, attribute, setting)

    return fit


_METHODS: dict[
    Mitigation, Callable[[DecisionSpec, Dataset, SplitIndices, TrainingSettings], Mitigated]
] = {
    "reweighing": _reweighed,
    "grid-demographic-parity": _reduction("grid-demographic-parity", "DemographicParity"),
    "grid-equalized-odds": _reduction("grid-equalized-odds", "EqualizedOdds"),
}


def mitigate(
    spec: DecisionSpec,
    dataset: Dataset,
    split: SplitIndices,
    method: str,
    training: TrainingSettings | None = None,
) -> Mitigated:
    """Fit the spec's model (or the variant ``training``) with the mitigation ``method``."""
    if method not in MITIGATIONS:
        raise ValueError(
            f"{MESSAGE_METHOD.format(methods=list(MITIGATIONS))} Got {method!r} instead."
        )
    return _METHODS[cast(Mitigation, method)](spec, dataset, split, training or TrainingSettings())


def fit_mitigated(
    spec: DecisionSpec,
    dataset: Dataset,
    split: SplitIndices,
    method: str,
    training: TrainingSettings | None = None,
) -> DecisionModel:
    """Fit the spec's model with the fairness mitigation ``method`` (one of ``MITIGATIONS``)."""
    return mitigate(spec, dataset, split, method, training).model
