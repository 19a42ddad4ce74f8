"""Fit a decision model: the family on the train split, calibration on its own split."""

from __future__ import annotations

import numpy as np

from models.decision_model import DecisionModel, build_estimator
from models.encoder import FeatureEncoder
from models.estimators import PlattCalibrator
from models.ood import OODDetector
from models.spec import DecisionSpec
from training.data import Dataset
from training.split import SplitIndices


def fit_decision_model(
    spec: DecisionSpec,
    dataset: Dataset,
    split: SplitIndices,
    sample_weight: np.ndarray | None = None,
) -> DecisionModel:
    """Train on ``split.train`` and calibrate on ``split.calibration``; test rows are untouched."""
    encoder = FeatureEncoder(spec)
    X = encoder.encode_frame(dataset.frame)
    estimator = build_estimator(spec, encoder)
    estimator.fit(X[split.train], dataset.y[split.train], sample_weight=sample_weight)
    calibrator = PlattCalibrator().fit(
        estimator.margin(X[split.calibration]), dataset.y[split.calibration]
    )
    ood = OODDetector(kinds=encoder.kinds, names=encoder.names).fit(X[split.train])
    return DecisionModel(
        spec=spec, encoder=encoder, estimator=estimator, calibrator=calibrator, ood=ood
    )
