"""Out-of-distribution check, fitted on the training rows and stored with the model.

A request is unlike the training data when

- a numeric value lies outside its *band of typical training values*: the
  0.1%-99.9% quantiles of the training rows, widened on each side by 10% of
  their distance and never beyond the smallest and largest value seen in
  training (so the band is narrower than the observed range whenever the
  extremes are rare);
- a category, or a missing value, never occurred in training;
- or the numeric values together are further from the training centre
  (Mahalanobis distance on standardised values) than 99.9% of training rows.

Such a case is referred to a human: the model has little evidence about it.
The messages name which of these tests failed and, for the band, what it is;
they never call the band "the training range". :meth:`OODDetector.inside` is
the same test for many rows at once (recourse uses it to search only within
the training support) and agrees with :meth:`OODDetector.check` row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property

import numpy as np

#: distances this close to the limit (relative) are re-checked row by row: rounding
#: differs by a few ulps between a many-row and a one-row matrix product, never by this
_NEAR = 1e-9


def _percent(q: float) -> str:
    return f"{100 * q:.6g}%"


class OODDetector:
    """Per-feature bands plus a joint distance, fitted on encoded training rows."""

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

    @property
    def band_description(self) -> str:
        """What the per-feature band is, in words a person can check."""
        return (
            f"the {_percent(self.quantile)}–{_percent(1 - self.quantile)} quantiles of the"
            " training data, widened by 10% and never beyond the observed min/max"
        )

    def _distance(self, Z: np.ndarray) -> np.ndarray:
        S = (Z - self.center_) / self.scale_
        return np.sqrt(np.maximum(((S @ self.precision_) * S).sum(axis=1), 0.0))

    @cached_property
    def _seen_table(self) -> tuple[np.ndarray, np.ndarray]:
        """Categorical columns and, per column, which codes training saw (for :meth:`inside`)."""
        columns = np.asarray(sorted(self.seen_codes_), dtype=np.intp)
        width = max((max(s, default=-1) + 1 for s in self.seen_codes_.values()), default=0)
        seen = np.zeros((columns.size, width), dtype=bool)
        for k, j in enumerate(columns.tolist()):
            seen[k, sorted(self.seen_codes_[j])] = True
        return columns, seen

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
                    f"{self.names[j]}: {v:g} is outside the range of typical training values"
                    f" [{self.low_[j]:g}, {self.high_[j]:g}] ({self.band_description})"
                )
        if self.numeric_.size:
            z = row[self.numeric_]
            z = np.where(np.isnan(z), self.center_, z)
            d = float(self._distance(z[None, :])[0])
            if d > self.distance_limit_:
                why.append(
                    "combination of values unusual: further from the centre of the training"
                    f" data than {_percent(1 - self.quantile)} of training rows"
                    f" (Mahalanobis distance {d:.2f} > {self.distance_limit_:.2f})"
                )
        return why

    def check_many(self, X: np.ndarray) -> list[list[str]]:
        """:meth:`check` for each encoded row of ``X``, with one vectorised pass.

        Rows :meth:`inside` passes get no message without a per-row check, except
        those whose distance lies within a hair of the limit: a matrix product over
        many rows may round differently from the one-row product :meth:`check` uses,
        so those are checked one by one and the answer is always :meth:`check`'s.
        """
        X = np.asarray(X, dtype=float)
        ok = self.inside(X)
        if self.numeric_.size:
            Z = X[:, self.numeric_]
            Z = np.where(np.isnan(Z), self.center_, Z)
            close = np.abs(self._distance(Z) - self.distance_limit_) <= _NEAR * max(
                1.0, abs(self.distance_limit_)
            )
            ok &= ~close
        return [[] if good else self.check(X[i]) for i, good in enumerate(ok.tolist())]

    def inside(self, X: np.ndarray) -> np.ndarray:
        """For each encoded row of ``X``, whether :meth:`check` would find nothing."""
        return self._inside(X)[0]

    def inside_each(self, blocks: Sequence[np.ndarray]) -> list[np.ndarray]:
        """:meth:`inside` of each block of encoded rows, with one vectorised pass for all.

        Each block's answer is exactly ``inside(block)``: the distance of a row may round
        differently in a matrix product over other rows, so a block with a row within a
        hair of the limit is checked again alone.
        """
        if len(blocks) == 1:
            return [self.inside(blocks[0])]
        ok, d = self._inside(np.concatenate(blocks))
        near = None
        if d is not None:
            near = np.abs(d - self.distance_limit_) <= _NEAR * max(1.0, abs(self.distance_limit_))
        out: list[np.ndarray] = []
        at = 0
        for block in blocks:
            k = block.shape[0]
            if near is not None and near[at : at + k].any():
                out.append(self.inside(block))
            else:
                out.append(ok[at : at + k])
            at += k
        return out

    def _inside(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`inside` and each row's distance (None without numeric columns)."""
        X = np.asarray(X, dtype=float)
        if X.ndim != 2 or X.shape[1] != len(self.kinds):
            raise ValueError(
                f"X must be a 2-D encoded matrix with {len(self.kinds)} columns;"
                f" got shape {X.shape} instead"
            )
        missing = np.isnan(X)
        ok = ~(missing & ~self.seen_missing_).any(axis=1)
        # categorical columns have an infinite band; a missing value fails the band and
        # is judged by the line above instead (NaN comparisons are False, no warning)
        in_band = np.greater_equal(X, self.low_) & np.less_equal(X, self.high_)
        ok &= (in_band | missing).all(axis=1)
        columns, seen = self._seen_table
        if columns.size:
            C = X[:, columns]
            present = ~np.isnan(C)
            codes = np.where(present, C, -1.0).astype(np.intp)  # truncates like int()
            known = present & (codes >= 0) & (codes < seen.shape[1])
            good = seen[np.arange(columns.size), np.where(known, codes, 0)] & known
            ok &= (good | ~present).all(axis=1)
        d = None
        if self.numeric_.size:
            Z = X[:, self.numeric_]
            Z = np.where(np.isnan(Z), self.center_, Z)
            d = self._distance(Z)
            ok &= d <= self.distance_limit_
        return ok, d
