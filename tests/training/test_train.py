"""Training end to end into a temporary MLflow registry, and the quality of the shipped models."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from models import registry
from models.settings import Settings
from models.spec import load_spec
from training.data import load_dataset
from training.train import fit_and_evaluate, train_use_case


def test_train_registers_candidate_with_lineage(
    settings: Settings, synthetic_spec_path: Path
) -> None:
    # given
    spec = load_spec(synthetic_spec_path)
    # when
    first = train_use_case(spec, settings)
    second = train_use_case(spec, settings)
    # then
    client = MlflowClient(tracking_uri=settings.tracking_uri, registry_uri=settings.tracking_uri)
    assert (first.version, second.version) == ("1", "2")
    mv = client.get_model_version_by_alias(spec.name, registry.CANDIDATE)
    assert str(mv.version) == "2"
    assert mv.tags["docket.spec_hash"] == spec.spec_hash()
    assert mv.tags["docket.data_fingerprint"] == load_dataset(spec).report.fingerprint
    run = client.get_run(second.run_id)
    assert run.data.tags["docket.git_commit"]
    assert run.data.tags["lib.scikit-learn"]
    assert run.data.metrics["test_roc_auc"] == pytest.approx(second.metrics["roc_auc"])
    assert str(settings.home) in settings.tracking_uri


def test_test_split_is_recoverable_exactly(settings: Settings, synthetic_spec_path: Path) -> None:
    spec = load_spec(synthetic_spec_path)
    result = train_use_case(spec, settings)
    client = registry.connect(settings)
    test_rows = registry.load_frame(client, result.run_id, registry.TEST_SPLIT_ARTIFACT)
    indices = registry.load_json(client, result.run_id, "split/indices.json")
    ds = load_dataset(spec)
    assert test_rows["__row_id"].tolist() == indices["test"]
    expected = ds.frame.iloc[indices["test"]].reset_index(drop=True)
    got = test_rows[expected.columns]
    assert got.equals(expected)
    assert {"group", "age"} <= set(test_rows.columns)
    assert not set(indices["test"]) & set(indices["train"]) | set(indices["calibration"]) & set(
        indices["test"]
    )


def test_registered_model_scores_like_the_trained_one(
    settings: Settings, synthetic_spec_path: Path
) -> None:
    spec = load_spec(synthetic_spec_path)
    train_use_case(spec, settings)
    registry.connect(settings)
    loaded = mlflow.sklearn.load_model(f"models:/{spec.name}@{registry.CANDIDATE}")
    ds = load_dataset(spec)
    model, _, _ = fit_and_evaluate(spec, ds, spec.model.seed)
    np.testing.assert_array_equal(loaded.predict_proba(ds.frame), model.predict_proba(ds.frame))


@pytest.mark.parametrize("family", ["logistic", "gbm"])
def test_same_spec_data_and_seed_give_same_predictions(tmp_path: Path, family: str) -> None:
    from training.synthetic import write_synthetic

    spec = load_spec(write_synthetic(tmp_path, rows=1500, seed=5, family=family))
    ds = load_dataset(spec)
    a, split_a, metrics_a = fit_and_evaluate(spec, ds, 11)
    b, split_b, metrics_b = fit_and_evaluate(spec, ds, 11)
    np.testing.assert_array_equal(split_a.test, split_b.test)
    np.testing.assert_array_equal(a.predict_proba(ds.frame), b.predict_proba(ds.frame))
    assert metrics_a == metrics_b
    _, split_c, _ = fit_and_evaluate(spec, ds, 12)
    assert not np.array_equal(split_a.test, split_c.test)


@pytest.mark.parametrize("use_case", ["credit-eligibility", "retention-propensity"])
def test_shipped_use_cases_reach_auc(shipped: dict, use_case: str) -> None:
    metrics = shipped[use_case].metrics
    assert metrics["roc_auc"] >= 0.78, metrics
    assert metrics["calibration_error"] < 0.06, metrics
