"""Requests: the envelope schema and the spec's contract for the applicant's features.

Every problem is reported at once, each naming the field, the rule and the
value received, in the same words the spec's own validator uses.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from models.spec import BandsDerived, DecisionSpec, MapDerived
from serving.access.errors import ServiceError


class FieldProblem(BaseModel):
    loc: list[str]
    msg: str
    input: Any = None
    allowed: Any = None


class InvalidFeatures(ServiceError, ValueError):
    """Feature values that break the spec's contract, every problem named."""

    def __init__(self, use_case: str, problems: list[FieldProblem]) -> None:
        self.use_case = use_case
        self.problems = problems
        super().__init__(
            f"invalid features for use case {use_case!r}: "
            + "; ".join(f"{'.'.join(p.loc)}: {p.msg}" for p in problems)
        )

    def body(self) -> dict[str, Any]:
        return {
            "error": f"invalid features for use case {self.use_case!r}",
            "detail": [p.model_dump(mode="json") for p in self.problems],
        }


class DecideRequest(BaseModel):
    """A request for a decision about one person."""

    model_config = ConfigDict(extra="forbid")

    use_case: str = Field(min_length=1, max_length=200, description="Use case to decide.")
    features: dict[str, Any] = Field(description="The applicant's feature values, by name.")
    application_ref: str | None = Field(
        default=None, max_length=200, description="The caller's reference for the application."
    )
    automated_decision_consent: bool = Field(
        default=True,
        description="False when the person asked not to be subject to an automated decision.",
    )
    training_data_consent: bool = Field(
        default=False,
        description="True when the person agreed that their data may be used to train or"
        " monitor models; without it the decision is left out of every export of training"
        " data or monitoring labels (`docket ledger export`).",
    )
    audit_attributes: dict[str, str | int | float] | None = Field(
        default=None,
        max_length=50,
        description="The person's sensitive attributes (the spec's `sensitive.attributes`,"
        " or the raw columns they are derived from, e.g. `Age` for `age_band`), for"
        " monitoring fairness only (R32): stored in the erasable personal payload, never"
        " given to the model and never shown to reviewers. Any other key is refused.",
        examples=[{"age_band": "25-34", "Marital": "married"}],
    )

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_value(cls, data: Any, handler: Any) -> Any:
        # BentoML reports validation errors without the received value; put it in the message.
        try:
            return handler(data)
        except ValidationError as exc:
            parts = []
            for e in exc.errors():
                where = ".".join(str(p) for p in e["loc"]) or "(body)"
                got = e.get("input")
                shown = (
                    ""
                    if isinstance(got, dict) and e["type"] != "extra_forbidden"
                    else f"; got {got!r}"
                )
                parts.append(f"{where}: {e['msg']}{shown}")
            raise PydanticCustomError("invalid_request", "; ".join(parts)) from None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_features(spec: DecisionSpec, features: dict[str, Any]) -> dict[str, Any]:
    """Check raw feature values against the spec; return them normalised or raise.

    Recourse's judge accepts encoded rows by these same rules in one vectorised pass
    (``serving.decisions.evaluate._Contract``) and sends any other row here: a rule
    added here must be added there (tests/serving/decisions/test_judge.py holds the
    two equal).
    """
    problems: list[FieldProblem] = []
    names = spec.feature_names
    extra = sorted(set(features) - set(names))
    for name in extra:
        problems.append(
            FieldProblem(
                loc=["features", name],
                msg=f"unknown feature; allowed features: {names}",
                input=features[name],
                allowed=names,
            )
        )
    clean: dict[str, Any] = {}
    for name in names:
        feat = spec.features[name]
        loc = ["features", name]
        if name not in features:
            problems.append(FieldProblem(loc=loc, msg="required feature is missing"))
            continue
        value = features[name]
        if value is None:
            if not feat.nullable:
                problems.append(FieldProblem(loc=loc, msg="may not be null", input=None))
            clean[name] = None
            continue
        if feat.type == "numeric":
            if not _is_number(value) or not math.isfinite(value):
                problems.append(
                    FieldProblem(
                        loc=loc, msg=f"must be a finite number; got {value!r}", input=value
                    )
                )
                continue
            assert feat.min is not None and feat.max is not None
            if not feat.min <= value <= feat.max:
                problems.append(
                    FieldProblem(
                        loc=loc,
                        msg=f"must be between {feat.min:g} and {feat.max:g}; got {value!r}",
                        input=value,
                        allowed=[feat.min, feat.max],
                    )
                )
                continue
            clean[name] = value
        else:
            allowed = feat.categories or []
            if not isinstance(value, str) or value not in allowed:
                problems.append(
                    FieldProblem(
                        loc=loc,
                        msg=f"unknown category {value!r}; allowed: {allowed}",
                        input=value,
                        allowed=allowed,
                    )
                )
                continue
            clean[name] = value
    if problems:
        raise InvalidFeatures(spec.name, problems)
    return clean


def audit_attribute_names(spec: DecisionSpec) -> list[str]:
    """The keys ``audit_attributes`` may carry: the sensitive attributes and their sources."""
    names = list(spec.sensitive.attributes)
    for attr in spec.sensitive.attributes:
        derived = spec.derived.get(attr)
        if derived is not None and derived.source not in names:
            names.append(derived.source)
    return names


def _attribute_problem(spec: DecisionSpec, name: str, value: Any) -> FieldProblem | None:
    loc = ["audit_attributes", name]
    derived = spec.derived.get(name)
    sources = {d.source: d for d in spec.derived.values() if d.source == name}
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return FieldProblem(
            loc=loc, msg=f"must be a string or a number; got {value!r}", input=value
        )
    if isinstance(value, float) and not math.isfinite(value):
        return FieldProblem(loc=loc, msg=f"must be a finite number; got {value!r}", input=value)
    if isinstance(derived, BandsDerived | MapDerived) and value not in derived.labels:
        return FieldProblem(
            loc=loc,
            msg=f"unknown group {value!r}; allowed: {derived.labels}",
            input=value,
            allowed=derived.labels,
        )
    bands = [d for d in sources.values() if isinstance(d, BandsDerived)]
    if bands and not _is_number(value):
        return FieldProblem(
            loc=loc,
            msg=f"must be a number (it is banded into {bands[0].labels}); got {value!r}",
            input=value,
        )
    return None


def check_audit_attributes(
    spec: DecisionSpec, values: dict[str, Any] | None
) -> dict[str, str | int | float] | None:
    """Check a request's ``audit_attributes`` against the spec; return them or raise.

    Allowed keys are :func:`audit_attribute_names`; a derived attribute given directly
    must be one of its groups, the source of bands a number. Raises
    :class:`InvalidFeatures` naming every bad key, what is allowed and what was received.
    """
    if values is None:
        return None
    allowed = audit_attribute_names(spec)
    problems: list[FieldProblem] = []
    for name in sorted(values):
        if name not in allowed:
            problems.append(
                FieldProblem(
                    loc=["audit_attributes", name],
                    msg=f"unknown audit attribute; allowed: {allowed}",
                    input=values[name],
                    allowed=allowed,
                )
            )
            continue
        problem = _attribute_problem(spec, name, values[name])
        if problem is not None:
            problems.append(problem)
    if problems:
        raise InvalidFeatures(spec.name, problems)
    return dict(values)
