"""The reasons for a decision: exact contributions and principal reason codes (R1, R2).

A rationale is reported in one space, the calibrated log-odds of the favourable
outcome, where ``base_value + sum(contributions) == log_odds`` holds exactly for
both model families (linear SHAP and TreeSHAP, scaled by the Platt slope). The
per-feature contributions are aggregated into the spec's reason codes, and the
principal reasons are the codes that pushed the score hardest toward the
outcome that was given. Every rationale states its reference (``reference``,
with the number in ``base_value``): contributions say how far each factor moved
the score *away from that reference*.

Reference of an adverse decision: the applicants the policy approves
---------------------------------------------------------------------
An adverse decision is explained against the population the policy approves:
the reference rows ``A`` (the held-out rows of the version's training run,
passed in by the caller as an :class:`ApprovedReference`) whose score reaches
the policy's ``approve_at``. With ``phi`` the exact contributions and ``f`` the
calibrated log-odds,

    phi_ref(x) = phi(x) - mean_{r in A} phi(r)
    base_ref   = base + sum_j mean_{r in A} phi_j(r)  (= mean_{r in A} f(r))

so ``base_ref + sum(phi_ref(x)) == f(x)`` stays exact. Every ``r`` in ``A`` has
``f(r) >= logit(approve_at) > f(x)`` for an adverse ``x``, so the contributions
add up to a negative number and at least one factor lowered the score: the
principal reasons of an adverse decision are only codes with a negative
aggregate contribution, most negative first, one to four, each with its adverse
text. Why this reference rather than the model's own base value (its average
over training): when that average is itself below the line, an adverse case can
have no factor that lowered its score, and the "reasons" would be favourable
factors. Why the approved population rather than a point on the approval
boundary: the boundary has no single natural point, while "compared with the
applicants who are approved" is a population an auditor can name, count and
check, and it guarantees the sign. For the linear family ``phi_ref`` is exactly
``w_j * (x_j - mean_A x_j)``; for trees it is the difference of the model's
TreeSHAP values, which adds up exactly to ``f(x) - mean_A f`` but is not the
same as interventional SHAP with ``A`` as background.

Favourable decisions keep the model's own base value (its average log-odds
over the training data) as reference: "what raised you above the average".

A reason's text is its code's ``adverse`` or ``favourable`` text; when the spec
gives a text per value (a table keyed by the values of the code's first
categorical feature), it is the text for the person's own value of that feature,
or the table's ``default`` for a value it does not name or a missing one. So a
person with no default records is never told "previous default records". The
choice follows from the catalogue alone, so ``catalogue_version`` identifies it.

The service builds one :class:`RationaleBuilder` per loaded model and calls
:meth:`RationaleBuilder.explain` per request: one ``model.contributions`` call,
one ``model.log_odds`` call (skipped when the caller passes the log-odds it
already computed to decide) and a little NumPy and Python, no pandas.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, TypeAdapter
from scipy.special import expit

from models.decision_model import DecisionModel
from models.spec import DecisionSpec, ReasonCode

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
# Revision 2: adverse decisions are explained against the approved population, and
# their principal reasons are only factors that lowered the score.
_EXPLAINER_REVISION = 2

_MESSAGE_NO_APPROVED = (
    "no reference row reaches approve_at {approve_at:g}: the highest score among the {n}"
    " rows is {best:.4f}; an adverse decision cannot be explained against the applicants"
    " the policy approves without at least one of them"
)
_MESSAGE_APPROVE_AT = "approve_at must be strictly between 0 and 1; got {value!r} instead"
_MESSAGE_REFERENCE_FEATURES = (
    "the approved reference was computed for features {got}, but the model uses {expected}"
)
_MESSAGE_REFERENCE_POLICY = (
    "the approved reference was computed at approve_at {got:g}, but spec {name!r} approves"
    " at {expected:g}; build the reference with the serving spec's policy.approve_at"
)
_MESSAGE_NOT_ADVERSE = (
    "an adverse decision must score below the reference's approve_at {approve_at:g};"
    " got score {score:.6f} instead (the reference was built for another threshold)"
)

Direction = Literal["favourable", "adverse", "neutral"]
ReferenceKind = Literal["approved_population", "training_average"]
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
    reference_kind: ReferenceKind
    reference: str
    """What ``base_value`` is the average of: contributions are measured from it."""
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


@cache
def _contributions() -> TypeAdapter[tuple[FeatureContribution, ...]]:
    """One validation call for a rationale's contributions: the models built in
    pydantic-core, half the cost of building them one by one (measured, 20 features)."""
    return TypeAdapter(tuple[FeatureContribution, ...])


@dataclass(frozen=True, eq=False)
class ApprovedReference:
    """The applicants the policy approves, summarised for explaining adverse decisions.

    Make it with :func:`approved_reference`; ``mean_contributions`` is the mean of
    the model's exact contributions over those rows, in calibrated log-odds.
    """

    features: tuple[str, ...]
    approve_at: float
    n: int
    n_rows: int
    source: str
    mean_contributions: np.ndarray
    base_value: float
    """The model's base value plus the mean contributions: the rows' average log-odds."""

    @property
    def description(self) -> str:
        return (
            f"the average of the {self.n:,} {self.source} the policy approves"
            f" (score >= {self.approve_at:g})"
        )


def approved_reference(
    model: DecisionModel,
    X: np.ndarray,
    approve_at: float,
    *,
    source: str = "held-out applicants",
) -> ApprovedReference:
    """Summarise the encoded rows ``X`` whose score reaches ``approve_at``.

    ``X`` should be rows the model was not trained on that stand for the people
    it decides about (the held-out test rows of its training run); ``source``
    names them in every rationale and in the model card.

    Examples
    --------
    >>> ref = approved_reference(model, X_test, 0.75)  # doctest: +SKIP
    >>> ref.description  # doctest: +SKIP
    'the average of the 412 held-out applicants the policy approves (score >= 0.75)'
    """
    if not 0.0 < approve_at < 1.0:
        raise ValueError(_MESSAGE_APPROVE_AT.format(value=approve_at))
    X = np.asarray(X, dtype=np.float64)
    names = tuple(model.feature_names)
    if X.ndim != 2 or X.shape[1] != len(names) or X.shape[0] == 0:
        raise ValueError(
            f"X must be a non-empty 2-D encoded matrix with {len(names)} columns;"
            f" got shape {X.shape} instead"
        )
    scores = np.asarray(model.score(X), dtype=np.float64)
    approved = scores >= approve_at
    if not approved.any():
        raise ValueError(
            _MESSAGE_NO_APPROVED.format(
                approve_at=approve_at, n=X.shape[0], best=float(scores.max())
            )
        )
    phi, base = model.contributions(X[approved])
    mean = phi.mean(axis=0)
    mean.setflags(write=False)
    return ApprovedReference(
        features=names,
        approve_at=float(approve_at),
        n=int(approved.sum()),
        n_rows=int(X.shape[0]),
        source=source,
        mean_contributions=mean,
        base_value=float(base[0]) + float(mean.sum()),
    )


def describe_reference(reference: ApprovedReference | None) -> str:
    """How principal reasons are chosen, in a sentence for the model card."""
    favourable = (
        "Favourable decisions are explained against the model's base value, its average"
        " log-odds over the training data."
    )
    if reference is None:
        return (
            "Every decision is explained against the model's base value, its average"
            " log-odds over the training data; no approved population was given, so an"
            " adverse decision may have no factor that lowered its score, and then it gets"
            " no principal reason."
        )
    return (
        f"Adverse decisions are explained against {reference.description}, out of"
        f" {reference.n_rows:,}; their average calibrated log-odds is"
        f" {reference.base_value:.4f}. Each feature's contribution is its exact contribution"
        " minus its average over those applicants, so the contributions add up exactly to"
        " the gap between the applicant's log-odds and that average. Every approved"
        " applicant scores at or above the threshold and an adverse decision scores below"
        " it, so at least one factor lowered the score: the principal reasons are the one"
        " to four reason codes with the most negative contributions, each with its adverse"
        f" text. {favourable}"
    )


def explainer_version(model: DecisionModel) -> str:
    """Which explainer explains this model, e.g. ``exact-linear/2`` or ``treeshap-lightgbm/2``."""
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
    reason_codes: tuple[ReasonCode, ...]
    text_by: tuple[int | None, ...]
    """Per code, the position of the feature whose value chooses a per-value text."""
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
        labels=tuple(spec.features[n].display_label for n in names),
        categorical=tuple(
            tuple(spec.features[n].categories or ())
            if spec.features[n].type == "categorical"
            else None
            for n in names
        ),
        codes=codes,
        code_features=tuple(tuple(catalogue.codes[c].features) for c in codes),
        reason_codes=tuple(catalogue.codes[c] for c in codes),
        text_by=tuple(None if (by := spec.reason_feature(c)) is None else index[by] for c in codes),
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

    def __init__(
        self,
        model: DecisionModel,
        spec: DecisionSpec | None = None,
        *,
        reference: ApprovedReference | None = None,
    ) -> None:
        """``spec`` overrides the model's own spec for the reason catalogue and outcome
        names (e.g. the spec a version is served under); its features must be the model's.

        ``reference`` (see :func:`approved_reference`) is what adverse decisions are
        explained against, made at the serving policy's ``approve_at``. Without it an
        adverse decision is explained against the model's base value, and gets no
        principal reason when no factor lowered its score below that.
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
        if reference is not None:
            if reference.features != self._lk.names:
                raise ValueError(
                    _MESSAGE_REFERENCE_FEATURES.format(
                        got=list(reference.features), expected=list(self._lk.names)
                    )
                )
            policy = (spec or model.spec).policy
            if policy is not None and policy.approve_at != reference.approve_at:
                raise ValueError(
                    _MESSAGE_REFERENCE_POLICY.format(
                        got=reference.approve_at,
                        name=(spec or model.spec).name,
                        expected=policy.approve_at,
                    )
                )
        self.reference = reference

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
        return self.explain_batch(X, [adverse], log_odds=None if log_odds is None else [log_odds])[
            0
        ]

    def explain_batch(
        self,
        X: np.ndarray,
        adverse: np.ndarray | Sequence[bool],
        *,
        log_odds: np.ndarray | Sequence[float] | None = None,
    ) -> list[Rationale]:
        """Rationales for many encoded rows, with one contributions call for the batch.

        ``log_odds``: the model's log-odds of the rows, when the caller has them (as
        :meth:`explain`); each row's rationale is the same as :meth:`explain` gives it.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D encoded matrix (got shape {X.shape})")
        self._check_width(X)
        flags = np.asarray(adverse, dtype=bool).reshape(-1)
        if flags.shape[0] != X.shape[0]:
            raise ValueError(f"adverse has {flags.shape[0]} flags for {X.shape[0]} rows")
        if log_odds is not None and len(log_odds) != X.shape[0]:
            raise ValueError(f"log_odds has {len(log_odds)} values for {X.shape[0]} rows")
        if X.shape[0] == 0:
            return []
        phi, base = self.model.contributions(X)
        lo = self.model.log_odds(X) if log_odds is None else log_odds
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

    def _text(self, k: int, x: np.ndarray, adverse: bool) -> str:
        """Code ``k``'s text for this person: for a per-value text, their own value's."""
        j = self._lk.text_by[k]
        value = None if j is None else self._value(j, float(x[j]))
        return self._lk.reason_codes[k].text(
            "adverse" if adverse else "favourable", None if value is None else str(value)
        )

    def _build(
        self, x: np.ndarray, phi: np.ndarray, base: float, log_odds: float, adverse: bool
    ) -> Rationale:
        lk = self._lk
        ref = self.reference
        kind: ReferenceKind = "training_average"
        described = (
            f"the model's base value, its average over the training data: average log-odds"
            f" {base:.4f}"
        )
        if adverse and ref is not None:
            score = float(expit(log_odds))
            if score >= ref.approve_at:
                raise ValueError(
                    _MESSAGE_NOT_ADVERSE.format(approve_at=ref.approve_at, score=score)
                )
            phi = phi - ref.mean_contributions
            base = base + float(ref.mean_contributions.sum())
            kind = "approved_population"
            described = f"{ref.description}: average log-odds {base:.4f}"
        contribs = _contributions().validate_python(
            [
                {
                    "feature": lk.names[j],
                    "label": lk.labels[j],
                    "value": self._value(j, float(x[j])),
                    "contribution": c,
                    "direction": _direction(c),
                }
                for j, c in enumerate(phi.tolist())
            ]
        )
        per_code: list[float] = (phi @ lk.membership).tolist()
        chosen = _principal(per_code, adverse)
        reasons = tuple(
            Reason(
                code=lk.codes[k],
                features=lk.code_features[k],
                contribution=per_code[k],
                direction="adverse" if adverse else "favourable",
                text=self._text(k, x, adverse),
            )
            for k in chosen
        )
        if adverse and kind == "approved_population" and not reasons:
            # cannot happen: the contributions add up to f(x) - mean_A f < 0
            raise AssertionError(f"no negative reason code for an adverse decision: {per_code}")
        score = float(expit(log_odds))
        return Rationale(
            reference_kind=kind,
            reference=described,
            base_value=base,
            contributions=contribs,
            log_odds=log_odds,
            score=score,
            additivity_error=abs(base + float(phi.sum()) - log_odds),
            adverse=adverse,
            reasons=reasons,
            summary=_summary(lk.outcome, score, adverse, reasons, kind),
            explainer_version=lk.explainer_version,
            catalogue_version=lk.catalogue_version,
        )


def _principal(per_code: list[float], adverse: bool) -> list[int]:
    """Indices of the principal codes, most important first, at most four.

    Adverse: only codes with a negative aggregate contribution, most negative
    first. Favourable: only codes with a positive one, largest first. Ties keep
    catalogue order.
    """
    if adverse:
        order = sorted(range(len(per_code)), key=lambda k: per_code[k])
        return [k for k in order if per_code[k] < 0][:MAX_REASONS]
    order = sorted(range(len(per_code)), key=lambda k: per_code[k], reverse=True)
    return [k for k in order if per_code[k] >= NEUTRAL_TOLERANCE][:MAX_REASONS]


def _summary(
    outcome: str, score: float, adverse: bool, reasons: tuple[Reason, ...], kind: ReferenceKind
) -> str:
    texts = "; ".join(_lower_first(r.text) for r in reasons)
    chance = f"{score:.0%}"
    if adverse:
        head = (
            f"The decision was not favourable: the model estimated a {chance} chance"
            f" of the favourable outcome ({outcome})."
        )
        if kind == "approved_population":
            return (
                f"{head} Compared with the applicants who are approved, the principal"
                f" reasons, most important first: {texts}."
            )
        if not reasons:
            return (
                f"{head} None of your factors lowered this estimate below the model's"
                " average over its training data; that average is itself below what is"
                " needed."
            )
        return (
            f"{head} Compared with the model's average over its training data, the"
            f" principal reasons, most important first: {texts}."
        )
    head = (
        f"The decision was favourable: the model estimated a {chance} chance"
        f" of the favourable outcome ({outcome})."
    )
    if not reasons:
        return f"{head} No single factor raised this estimate; the starting point for everyone already reaches it."
    return f"{head} The factors that helped most: {texts}."


def explain(
    model: DecisionModel,
    x: np.ndarray,
    *,
    adverse: bool,
    log_odds: float | None = None,
    reference: ApprovedReference | None = None,
) -> Rationale:
    """Rationale for one encoded row of ``model`` (see :class:`RationaleBuilder`)."""
    return RationaleBuilder(model, reference=reference).explain(x, adverse, log_odds=log_odds)


def explain_batch(
    model: DecisionModel,
    X: np.ndarray,
    adverse: np.ndarray | Sequence[bool],
    *,
    reference: ApprovedReference | None = None,
) -> list[Rationale]:
    """Rationales for many encoded rows, computing contributions once for the batch."""
    return RationaleBuilder(model, reference=reference).explain_batch(X, adverse)
