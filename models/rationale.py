"""The reasons for a decision: exact contributions and principal reason codes (R1, R2).

A rationale is reported in one space, the calibrated log-odds of the favourable
outcome, where ``base_value + sum(contributions) == log_odds`` holds exactly for
both model families (linear SHAP and TreeSHAP, scaled by the Platt slope). The
per-feature contributions are aggregated into the spec's reason codes, and the
principal reasons are the codes that pushed the score hardest toward the
outcome that was given (toward the adverse side for an adverse decision).

The service builds one :class:`RationaleBuilder` per loaded model and calls
:meth:`RationaleBuilder.explain` per request: one ``model.contributions`` call,
one ``model.log_odds`` call (skipped when the caller passes the log-odds it
already computed to decide) and a little NumPy and Python, no pandas.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict
from scipy.special import expit

from models.decision_model import DecisionModel
from models.spec import DecisionSpec

Space = Literal["calibrated log-odds of the favourable outcome"]
SPACE: Space = "calibrated log-odds of the favourable outcome"
MAX_REASONS = 4
NEUTRAL_TOLERANCE = 1e-12
"""Contributions with an absolute value below this are reported as neutral."""

# How each family's contributions are computed; bump the revision whenever the
# method or the reason rules change, so a replay knows which logic explained a decision.
_EXPLAINERS: dict[str, str] = {
    "MonotoneLogistic": "exact-linear",
    "MonotoneGBM": "treeshap-lightgbm",
}
_EXPLAINER_REVISION = 1

Direction = Literal["favourable", "adverse", "neutral"]
RawValue = float | str | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FeatureContribution(_Frozen):
    """One feature's exact contribution to the calibrated log-odds."""

    feature: str
    label: str
    value: RawValue
    contribution: float
    direction: Direction


class Reason(_Frozen):
    """A reason code from the spec's catalogue, with its features' summed contribution."""

    code: str
    features: tuple[str, ...]
    contribution: float
    direction: Direction
    text: str


class Rationale(_Frozen):
    """Why the model gave this score, in calibrated log-odds, with the principal reasons."""

    space: Space = SPACE
    base_value: float
    contributions: tuple[FeatureContribution, ...]
    log_odds: float
    score: float
    additivity_error: float
    adverse: bool
    reasons: tuple[Reason, ...]
    summary: str
    explainer_version: str
    catalogue_version: str


def explainer_version(model: DecisionModel) -> str:
    """Which explainer explains this model, e.g. ``exact-linear/1`` or ``treeshap-lightgbm/1``."""
    name = type(model.estimator).__name__
    try:
        kind = _EXPLAINERS[name]
    except KeyError:
        raise ValueError(
            f"no exact explainer is known for estimator {name!r}; known: {sorted(_EXPLAINERS)}"
        ) from None
    return f"{kind}/{_EXPLAINER_REVISION}"


def _direction(value: float) -> Direction:
    if abs(value) < NEUTRAL_TOLERANCE:
        return "neutral"
    return "favourable" if value > 0 else "adverse"


def _lower_first(text: str) -> str:
    """Lower-case a sentence's first letter for use mid-sentence (keeps acronyms)."""
    if len(text) > 1 and text[0].isupper() and not text[1].isupper():
        return text[0].lower() + text[1:]
    return text


@dataclass(frozen=True)
class _Lookups:
    """Per-model facts computed once: labels, reason codes and the feature→code matrix."""

    names: tuple[str, ...]
    labels: tuple[str, ...]
    categorical: tuple[tuple[str, ...] | None, ...]
    codes: tuple[str, ...]
    code_features: tuple[tuple[str, ...], ...]
    adverse_text: tuple[str, ...]
    favourable_text: tuple[str, ...]
    membership: np.ndarray  # (n_features, n_codes), 1.0 where the feature belongs to the code
    outcome: str
    explainer_version: str
    catalogue_version: str


def _build_lookups(model: DecisionModel, spec: DecisionSpec) -> _Lookups:
    catalogue = spec.reasons
    if catalogue is None:
        raise ValueError(
            f"spec {spec.name!r} (version {spec.version}) has no [reasons] catalogue;"
            " a decision cannot be explained without reason codes (R1)"
        )
    names = tuple(model.feature_names)
    index = {n: j for j, n in enumerate(names)}
    codes = tuple(catalogue.codes)
    membership = np.zeros((len(names), len(codes)))
    owner: dict[str, str] = {}
    for k, code in enumerate(codes):
        for f in catalogue.codes[code].features:
            # Every reason must name a factor the served model actually uses (R1).
            if f not in index:
                raise ValueError(
                    f"reason code {code!r} names feature {f!r}, which model"
                    f" {spec.name!r} does not use; model features: {list(names)}"
                )
            if f in owner:
                raise ValueError(f"feature {f!r} belongs to codes {owner[f]!r} and {code!r}")
            owner[f] = code
            membership[index[f], k] = 1.0
    unowned = [n for n in names if n not in owner]
    if unowned:
        raise ValueError(f"model features {unowned} have no reason code in the catalogue")
    favourable = spec.data.favourable
    return _Lookups(
        names=names,
        labels=tuple(spec.features[n].label for n in names),
        categorical=tuple(
            tuple(spec.features[n].categories or ())
            if spec.features[n].type == "categorical"
            else None
            for n in names
        ),
        codes=codes,
        code_features=tuple(tuple(catalogue.codes[c].features) for c in codes),
        adverse_text=tuple(catalogue.codes[c].adverse for c in codes),
        favourable_text=tuple(catalogue.codes[c].favourable for c in codes),
        membership=membership,
        outcome=f"{spec.data.target} = {favourable}",
        explainer_version=explainer_version(model),
        catalogue_version=catalogue.version,
    )


_LOOKUPS: weakref.WeakKeyDictionary[DecisionModel, _Lookups] = weakref.WeakKeyDictionary()


def _lookups_for(model: DecisionModel) -> _Lookups:
    """Cached per loaded model (weakly, so a dropped model does not leak or alias)."""
    try:
        found = _LOOKUPS.get(model)
    except TypeError:  # not weak-referenceable: no cache
        return _build_lookups(model, model.spec)
    if found is None:
        found = _build_lookups(model, model.spec)
        _LOOKUPS[model] = found
    return found


class RationaleBuilder:
    """Explains decisions of one loaded model; build it once, call :meth:`explain` per request."""

    def __init__(self, model: DecisionModel, spec: DecisionSpec | None = None) -> None:
        """``spec`` overrides the model's own spec for the reason catalogue and outcome
        names (e.g. the spec a version is served under); its features must be the model's.
        """
        self.model = model
        if spec is None or spec is model.spec:
            self._lk = _lookups_for(model)
        else:
            if spec.feature_names != list(model.feature_names):
                raise ValueError(
                    f"spec {spec.name!r} lists features {spec.feature_names}, but the model"
                    f" uses {list(model.feature_names)}"
                )
            self._lk = _build_lookups(model, spec)

    @property
    def explainer_version(self) -> str:
        return self._lk.explainer_version

    @property
    def catalogue_version(self) -> str:
        return self._lk.catalogue_version

    def explain(self, x: np.ndarray, adverse: bool, *, log_odds: float | None = None) -> Rationale:
        """Rationale for one encoded row ``x`` of shape ``(1, p)`` (or ``(p,)``).

        ``log_odds`` may be the model's log-odds for ``x`` that the caller already
        computed to decide; otherwise it is computed here. It must come from the
        model (never from the contributions), so the additivity error is a real check.
        """
        X = np.asarray(x, dtype=np.float64).reshape(1, -1)
        self._check_width(X)
        phi, base = self.model.contributions(X)
        lo = float(self.model.log_odds(X)[0]) if log_odds is None else float(log_odds)
        return self._build(X[0], phi[0], float(base[0]), lo, bool(adverse))

    def explain_batch(self, X: np.ndarray, adverse: np.ndarray | Sequence[bool]) -> list[Rationale]:
        """Rationales for many encoded rows, with one contributions call for the batch."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D encoded matrix (got shape {X.shape})")
        self._check_width(X)
        flags = np.asarray(adverse, dtype=bool).reshape(-1)
        if flags.shape[0] != X.shape[0]:
            raise ValueError(f"adverse has {flags.shape[0]} flags for {X.shape[0]} rows")
        if X.shape[0] == 0:
            return []
        phi, base = self.model.contributions(X)
        lo = self.model.log_odds(X)
        return [
            self._build(X[i], phi[i], float(base[i]), float(lo[i]), bool(flags[i]))
            for i in range(X.shape[0])
        ]

    # -- internals ----------------------------------------------------------
    def _check_width(self, X: np.ndarray) -> None:
        if X.shape[1] != len(self._lk.names):
            raise ValueError(
                f"encoded rows must have {len(self._lk.names)} columns in spec order"
                f" {list(self._lk.names)} (got {X.shape[1]})"
            )

    def _value(self, j: int, code: float) -> RawValue:
        if code != code:  # NaN: missing
            return None
        cats = self._lk.categorical[j]
        return float(code) if cats is None else cats[int(code)]

    def _build(
        self, x: np.ndarray, phi: np.ndarray, base: float, log_odds: float, adverse: bool
    ) -> Rationale:
        lk = self._lk
        contribs = tuple(
            FeatureContribution(
                feature=lk.names[j],
                label=lk.labels[j],
                value=self._value(j, float(x[j])),
                contribution=c,
                direction=_direction(c),
            )
            for j, c in enumerate(phi.tolist())
        )
        per_code: list[float] = (phi @ lk.membership).tolist()
        chosen, fallback = _principal(per_code, adverse)
        reasons = tuple(
            Reason(
                code=lk.codes[k],
                features=lk.code_features[k],
                contribution=per_code[k],
                direction=_direction(per_code[k]),
                text=lk.adverse_text[k] if per_code[k] < 0 else lk.favourable_text[k],
            )
            for k in chosen
        )
        score = float(expit(log_odds))
        return Rationale(
            base_value=base,
            contributions=contribs,
            log_odds=log_odds,
            score=score,
            additivity_error=abs(base + float(phi.sum()) - log_odds),
            adverse=adverse,
            reasons=reasons,
            summary=_summary(lk.outcome, score, adverse, reasons, fallback),
            explainer_version=lk.explainer_version,
            catalogue_version=lk.catalogue_version,
        )


def _principal(per_code: list[float], adverse: bool) -> tuple[list[int], bool]:
    """Indices of the principal codes, and whether the adverse fallback was used.

    Adverse: the codes with a negative aggregate contribution, most negative first,
    at most four; when none is negative (the base value alone is adverse), the one
    to four least favourable codes. Favourable: up to four codes with the largest
    positive contribution. Ties keep catalogue order.
    """
    order = sorted(range(len(per_code)), key=lambda k: per_code[k], reverse=not adverse)
    if adverse:
        negative = [k for k in order if per_code[k] <= -NEUTRAL_TOLERANCE]
        if negative:
            return negative[:MAX_REASONS], False
        return order[:MAX_REASONS], True
    return [k for k in order if per_code[k] >= NEUTRAL_TOLERANCE][:MAX_REASONS], False


def _summary(
    outcome: str, score: float, adverse: bool, reasons: tuple[Reason, ...], fallback: bool
) -> str:
    texts = "; ".join(_lower_first(r.text) for r in reasons)
    chance = f"{score:.0%}"
    if adverse:
        head = (
            f"The decision was not favourable: the model estimated a {chance} chance"
            f" of the favourable outcome ({outcome})."
        )
        if fallback:
            return (
                f"{head} None of your factors lowered this estimate; the starting point for"
                f" everyone is already below what is needed, and the factors that helped"
                f" least were: {texts}."
            )
        return f"{head} The principal reasons, most important first: {texts}."
    head = (
        f"The decision was favourable: the model estimated a {chance} chance"
        f" of the favourable outcome ({outcome})."
    )
    if not reasons:
        return f"{head} No single factor raised this estimate; the starting point for everyone already reaches it."
    return f"{head} The factors that helped most: {texts}."


def explain(
    model: DecisionModel, x: np.ndarray, *, adverse: bool, log_odds: float | None = None
) -> Rationale:
    """Rationale for one encoded row of ``model`` (see :class:`RationaleBuilder`)."""
    return RationaleBuilder(model).explain(x, adverse, log_odds=log_odds)


def explain_batch(
    model: DecisionModel, X: np.ndarray, adverse: np.ndarray | Sequence[bool]
) -> list[Rationale]:
    """Rationales for many encoded rows, computing contributions once for the batch."""
    return RationaleBuilder(model).explain_batch(X, adverse)
