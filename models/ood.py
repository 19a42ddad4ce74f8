"""Out-of-distribution check, fitted on the training rows and stored with the model.

A request is unlike the training data when a numeric value lies outside the
training range (0.1%-99.9% quantiles, widened by 10%), a category or a missing
value never occurred in training, or the numeric values together are further
from the training centre (Mahalanobis distance) than 99.9% of training rows.
Such a case is referred to a human: the model has little evidence about it.
"""

from __future__ import annotations

import numpy as np


class OODDetector:
    """Per-feature ranges plus a joint distance, fitted on encoded training rows."""

    def __init__(self, *, kinds: list[str], names: list[str], quantile: float = 0.001) -> None:
        self.kinds = kinds
        self.names = names
        self.quantile = quantile

    def fit(self, X: np.ndarray) -> OODDetector:
        X = np.asarray(X, dtype=float)
        p = X.shape[1]
        self.low_ = np.full(p, -np.inf)
        self.high_ = np.full(p, np.inf)
        self.seen_missing_ = np.isnan(X).any(axis=0)
        self.seen_codes_: dict[int, set[int]] = {}
        numeric = [j for j in range(p) if self.kinds[j] == "numeric"]
        for j in range(p):
            col = X[:, j][~np.isnan(X[:, j])]
            if self.kinds[j] == "categorical":
                self.seen_codes_[j] = {int(v) for v in np.unique(col)}
            elif col.size:
                lo, hi = np.quantile(col, [self.quantile, 1 - self.quantile])
                pad = 0.1 * (hi - lo)
                # never wider than what training actually saw
                self.low_[j] = max(lo - pad, float(col.min()))
                self.high_[j] = min(hi + pad, float(col.max()))
        self.numeric_ = np.asarray(numeric, dtype=int)
        Z = X[:, self.numeric_]
        Z = np.where(np.isnan(Z), np.nanmedian(Z, axis=0), Z)
        self.center_ = Z.mean(axis=0)
        self.scale_ = np.where(Z.std(axis=0) > 0, Z.std(axis=0), 1.0)
        S = (Z - self.center_) / self.scale_
        self.precision_ = np.linalg.pinv(np.atleast_2d(np.cov(S, rowvar=False)))
        d = self._distance(Z)
        self.distance_limit_ = float(np.quantile(d, 1 - self.quantile))
        return self

    def _distance(self, Z: np.ndarray) -> np.ndarray:
        S = (Z - self.center_) / self.scale_
        return np.sqrt(np.einsum("ij,jk,ik->i", S, self.precision_, S))

    def check(self, x: np.ndarray) -> list[str]:
        """Why one encoded row is out of distribution (empty when it is not)."""
        row = np.asarray(x, dtype=float).reshape(-1)
        why: list[str] = []
        for j, v in enumerate(row):
            if np.isnan(v):
                if not self.seen_missing_[j]:
                    why.append(f"{self.names[j]}: missing, never missing in training")
            elif self.kinds[j] == "categorical":
                if int(v) not in self.seen_codes_[j]:
                    why.append(f"{self.names[j]}: category never seen in training")
            elif not self.low_[j] <= v <= self.high_[j]:
                why.append(
                    f"{self.names[j]}: {v:g} outside the training range"
                    f" [{self.low_[j]:g}, {self.high_[j]:g}]"
                )
        if self.numeric_.size:
            z = row[self.numeric_]
            z = np.where(np.isnan(z), self.center_, z)
            d = float(self._distance(z[None, :])[0])
            if d > self.distance_limit_:
                why.append(
                    f"combination of values unusual (distance {d:.2f} > {self.distance_limit_:.2f})"
                )
        return why
