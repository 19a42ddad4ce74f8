"""Train one use case end to end: data, split, fit, evaluate, track, register."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mlflow

from models import registry, tags
from models.decision_model import DecisionModel
from models.metrics import performance
from models.settings import Settings
from models.spec import DecisionSpec
from training import tracking
from training.data import Dataset, load_dataset
from training.fit import fit_decision_model
from training.mitigation import fit_mitigated
from training.split import SplitIndices, split_rows

Progress = Callable[[str], None]


@dataclass
class TrainResult:
    use_case: str
    version: str
    run_id: str
    metrics: dict[str, float]
    data_report: dict[str, object]
    spec_hash: str
    seed: int
    mitigation: str | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "use_case": self.use_case,
            "version": self.version,
            "alias": registry.CANDIDATE,
            "run_id": self.run_id,
            "metrics": self.metrics,
            "data": self.data_report,
            "spec_hash": self.spec_hash,
            "seed": self.seed,
            "mitigation": self.mitigation,
            "timings_s": self.timings,
        }


def _quiet(_: str) -> None:
    return None


def fit_and_evaluate(
    spec: DecisionSpec, dataset: Dataset, seed: int, mitigation: str | None = None
) -> tuple[DecisionModel, SplitIndices, dict[str, float]]:
    """The deterministic core: same spec, data and seed give the same model and metrics."""
    split = split_rows(dataset.y, spec.model.split, seed)
    if mitigation is None:
        model = fit_decision_model(spec, dataset, split)
    else:
        model = fit_mitigated(spec, dataset, split, mitigation)
    X_test = model.encode(dataset.frame.iloc[split.test])
    metrics = performance(dataset.y[split.test], model.score(X_test))
    return model, split, metrics


def train_use_case(
    spec: DecisionSpec,
    settings: Settings,
    seed: int | None = None,
    progress: Progress = _quiet,
    mitigation: str | None = None,
) -> TrainResult:
    seed = spec.model.seed if seed is None else seed
    mitigation = mitigation or spec.model.mitigation
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress(f"[{spec.name}] loading data from {spec.data.source}")
    dataset = load_dataset(spec)
    for line in dataset.report.summary_lines():
        progress(f"[{spec.name}]   {line}")
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    how = f", mitigation {mitigation}" if mitigation else ""
    progress(f"[{spec.name}] fitting {spec.model.family} model (seed {seed}{how})")
    model, split, metrics = fit_and_evaluate(spec, dataset, seed, mitigation)
    timings["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    progress(f"[{spec.name}] logging run and registering model")
    client = registry.connect(settings)
    exp_id = tracking.experiment_id(client, settings, spec.name)
    spec_hash = spec.spec_hash()
    run_tags = {
        tags.USE_CASE: spec.name,
        tags.SPEC_HASH: spec_hash,
        tags.SPEC_VERSION: spec.version,
        tags.DATA_FINGERPRINT: dataset.report.fingerprint,
        tags.GIT_COMMIT: tracking.git_commit(),
        tags.SEED: str(seed),
        tags.FAMILY: spec.model.family,
        tags.MITIGATION: mitigation or "none",
    }
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train-{spec.name}") as run:
        mlflow.set_tags(run_tags)
        mlflow.set_tags({f"lib.{k}": v for k, v in tracking.library_versions().items()})
        mlflow.log_params({"family": spec.model.family, "seed": seed, **spec.model.params})
        mlflow.log_params({f"split.{k}": v for k, v in spec.model.split.model_dump().items()})
        mlflow.log_metrics({f"test_{k}": v for k, v in metrics.items()})
        mlflow.log_metrics(
            {
                "rows_train": len(split.train),
                "rows_calibration": len(split.calibration),
                "rows_test": len(split.test),
            }
        )
        if spec.source_text:
            mlflow.log_text(spec.source_text, "spec/spec.toml")
        mlflow.log_dict(spec.model_dump(mode="json"), "spec/spec.json")
        mlflow.log_dict(dataset.report.to_dict(), "data/report.json")
        mlflow.log_dict(split.to_dict(), "split/indices.json")
        test_rows = dataset.frame.iloc[split.test].assign(
            __row_id=split.test, __target=dataset.y[split.test]
        )
        tracking.log_frame(test_rows, registry.TEST_SPLIT_ARTIFACT)
        mlflow.log_dict(metrics, "metrics/test.json")
        info = mlflow.sklearn.log_model(
            sk_model=model,
            name="model",
            skops_trusted_types=tracking.trusted_types(model),
            pip_requirements=tracking.model_requirements(),
        )
        version = tracking.register(
            client, info.model_uri, spec.name, {**run_tags, tags.RUN_ID: run.info.run_id}
        )
    timings["track"] = time.perf_counter() - t0
    progress(
        f"[{spec.name}] registered version {version} as '{registry.CANDIDATE}';"
        f" test ROC AUC {metrics['roc_auc']:.3f}"
    )
    return TrainResult(
        use_case=spec.name,
        version=version,
        run_id=run.info.run_id,
        metrics=metrics,
        data_report=dataset.report.to_dict(),
        spec_hash=spec_hash,
        seed=seed,
        mitigation=mitigation,
        timings={k: round(v, 3) for k, v in timings.items()},
    )
