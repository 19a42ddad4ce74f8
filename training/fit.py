"""Fit a decision model: the family on the train split, calibration on its own split.

This is the one fitting path: a plain model, a reweighed one and a fairlearn reduction
(:mod:`training.mitigation`) differ only in how the family estimator is fitted on the
training rows. Encoding, calibration and the out-of-distribution check are the same, and
the test rows are never touched.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from models.decision_model import DecisionModel, Family, build_estimator
from models.encoder import FeatureEncoder
from models.estimators import PlattCalibrator
from models.ood import OODDetector
from models.spec import DecisionSpec
from training.data import Dataset
from training.split import SplitIndices
from training.variants import TrainingSettings

# (untrained estimator, encoded training rows, their targets) -> the fitted estimator
EstimatorFit = Callable[[Family, np.ndarray, np.ndarray], Family]


def fit_decision_model(
    spec: DecisionSpec,
    dataset: Dataset,
    split: SplitIndices,
    sample_weight: np.ndarray | None = None,
    *,
    fit_estimator: EstimatorFit | None = None,
    training: TrainingSettings | None = None,
) -> DecisionModel:
    """Train on ``split.train`` and calibrate on ``split.calibration``; test rows are untouched.

    Parameters
    ----------
    spec : DecisionSpec
    dataset : Dataset
    split : SplitIndices
    sample_weight : ndarray, optional
        One weight per training row (``split.train`` order) for the ordinary fit.
    fit_estimator : callable, optional
        Fits the family estimator instead of the ordinary (weighted) fit and returns
        the fitted estimator, which may be another instance of the family.
    training : TrainingSettings, optional
        A variant of the spec's model (:mod:`training.variants`): excluded features,
        parameter overrides, extra monotone directions. The model keeps ``spec``.

    Returns
    -------
    DecisionModel
    """
    encoder = FeatureEncoder(spec)
    X = encoder.encode_frame(dataset.frame)
    X_train, y_train = X[split.train], dataset.y[split.train]
    training = TrainingSettings() if training is None else training.check(spec)
    estimator = build_estimator(training.estimator_spec(spec), encoder)
    X_fit = _without(X_train, encoder, training.exclude_features)
    if fit_estimator is None:
        estimator.fit(X_fit, y_train, sample_weight=sample_weight)
    else:
        estimator = fit_estimator(estimator, X_fit, y_train)
    calibrator = PlattCalibrator().fit(
        estimator.margin(X[split.calibration]), dataset.y[split.calibration]
    )
    # the out-of-distribution check validates the real inputs, excluded or not
    ood = OODDetector(kinds=encoder.kinds, names=encoder.names).fit(X_train)
    return DecisionModel(
        spec=spec, encoder=encoder, estimator=estimator, calibrator=calibrator, ood=ood
    )


def _without(X: np.ndarray, encoder: FeatureEncoder, exclude: list[str]) -> np.ndarray:
    """The training matrix with the excluded columns constant, so no estimator can use them.

    Numeric columns become 0.0 (a logistic coefficient on a constant column has gradient 0
    and stays at its start, 0; LightGBM cannot split a constant), categorical columns
    become missing (no one-hot column is ever set; no category to split on).
    """
    if not exclude:
        return X
    out = X.copy()
    for name in exclude:
        j = encoder.names.index(name)
        out[:, j] = np.nan if encoder.kinds[j] == "categorical" else 0.0
    return out
