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

# (untrained estimator, encoded training rows, their targets) -> the fitted estimator
EstimatorFit = Callable[[Family, np.ndarray, np.ndarray], Family]


def fit_decision_model(
    spec: DecisionSpec,
    dataset: Dataset,
    split: SplitIndices,
    sample_weight: np.ndarray | None = None,
    *,
    fit_estimator: EstimatorFit | None = None,
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

    Returns
    -------
    DecisionModel
    """
    encoder = FeatureEncoder(spec)
    X = encoder.encode_frame(dataset.frame)
    X_train, y_train = X[split.train], dataset.y[split.train]
    estimator = build_estimator(spec, encoder)
    if fit_estimator is None:
        estimator.fit(X_train, y_train, sample_weight=sample_weight)
    else:
        estimator = fit_estimator(estimator, X_train, y_train)
    calibrator = PlattCalibrator().fit(
        estimator.margin(X[split.calibration]), dataset.y[split.calibration]
    )
    ood = OODDetector(kinds=encoder.kinds, names=encoder.names).fit(X_train)
    return DecisionModel(
        spec=spec, encoder=encoder, estimator=estimator, calibrator=calibrator, ood=ood
    )
