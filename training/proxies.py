"""How well each feature alone predicts each sensitive attribute (proxy strength).

For one feature and one attribute: the feature is cut into bins (numeric: quantile bins
of the training rows; categorical: its categories; missing: a bin of its own), the share
of each group in each bin is estimated on the training rows with add-one smoothing, and
those shares score the calibration rows. The strength is the macro one-vs-rest ROC AUC
of those scores against the calibration rows' groups: 0.5 means the feature says nothing
about the attribute, 1.0 that it gives it away. The test rows are never used.

What it cannot see: proxies that only appear in combination (two features that together
reveal the attribute), and a group too rare in the calibration rows to score (it is left
out of the macro average).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from audits.search import ProxyScore
from models.spec import DecisionSpec
from training.data import Dataset
from training.split import SplitIndices

__all__ = ["MEASURE", "proxy_scores", "ranked_features"]

N_BINS = 10
MEASURE = (
    "macro one-vs-rest ROC AUC on the calibration rows of P(group | feature bin) estimated on"
    f" the training rows ({N_BINS} quantile bins for numeric features, missing values as"
    " their own bin, add-one smoothing); 0.5 = no information"
)
_MISSING = "(missing)"


def _bins(spec: DecisionSpec, name: str, frame: pd.DataFrame, train: np.ndarray) -> np.ndarray:
    """A bin label per row; numeric edges come from the training rows only."""
    col = frame[name]
    if spec.features[name].type == "categorical":
        return col.map(lambda v: _MISSING if pd.isna(v) else str(v)).to_numpy(dtype=object)
    values = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    seen = values[train][~np.isnan(values[train])]
    if seen.size == 0:
        return np.where(np.isnan(values), _MISSING, "all").astype(object)
    edges = np.unique(np.quantile(seen, np.linspace(0, 1, N_BINS + 1)[1:-1]))
    codes = np.searchsorted(edges, values, side="right").astype(str).astype(object)
    return np.where(np.isnan(values), _MISSING, codes)


def strength(
    bins_train: np.ndarray, groups_train: np.ndarray, bins_eval: np.ndarray, groups_eval: np.ndarray
) -> float:
    """Macro one-vs-rest ROC AUC of smoothed P(group | bin) on the evaluation rows.

    Examples
    --------
    >>> b = np.array(["x", "x", "y", "y"])
    >>> g = np.array(["a", "a", "b", "b"])
    >>> strength(b, g, b, g)
    1.0
    """
    labels = np.unique(groups_train)
    if labels.size < 2:
        return 0.5
    table = pd.crosstab(pd.Series(bins_train, name="bin"), pd.Series(groups_train, name="g"))
    table = table.reindex(columns=labels, fill_value=0)
    smoothed = (table + 1).div(table.sum(axis=1) + labels.size, axis=0)
    prior = pd.Series(1.0 / labels.size, index=labels)
    probs = smoothed.reindex(pd.Index(bins_eval, name="bin"))
    probs = probs.fillna(prior)  # a bin never seen in training: no information
    aucs = []
    for label in labels:
        truth = groups_eval == label
        if truth.all() or not truth.any():
            continue
        aucs.append(roc_auc_score(truth, probs[label].to_numpy()))
    return float(np.mean(aucs)) if aucs else 0.5


def proxy_scores(spec: DecisionSpec, dataset: Dataset, split: SplitIndices) -> list[ProxyScore]:
    """Every (feature, sensitive attribute) pair's strength, strongest first."""
    out: list[ProxyScore] = []
    for name in spec.feature_names:
        bins = _bins(spec, name, dataset.frame, split.train)
        for attribute in spec.sensitive.attributes:
            groups = dataset.sensitive[attribute].to_numpy(dtype=object)
            value = strength(
                bins[split.train],
                groups[split.train],
                bins[split.calibration],
                groups[split.calibration],
            )
            out.append(
                ProxyScore(feature=name, attribute=attribute, strength=value, measure=MEASURE)
            )
    return sorted(out, key=lambda p: (-p.strength, p.feature, p.attribute))


def ranked_features(scores: list[ProxyScore]) -> list[ProxyScore]:
    """One entry per feature, its strongest attribute, strongest feature first."""
    best: dict[str, ProxyScore] = {}
    for score in scores:
        if score.feature not in best or score.strength > best[score.feature].strength:
            best[score.feature] = score
    return sorted(best.values(), key=lambda p: (-p.strength, p.feature))
