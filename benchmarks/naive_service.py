"""The naive baseline for ``benchmarks/decide_latency.py``: a plain BentoML endpoint.

This is how a decision endpoint is often first written, and what Docket's hot
path is measured against. Per request it

- builds a one-row pandas DataFrame from the request's features,
- calls the registered model's ``predict_proba`` on that frame (the model
  encodes it through pandas),
- builds a new SHAP explainer and explains the encoded row (for the LightGBM
  family ``shap.TreeExplainer(model.estimator.booster_)``, which re-parses
  every tree of the booster on each request),
- and writes no log at all: nothing is recorded, no policy, no reasons.

It loads the same registered model (alias ``champion``) from the same MLflow
store as Docket, with ``mlflow.sklearn.load_model``. Configuration comes from
the environment (the benchmark sets it):

- ``MLFLOW_TRACKING_URI``: the MLflow store (required),
- ``NAIVE_USE_CASE``: the registered model to serve (default ``credit-eligibility``).

Started by the benchmark as
``bentoml serve naive_service:NaiveDecide --working-dir benchmarks --host 127.0.0.1 --port N``.
It is not part of Docket and must never be deployed.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from typing import Any

import bentoml
import numpy as np

USE_CASE_ENV = "NAIVE_USE_CASE"
DEFAULT_USE_CASE = "credit-eligibility"
BACKGROUND_ROWS = 50
TEST_SPLIT_ARTIFACT = "split/test.parquet"


def _linear_background(model: Any, tracking_uri: str, use_case: str) -> np.ndarray:
    """Encoded rows of the registered test split: the masker data for a non-tree model."""
    import pandas as pd
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    mv = client.get_model_version_by_alias(use_case, "champion")
    run_id = mv.run_id or (mv.tags or {}).get("docket.run_id")
    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(str(run_id), TEST_SPLIT_ARTIFACT, tmp)
        rows = pd.read_parquet(local)
    return np.asarray(model.encode(rows.head(BACKGROUND_ROWS)))


@bentoml.service(name="NaiveDecide", metrics={"enabled": False}, traffic={"timeout": 30})
class NaiveDecide:
    """Score and explain one applicant the naive way: pandas and a new explainer per request."""

    def __init__(self) -> None:
        import mlflow

        tracking_uri = os.environ["MLFLOW_TRACKING_URI"]
        self.use_case = os.environ.get(USE_CASE_ENV, DEFAULT_USE_CASE)
        mlflow.set_tracking_uri(tracking_uri)
        mlflow.set_registry_uri(tracking_uri)
        self.model = mlflow.sklearn.load_model(f"models:/{self.use_case}@champion")
        self.names: list[str] = list(self.model.feature_names)
        self.booster = getattr(self.model.estimator, "booster_", None)
        self.background = (
            None
            if self.booster is not None
            else _linear_background(self.model, tracking_uri, self.use_case)
        )

    @bentoml.api(route="/decide")
    def decide(self, use_case: str, features: dict[str, Any]) -> dict[str, Any]:
        """Score and explain one applicant; nothing is validated beyond the model's encoder."""
        import pandas as pd
        import shap

        frame = pd.DataFrame([{name: features.get(name) for name in self.names}])
        score = float(self.model.predict_proba(frame)[0, 1])
        x = self.model.encode(frame)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if self.booster is not None:
                explainer = shap.TreeExplainer(self.booster)
                values = np.asarray(explainer.shap_values(x))
            else:
                masker = shap.maskers.Independent(self.background, max_samples=BACKGROUND_ROWS)
                explainer = shap.Explainer(self.model.log_odds, masker)
                values = np.asarray(explainer(x).values)
        phi = values.reshape(-1)[: len(self.names)]
        return {
            "use_case": use_case,
            "score": score,
            "contributions": dict(zip(self.names, (float(v) for v in phi), strict=True)),
        }
