"""A trained decision model: the spec's encoder, a fitted family and its calibration.

This is the object registered in MLflow and loaded by serving. Its score is
the calibrated probability of the favourable outcome; its contributions are
exact in calibrated log-odds, the space rationales are reported in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin

from models.encoder import FeatureEncoder
from models.estimators import MonotoneGBM, MonotoneLogistic, PlattCalibrator
from models.ood import OODDetector
from models.spec import DecisionSpec

Family = MonotoneLogistic | MonotoneGBM


def build_estimator(spec: DecisionSpec, encoder: FeatureEncoder) -> Family:
    """The untrained family estimator the spec asks for."""
    monotone: list[str | None] = [spec.features[n].monotone for n in encoder.names]
    params = dict(spec.model.params)
    if spec.model.family == "logistic":
        return MonotoneLogistic(
            kinds=encoder.kinds,
            n_categories=[len(spec.features[n].categories or []) for n in encoder.names],
            monotone=monotone,
            C=float(params.get("C", 1.0)),
            max_iter=int(params.get("max_iter", 2000)),
        )
    return MonotoneGBM(
        categorical_index=encoder.categorical_index,
        monotone=monotone,
        seed=spec.model.seed,
        params=params,
    )


class DecisionModel(ClassifierMixin, BaseEstimator):
    """Encoder + family + calibration, with scikit-learn's ``predict_proba`` on raw frames."""

    def __init__(
        self,
        *,
        spec: DecisionSpec,
        encoder: FeatureEncoder,
        estimator: Family,
        calibrator: PlattCalibrator,
        ood: OODDetector | None = None,
    ) -> None:
        self.spec = spec
        self.encoder = encoder
        self.estimator = estimator
        self.calibrator = calibrator
        self.ood = ood

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    @property
    def feature_names(self) -> list[str]:
        return self.encoder.names

    # -- encoded-matrix API: what serving and audits use ------------------
    def log_odds(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator.log_odds(self.estimator.margin(X))

    def score(self, X: np.ndarray) -> np.ndarray:  # type: ignore[override]
        """Calibrated probability of the favourable outcome, for encoded rows."""
        return np.asarray(expit(self.log_odds(X)))

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact per-feature contributions and base value, in calibrated log-odds."""
        phi, base = self.estimator.contributions(X)
        a, c = self.calibrator.slope_, self.calibrator.offset_
        return phi * a, base * a + c

    # -- raw-value API -------------------------------------------------------
    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        return self.encoder.encode_frame(frame)

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        return self.encoder.encode_records(records)

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        enc = self.encode(X) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=float)
        p1 = self.score(enc)
        return np.column_stack([1 - p1, p1])

    def out_of_distribution(self, x: np.ndarray) -> list[str]:
        """Why an encoded row is unlike the training data (empty if it is not, or no check)."""
        return [] if self.ood is None else self.ood.check(x)

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
