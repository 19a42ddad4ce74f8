"""Training settings of a variant of the spec's model, used by the alternatives search.

The spec, its feature list and its encoder never change: a variant is audited and
served under the user's spec. A variant differs only in how the family estimator is
fitted on the training rows:

- ``exclude_features``: the estimator sees those columns as constant (numeric 0.0,
  categorical missing) on the training rows, so LightGBM can never split on them and
  the logistic coefficients on them stay exactly 0 (their gradient is exactly 0 from
  the zero start). Their exact contribution is then 0 for every row and scores do not
  depend on them, while the model keeps the spec's feature list (the audit and the
  service require it). The out-of-distribution check still sees their real values: it
  validates inputs and is not part of the score.
- ``params``: overrides of ``model.params`` (only the keys allowed for the family).
- ``monotone``: extra monotone directions for numeric features that have none in the spec.
- ``mitigation`` with ``mitigation_attribute`` and ``mitigation_grid_size``: as in the
  spec's ``[model]`` section (``None`` there means the spec's own value).

``TrainingSettings()`` is the spec's own plain model.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.spec import _FAMILY_PARAMS, DecisionSpec, Feature, Mitigation
from training.data import DataError

__all__ = ["SettingsError", "TrainingSettings"]

Direction = Literal["increasing", "decreasing"]


class SettingsError(DataError):
    """Training settings that do not fit the spec (a user error: the CLI exits with 2)."""


class TrainingSettings(BaseModel):
    """How a variant's estimator is fitted; the default is the spec's own model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exclude_features: list[str] = Field(default_factory=list)
    params: dict[str, float | int | str | bool] = Field(default_factory=dict)
    monotone: dict[str, Direction] = Field(default_factory=dict)
    mitigation: Mitigation | None = None
    mitigation_attribute: str | None = None
    mitigation_grid_size: int | None = Field(default=None, ge=3, le=200)

    @property
    def is_default(self) -> bool:
        """Whether these settings change nothing about the spec's plain model."""
        return self == TrainingSettings()

    def plain(self) -> TrainingSettings:
        """The same settings without the mitigation (what a mitigation is compared with)."""
        return self.model_copy(
            update={"mitigation": None, "mitigation_attribute": None, "mitigation_grid_size": None}
        )

    def check(self, spec: DecisionSpec) -> TrainingSettings:
        """Raise :class:`SettingsError` naming the field, what is allowed and what was given."""
        features = spec.feature_names
        unknown = [f for f in self.exclude_features if f not in spec.features]
        if unknown:
            raise SettingsError(
                f"exclude_features must name features of {spec.name!r} among {features};"
                f" got {unknown}"
            )
        if len(set(self.exclude_features)) == len(features):
            raise SettingsError(
                f"exclude_features may not exclude every feature of {spec.name!r}; got"
                f" {sorted(set(self.exclude_features))}"
            )
        allowed = _FAMILY_PARAMS[spec.model.family]
        bad = sorted(set(self.params) - allowed)
        if bad:
            raise SettingsError(
                f"params for family {spec.model.family!r} must be among {sorted(allowed)};"
                f" got {bad}"
            )
        for name, direction in self.monotone.items():
            feature = spec.features.get(name)
            if feature is None or feature.type != "numeric" or feature.monotone is not None:
                free = [
                    n for n, f in spec.features.items() if f.type == "numeric" and not f.monotone
                ]
                raise SettingsError(
                    "monotone may only add a direction to a numeric feature without one, among"
                    f" {free}; got {name!r} = {direction!r}"
                )
        attribute = self.mitigation_attribute
        if attribute is not None and attribute not in spec.sensitive.attributes:
            raise SettingsError(
                f"mitigation_attribute must be one of {spec.sensitive.attributes};"
                f" got {attribute!r}"
            )
        return self

    def estimator_spec(self, spec: DecisionSpec) -> DecisionSpec:
        """The spec the family estimator is built from: params and monotone directions applied.

        Only for :func:`models.decision_model.build_estimator`; the model keeps ``spec``.
        """
        if not self.params and not self.monotone:
            return spec
        features: dict[str, Feature] = {
            name: (
                f.model_copy(update={"monotone": self.monotone[name]})
                if name in self.monotone
                else f
            )
            for name, f in spec.features.items()
        }
        model = spec.model.model_copy(update={"params": {**spec.model.params, **self.params}})
        return spec.model_copy(update={"features": features, "model": model})

    def effective_params(self, spec: DecisionSpec) -> dict[str, float | int | str | bool]:
        """The family parameters the estimator is fitted with."""
        return {**spec.model.params, **self.params}

    def as_run_params(self) -> dict[str, str]:
        """The settings as MLflow run params (only those that differ from the default)."""
        out: dict[str, str] = {}
        if self.exclude_features:
            out["settings.exclude_features"] = ",".join(self.exclude_features)
        for name, direction in sorted(self.monotone.items()):
            out[f"settings.monotone.{name}"] = direction
        for key, value in sorted(self.params.items()):
            out[f"settings.params.{key}"] = str(value)
        if self.mitigation_attribute:
            out["settings.mitigation_attribute"] = self.mitigation_attribute
        if self.mitigation_grid_size:
            out["settings.mitigation_grid_size"] = str(self.mitigation_grid_size)
        return out

    def describe(self) -> str:
        """What differs from the spec's own model, in words."""
        parts: list[str] = []
        if self.exclude_features:
            parts.append("drop " + ", ".join(self.exclude_features))
        if self.monotone:
            arrows = {"increasing": "up", "decreasing": "down"}
            parts.append(
                "monotone "
                + ", ".join(f"{n} {arrows[d]}" for n, d in sorted(self.monotone.items()))
            )
        if self.params:
            parts.append(", ".join(f"{k}={v}" for k, v in sorted(self.params.items())))
        if self.mitigation:
            how: str = self.mitigation
            if self.mitigation_attribute:
                how += f" on {self.mitigation_attribute}"
            if self.mitigation_grid_size:
                how += f" (grid {self.mitigation_grid_size})"
            parts.append(how)
        return "; ".join(parts) or "the spec's own model"
