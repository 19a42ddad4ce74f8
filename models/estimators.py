"""Model families on the encoded matrix, each with exact per-feature contributions.

Both families work in log-odds (the margin) and expose
``contributions(X) -> (phi, base)`` with ``base + phi.sum(axis=1) == margin(X)``
exactly (up to floating point):

- ``MonotoneLogistic``: L2-regularised logistic regression whose coefficients
  obey the spec's monotone directions (bounded L-BFGS-B). Contributions are the
  exact interventional SHAP values of a linear model against the training mean.
- ``MonotoneGBM``: LightGBM gradient-boosted trees with monotone constraints and
  native categorical splits. Contributions are exact TreeSHAP (``pred_contrib``).

Both follow scikit-learn's manners: ``__init__`` stores arguments, ``fit`` checks
and learns, fitted attributes end in ``_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted


def _monotone_signs(directions: list[str | None]) -> list[int]:
    return [1 if d == "increasing" else -1 if d == "decreasing" else 0 for d in directions]


class MonotoneLogistic(ClassifierMixin, BaseEstimator):
    """Logistic regression with one-hot categoricals, median imputation and sign constraints."""

    def __init__(
        self,
        *,
        kinds: list[str] | None = None,
        n_categories: list[int] | None = None,
        monotone: list[str | None] | None = None,
        C: float = 1.0,
        max_iter: int = 2000,
    ) -> None:
        self.kinds = kinds
        self.n_categories = n_categories
        self.monotone = monotone
        self.C = C
        self.max_iter = max_iter

    # -- design matrix ------------------------------------------------------
    def _design(self, X: np.ndarray) -> np.ndarray:
        blocks: list[np.ndarray] = []
        for j, kind in enumerate(self.kinds_):
            col = X[:, j]
            if kind == "categorical":
                onehot = np.zeros((X.shape[0], self.n_categories_[j]))
                ok = ~np.isnan(col)
                onehot[np.flatnonzero(ok), col[ok].astype(int)] = 1.0
                blocks.append(onehot)
            else:
                nan = np.isnan(col)
                filled = np.where(nan, self.medians_[j], col)
                blocks.append(((filled - self.centers_[j]) / self.scales_[j])[:, None])
                if self.has_missing_[j]:
                    blocks.append(nan.astype(float)[:, None])
        return np.hstack(blocks)

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> MonotoneLogistic:
        X = np.asarray(X, dtype=float)
        y = np.asarray(y, dtype=float)
        p = X.shape[1]
        self.kinds_ = list(self.kinds or ["numeric"] * p)
        self.n_categories_ = list(self.n_categories or [0] * p)
        signs = _monotone_signs(list(self.monotone or [None] * p))
        self.medians_ = np.zeros(p)
        self.centers_ = np.zeros(p)
        self.scales_ = np.ones(p)
        self.has_missing_ = np.zeros(p, dtype=bool)
        owner: list[int] = []
        bounds: list[tuple[float | None, float | None]] = []
        for j, kind in enumerate(self.kinds_):
            col = X[:, j]
            if kind == "categorical":
                owner += [j] * self.n_categories_[j]
                bounds += [(None, None)] * self.n_categories_[j]
                continue
            nan = np.isnan(col)
            med = float(np.nanmedian(col)) if (~nan).any() else 0.0
            filled = np.where(nan, med, col)
            self.medians_[j] = med
            self.centers_[j] = float(filled.mean())
            sd = float(filled.std())
            self.scales_[j] = sd if sd > 0 else 1.0
            self.has_missing_[j] = bool(nan.any())
            owner.append(j)
            bounds.append(
                (0.0, None) if signs[j] > 0 else (None, 0.0) if signs[j] < 0 else (None, None)
            )
            if self.has_missing_[j]:
                owner.append(j)
                bounds.append((None, None))
        Z = self._design(X)
        w = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        sign = 2.0 * y - 1.0

        def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
            coef, b = theta[:-1], theta[-1]
            m = Z @ coef + b
            nll = -np.sum(w * log_expit(sign * m))
            g = -w * sign * expit(-sign * m)
            grad = np.concatenate([self.C * (Z.T @ g) + coef, [self.C * g.sum()]])
            return float(self.C * nll + 0.5 * coef @ coef), grad

        theta0 = np.zeros(Z.shape[1] + 1)
        res = minimize(
            loss,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=[*bounds, (None, None)],
            options={"maxiter": self.max_iter},
        )
        self.coef_ = res.x[:-1]
        self.intercept_ = float(res.x[-1])
        self.owner_ = np.asarray(owner, dtype=int)
        self.design_mean_ = Z.mean(axis=0)
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = p
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "coef_")
        return self._design(np.asarray(X, dtype=float)) @ self.coef_ + self.intercept_

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "coef_")
        Z = self._design(np.asarray(X, dtype=float))
        per_column = (Z - self.design_mean_) * self.coef_
        phi = np.zeros((Z.shape[0], self.n_features_in_))
        np.add.at(phi.T, self.owner_, per_column.T)
        base = np.full(Z.shape[0], self.intercept_ + float(self.design_mean_ @ self.coef_))
        return phi, base

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = expit(self.margin(X))
        return np.column_stack([1 - p1, p1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.margin(X) >= 0).astype(int)


class MonotoneGBM(ClassifierMixin, BaseEstimator):
    """LightGBM trees with the spec's monotone constraints and categorical features."""

    def __init__(
        self,
        *,
        categorical_index: list[int] | None = None,
        monotone: list[str | None] | None = None,
        seed: int = 0,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.categorical_index = categorical_index
        self.monotone = monotone
        self.seed = seed
        self.params = params

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> MonotoneGBM:
        import lightgbm as lgb

        X = np.asarray(X, dtype=float)
        p = X.shape[1]
        params = dict(self.params or {})
        if "subsample" in params:
            params.setdefault("subsample_freq", 1)
        model = lgb.LGBMClassifier(
            objective="binary",
            random_state=self.seed,
            deterministic=True,
            force_row_wise=True,
            n_jobs=1,
            verbose=-1,
            monotone_constraints=_monotone_signs(list(self.monotone or [None] * p)),
            monotone_constraints_method="basic",
            **params,
        )
        model.fit(
            X,
            np.asarray(y, dtype=int),
            sample_weight=sample_weight,
            categorical_feature=list(self.categorical_index or []) or "auto",
        )
        self.booster_ = model.booster_
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = p
        return self

    def margin(self, X: np.ndarray) -> np.ndarray:
        check_is_fitted(self, "booster_")
        # one thread: waking LightGBM's OpenMP pool costs more than a few rows take
        return np.asarray(
            self.booster_.predict(np.asarray(X, dtype=float), raw_score=True, num_threads=1)
        )

    def contributions(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        check_is_fitted(self, "booster_")
        out = np.asarray(
            self.booster_.predict(np.asarray(X, dtype=float), pred_contrib=True, num_threads=1)
        )
        return out[:, :-1], out[:, -1]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p1 = expit(self.margin(X))
        return np.column_stack([1 - p1, p1])

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.margin(X) >= 0).astype(int)


class PlattCalibrator:
    """Sigmoid calibration of a margin: calibrated log-odds = slope * margin + offset.

    Chosen over isotonic regression because it is affine in log-odds, so exact
    contributions stay exact after calibration (scaled by the slope), and a
    positive slope keeps every monotone constraint.
    """

    def __init__(self) -> None:
        self.slope_ = 1.0
        self.offset_ = 0.0

    def fit(self, margin: np.ndarray, y: np.ndarray) -> PlattCalibrator:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e6, max_iter=1000)
        lr.fit(np.asarray(margin, dtype=float)[:, None], np.asarray(y, dtype=int))
        slope = float(lr.coef_[0, 0])
        if slope <= 0:
            raise ValueError(
                "calibration failed: the model's scores do not rank the calibration split"
                f" (fitted slope {slope:.4f} must be > 0)"
            )
        self.slope_ = slope
        self.offset_ = float(lr.intercept_[0])
        return self

    def log_odds(self, margin: np.ndarray) -> np.ndarray:
        return self.slope_ * np.asarray(margin) + self.offset_
