"""Fairness mitigation at training time; the result needs no sensitive attribute to decide.

- ``reweighing``: pre-processing (Kamiran & Calders): each training row is weighted
  by P(group) P(y) / P(group, y) over the intersection of the sensitive attributes,
  so that outcome and group are independent in the weighted data.
- ``grid-demographic-parity`` / ``grid-equalized-odds``: fairlearn's ``GridSearch``
  reduction on one sensitive attribute (``model.mitigation_attribute``, default the
  first one). Each grid point is one ordinary, deterministic predictor of the spec's
  family fitted on reweighted and relabelled rows; fairlearn picks the best
  trade-off, and that single predictor is kept (not a randomised mixture).

Either way the model is an ordinary family estimator, so its contributions stay exact.
Sensitive attributes are used only while fitting.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.decision_model import DecisionModel, build_estimator
from models.encoder import FeatureEncoder
from models.estimators import PlattCalibrator
from models.ood import OODDetector
from models.spec import DecisionSpec
from training.data import Dataset
from training.split import SplitIndices


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


def fit_mitigated(
    spec: DecisionSpec, dataset: Dataset, split: SplitIndices, method: str
) -> DecisionModel:
    encoder = FeatureEncoder(spec)
    X = encoder.encode_frame(dataset.frame)
    X_train, y_train = X[split.train], dataset.y[split.train]
    sensitive = dataset.sensitive.iloc[split.train]
    estimator = build_estimator(spec, encoder)
    if method == "reweighing":
        groups = _intersection(sensitive)
        estimator.fit(X_train, y_train, sample_weight=reweighing_weights(y_train, groups))
    elif method in ("grid-demographic-parity", "grid-equalized-odds"):
        from fairlearn.reductions import DemographicParity, EqualizedOdds, GridSearch

        constraint = DemographicParity() if method == "grid-demographic-parity" else EqualizedOdds()
        search = GridSearch(
            estimator,
            constraints=constraint,
            grid_size=spec.model.mitigation_grid_size,
            constraint_weight=0.5,
        )
        # one attribute keeps the grid small (fairlearn warns past 4 dimensions)
        attribute = spec.model.mitigation_attribute or spec.sensitive.attributes[0]
        search.fit(X_train, y_train, sensitive_features=sensitive[attribute].to_numpy())
        estimator = search.predictors_[search.best_idx_]
    else:
        raise ValueError(
            f"mitigation must be one of ['reweighing', 'grid-demographic-parity',"
            f" 'grid-equalized-odds']; got {method!r}"
        )
    calibrator = PlattCalibrator().fit(
        estimator.margin(X[split.calibration]), dataset.y[split.calibration]
    )
    ood = OODDetector(kinds=encoder.kinds, names=encoder.names).fit(X[split.train])
    return DecisionModel(
        spec=spec, encoder=encoder, estimator=estimator, calibrator=calibrator, ood=ood
    )
