"""Train one use case end to end: data, split, fit, evaluate, track, register."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import mlflow
import numpy as np

from models import registry, tags
from models.decision_model import DecisionModel
from models.metrics import performance
from models.settings import Settings
from models.spec import DecisionSpec
from training import tracking
from training.data import DataError, Dataset
from training.data_check import load_checked
from training.fit import fit_decision_model
from training.mitigation import mitigate
from training.split import SplitIndices, split_rows
from training.variants import TrainingSettings

Progress = Callable[[str], None]

MESSAGE_SAME_PREDICTIONS = (
    "mitigation {method} produced exactly the same predictions as the plain model on the"
    " {n} held-out rows; nothing was registered"
)
MESSAGE_SCORES_CHANGED = (
    "the refit of {what} does not reproduce the scores it was chosen on (test scores"
    " digest {got}, expected {expected}); nothing was registered"
)


class SamePredictionsError(DataError):
    """A mitigation changed nothing: the plain model gives the same held-out scores."""


class NotReproducedError(DataError):
    """A refit did not reproduce the scores it was expected to."""


@dataclass(frozen=True)
class Fitted:
    """A fitted model and, when a mitigation produced it, what it targeted and chose."""

    model: DecisionModel
    mitigation_attribute: str | None = None
    mitigation_setting: str | None = None


def fit_variant(
    spec: DecisionSpec, dataset: Dataset, split: SplitIndices, training: TrainingSettings
) -> Fitted:
    """Fit the spec's model as the settings say (mitigation included) on ``split``."""
    if training.mitigation is None:
        return Fitted(fit_decision_model(spec, dataset, split, training=training))
    done = mitigate(spec, dataset, split, training.mitigation, training)
    return Fitted(done.model, done.attribute, done.setting)


def test_scores(model: DecisionModel, dataset: Dataset, split: SplitIndices) -> np.ndarray:
    """The model's scores on the held-out test rows."""
    return model.score(model.encode(dataset.frame.iloc[split.test]))


def scores_digest(scores: np.ndarray) -> str:
    """A digest of exact scores (float64 bytes), to check that a refit reproduces them."""
    return hashlib.sha256(np.ascontiguousarray(scores, dtype=np.float64).tobytes()).hexdigest()


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
    mitigation_attribute: str | None = None
    mitigation_setting: str | None = None
    training: TrainingSettings = field(default_factory=TrainingSettings)

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
            "mitigation_attribute": self.mitigation_attribute,
            "mitigation_setting": self.mitigation_setting,
            "training_settings": self.training.model_dump(mode="json"),
            "timings_s": self.timings,
        }


def _quiet(_: str) -> None:
    return None


def fit_and_evaluate(
    spec: DecisionSpec,
    dataset: Dataset,
    seed: int,
    mitigation: str | None = None,
    training: TrainingSettings | None = None,
) -> tuple[DecisionModel, SplitIndices, dict[str, float]]:
    """The deterministic core: same spec, data and seed give the same model and metrics."""
    split = split_rows(dataset.y, spec.model.split, seed)
    training = _settings(training, mitigation)
    model = fit_variant(spec, dataset, split, training).model
    metrics = performance(dataset.y[split.test], test_scores(model, dataset, split))
    return model, split, metrics


def _settings(training: TrainingSettings | None, mitigation: str | None) -> TrainingSettings:
    training = training or TrainingSettings()
    if mitigation is not None:
        return training.model_copy(update={"mitigation": mitigation})
    return training


def train_use_case(
    spec: DecisionSpec,
    settings: Settings,
    seed: int | None = None,
    progress: Progress = _quiet,
    mitigation: str | None = None,
    training: TrainingSettings | None = None,
    *,
    expect_scores: str | None = None,
    version_tags: dict[str, str] | None = None,
) -> TrainResult:
    """Train, log and register one version (alias ``candidate``).

    ``training`` fits a variant of the spec's model (:mod:`training.variants`); without
    it the spec's own model, with ``mitigation`` or else the spec's mitigation. A
    mitigation whose held-out scores equal those of the plain model (same seed and
    settings) is refused with :class:`SamePredictionsError`. ``expect_scores`` (a
    :func:`scores_digest`) refuses a refit that does not reproduce those scores;
    ``version_tags`` are added to the version's tags.
    """
    seed = spec.model.seed if seed is None else seed
    training = _settings(training, mitigation or (None if training else spec.model.mitigation))
    training.check(spec)
    mitigation = training.mitigation
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    progress(f"[{spec.name}] loading data from {spec.data.source}")
    dataset = load_checked(spec)  # every mismatch at once, before anything is fitted
    for line in dataset.report.summary_lines():
        progress(f"[{spec.name}]   {line}")
    timings["load"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    how = f", mitigation {mitigation}" if mitigation else ""
    progress(f"[{spec.name}] fitting {spec.model.family} model (seed {seed}{how})")
    if not training.plain().is_default:
        progress(f"[{spec.name}] settings: {training.describe()}")
    split = split_rows(dataset.y, spec.model.split, seed)
    fitted = fit_variant(spec, dataset, split, training)
    model = fitted.model
    scores = test_scores(model, dataset, split)
    metrics = performance(dataset.y[split.test], scores)
    timings["fit"] = time.perf_counter() - t0
    if mitigation is not None:
        t0 = time.perf_counter()
        progress(f"[{spec.name}] fitting the plain model to compare its predictions")
        plain = fit_variant(spec, dataset, split, training.plain()).model
        if np.array_equal(test_scores(plain, dataset, split), scores):
            raise SamePredictionsError(
                MESSAGE_SAME_PREDICTIONS.format(method=mitigation, n=len(split.test))
            )
        timings["plain_fit"] = time.perf_counter() - t0
    if expect_scores is not None and scores_digest(scores) != expect_scores:
        raise NotReproducedError(
            MESSAGE_SCORES_CHANGED.format(
                what=training.describe(), got=scores_digest(scores), expected=expect_scores
            )
        )

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
    if fitted.mitigation_attribute is not None:
        run_tags[tags.MITIGATION_ATTRIBUTE] = fitted.mitigation_attribute
    if fitted.mitigation_setting is not None:
        run_tags[tags.MITIGATION_SETTING] = fitted.mitigation_setting
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train-{spec.name}") as run:
        mlflow.set_tags(run_tags)
        mlflow.set_tags({f"lib.{k}": v for k, v in tracking.library_versions().items()})
        params = training.effective_params(spec)
        mlflow.log_params({"family": spec.model.family, "seed": seed, **params})
        if training.as_run_params():
            mlflow.log_params(training.as_run_params())
            mlflow.log_dict(training.model_dump(mode="json"), "training/settings.json")
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
            client,
            info.model_uri,
            spec.name,
            {**run_tags, **(version_tags or {}), tags.RUN_ID: run.info.run_id},
        )
        if spec.source_path is not None:
            # so that later commands find the use case by its name alone
            client.set_registered_model_tag(spec.name, tags.SPEC_PATH, str(spec.source_path))
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
        mitigation_attribute=fitted.mitigation_attribute,
        mitigation_setting=fitted.mitigation_setting,
        training=training,
    )
