"""Counterfactual recourse: what a person could change to get the other outcome (R4).

The search moves only features the spec marks ``actionable``, each within its
``[min, max]``, numeric monotone features only in their favourable direction
and on the feature's ``step`` grid (or a grid of about twenty points when no
step is given), categorical features to any other allowed category. Features
whose value is missing are left alone: there is no known value to move from.

It is a greedy search in vectorised rounds. Each round scores every single
feature move from the current point in one ``model.score`` call; if some moves
reach the target, the smallest of them (normalised by the feature's range) is
taken, otherwise the move with the largest score gain (ties: the smallest
change). At most ``max_changes`` distinct features change. Once the target is
reached each changed feature is moved back toward its original value as far as
the outcome still holds (coarse-to-fine search over its grid, one batched call
per level), and a change that is not needed is dropped. Finally the
counterfactual is re-scored by the same model: ``found`` is set only if that
score reaches the target.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict

from models.decision_model import DecisionModel
from models.rationale import RationaleBuilder
from models.spec import DecisionSpec

NO_RECOURSE_MESSAGE = (
    "No change to the factors you can act on within their allowed ranges would change"
    " this decision."
)
GRID_POINTS = 20
"""Intervals of the grid for numeric features without a ``step``."""
COARSE_CANDIDATES = 16
"""At most this many values per numeric feature are scored in one search round."""
SHRINK_BATCH = 32
"""At most this many values are scored per level while shrinking a change."""

RawValue = float | str | None


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Change(_Frozen):
    """One feature's change: raw values, as a person would state them."""

    feature: str
    label: str
    from_value: RawValue
    to_value: float | str


class Recourse(_Frozen):
    """A counterfactual that the same model re-scored, or a plain statement that there is none."""

    found: bool
    changes: tuple[Change, ...]
    original_score: float
    new_score: float
    target_score: float
    message: str


@dataclass(frozen=True)
class _Actionable:
    """Search facts for one actionable feature."""

    j: int
    name: str
    label: str
    categorical: bool
    categories: tuple[str, ...]
    grid: np.ndarray  # allowed numeric values, ascending (empty for categorical)
    sign: int  # +1 may only go up, -1 only down, 0 either way
    span: float  # max - min, to normalise changes


def numeric_grid(minimum: float, maximum: float, step: float | None) -> np.ndarray:
    """Allowed values of a numeric feature for recourse.

    With a ``step``: the multiples of it within ``[min, max]``. Without one: the
    integers when both ends are integers at most ``GRID_POINTS`` apart (counts and
    0/1 indicators), else ``GRID_POINTS + 1`` evenly spaced points.
    """
    if step is not None:
        lo = int(np.ceil(minimum / step - 1e-9))
        hi = int(np.floor(maximum / step + 1e-9))
        return np.arange(lo, hi + 1, dtype=np.float64) * step
    if (
        float(minimum).is_integer()
        and float(maximum).is_integer()
        and maximum - minimum <= GRID_POINTS
    ):
        return np.arange(minimum, maximum + 1, dtype=np.float64)
    return np.linspace(minimum, maximum, GRID_POINTS + 1)


class RecourseBuilder:
    """Precomputed search space of one loaded model; build once, call :meth:`find` per request."""

    def __init__(self, model: DecisionModel, spec: DecisionSpec | None = None) -> None:
        # ``spec``: the spec the model is served under (its ranges and actionable flags
        # are the ones requests are validated against); default the training spec
        self.model = model
        self._space = _space_for(model) if spec is None else _build_space(model, spec)

    @property
    def actionable(self) -> list[str]:
        return [a.name for a in self._space]

    def find(self, x: np.ndarray, *, target_score: float, max_changes: int = 3) -> Recourse:
        return _search(self.model, self._space, x, target_score, max_changes)


def _build_space(model: DecisionModel, spec: DecisionSpec | None = None) -> tuple[_Actionable, ...]:
    spec = spec or model.spec
    out: list[_Actionable] = []
    sensitive = set(spec.sensitive.attributes)
    for j, name in enumerate(model.feature_names):
        f = spec.features[name]
        if not f.actionable or name in sensitive:
            continue
        if f.type == "categorical":
            cats = tuple(f.categories or ())
            if len(cats) < 2:
                continue
            out.append(_Actionable(j, name, f.label, True, cats, np.empty(0), 0, 1.0))
            continue
        assert f.min is not None and f.max is not None  # the spec validator ensures it
        if f.max <= f.min:
            continue
        sign = 1 if f.monotone == "increasing" else -1 if f.monotone == "decreasing" else 0
        grid = numeric_grid(f.min, f.max, f.step)
        out.append(_Actionable(j, name, f.label, False, (), grid, sign, f.max - f.min))
    return tuple(out)


_SPACES: weakref.WeakKeyDictionary[DecisionModel, tuple[_Actionable, ...]] = (
    weakref.WeakKeyDictionary()
)


def _space_for(model: DecisionModel) -> tuple[_Actionable, ...]:
    try:
        found = _SPACES.get(model)
    except TypeError:
        return _build_space(model)
    if found is None:
        found = _build_space(model)
        _SPACES[model] = found
    return found


def _moves(a: _Actionable, v: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate values for one feature from value ``v`` and their normalised sizes."""
    if v != v:  # missing: nothing known to move from
        return np.empty(0), np.empty(0)
    if a.categorical:
        values = np.array([k for k in range(len(a.categories)) if k != int(v)], dtype=np.float64)
        return values, np.ones(values.size)
    g = a.grid
    if a.sign > 0:
        values = g[g > v]
    elif a.sign < 0:
        values = g[g < v][::-1]
    else:
        values = g[g != v]
        values = values[np.argsort(np.abs(values - v), kind="stable")]
    if values.size > COARSE_CANDIDATES:
        # thin evenly by distance, keeping the nearest and the farthest move
        pick = np.unique(np.linspace(0, values.size - 1, COARSE_CANDIDATES).round().astype(int))
        values = values[pick]
    return values, np.abs(values - v) / a.span


def _search(
    model: DecisionModel,
    space: tuple[_Actionable, ...],
    x: np.ndarray,
    target: float,
    max_changes: int,
) -> Recourse:
    x0 = np.asarray(x, dtype=np.float64).reshape(-1).copy()
    if x0.size != len(model.feature_names):
        raise ValueError(
            f"encoded row must have {len(model.feature_names)} columns (got {x0.size})"
        )
    if not 0.0 < target < 1.0:
        raise ValueError(f"target_score must be strictly between 0 and 1 (got {target})")
    original = float(model.score(x0[None, :])[0])
    if original >= target:
        return Recourse(
            found=True,
            changes=(),
            original_score=original,
            new_score=original,
            target_score=target,
            message=(
                f"The current estimate ({original:.0%}) already reaches the {target:.0%}"
                " needed; no change is needed."
            ),
        )

    cur = x0.copy()
    cur_score = original
    changed: list[int] = []  # positions in ``space``, in the order they were changed
    while len(changed) < max_changes and cur_score < target:
        blocks: list[tuple[int, np.ndarray, np.ndarray]] = []
        for i, a in enumerate(space):
            if i in changed:
                continue
            values, sizes = _moves(a, float(cur[a.j]))
            if values.size:
                blocks.append((i, values, sizes))
        if not blocks:
            break
        n = sum(b[1].size for b in blocks)
        cand = np.repeat(cur[None, :], n, axis=0)
        owner = np.empty(n, dtype=np.intp)
        sizes_all = np.empty(n)
        row = 0
        for i, values, sizes in blocks:
            k = values.size
            cand[row : row + k, space[i].j] = values
            owner[row : row + k] = i
            sizes_all[row : row + k] = sizes
            row += k
        scores = np.asarray(model.score(cand), dtype=np.float64)
        reach = np.flatnonzero(scores >= target)
        if reach.size:
            # every move that reaches the target ties on the goal: take the smallest
            best = int(reach[np.lexsort((-scores[reach], sizes_all[reach]))[0]])
        else:
            best = int(np.lexsort((sizes_all, -scores))[0])
            if scores[best] - cur_score <= 1e-12:
                break  # no single move helps any more
        i = int(owner[best])
        cur = cand[best].copy()
        cur_score = float(scores[best])
        changed.append(i)

    if cur_score >= target:
        for i in changed:
            cur, cur_score = _shrink(model, space[i], x0, cur, cur_score, target)

    final = float(model.score(cur[None, :])[0])  # the proof: re-score the counterfactual
    changes = tuple(
        Change(
            feature=a.name,
            label=a.label,
            from_value=_raw(a, float(x0[a.j])),
            to_value=_raw_required(a, float(cur[a.j])),
        )
        for a in space
        if not _same(float(cur[a.j]), float(x0[a.j]))
    )
    found = final >= target and bool(changes)
    return Recourse(
        found=found,
        changes=changes if found else (),
        original_score=original,
        new_score=final if found else original,
        target_score=target,
        message=_message(changes, final, target) if found else NO_RECOURSE_MESSAGE,
    )


def _shrink(
    model: DecisionModel,
    a: _Actionable,
    x0: np.ndarray,
    cur: np.ndarray,
    cur_score: float,
    target: float,
) -> tuple[np.ndarray, float]:
    """Move feature ``a`` back toward its original value while the target still holds."""
    start, end = float(x0[a.j]), float(cur[a.j])
    if a.categorical:
        path = np.array([start])
    else:
        lo, hi = min(start, end), max(start, end)
        inner = a.grid[(a.grid > lo) & (a.grid < hi)]
        if end < start:
            inner = inner[::-1]
        path = np.concatenate([[start], inner])  # ordered from the original toward ``end``
    # Coarse-to-fine: score a thinned path, then the stretch before the first success.
    lo_i, hi_i = 0, path.size  # search path[lo_i:hi_i]; path[hi_i] (or ``end``) succeeds
    best_row, best_score = cur, cur_score
    while hi_i > lo_i:
        idx = np.arange(lo_i, hi_i)
        if idx.size > SHRINK_BATCH:
            idx = np.unique(np.linspace(lo_i, hi_i - 1, SHRINK_BATCH).round().astype(int))
        cand = np.repeat(cur[None, :], idx.size, axis=0)
        cand[:, a.j] = path[idx]
        scores = np.asarray(model.score(cand), dtype=np.float64)
        ok = np.flatnonzero(scores >= target)
        if not ok.size:
            break
        first = int(ok[0])
        best_row, best_score = cand[first].copy(), float(scores[first])
        if first == 0 or idx[first] - idx[first - 1] <= 1:
            break  # nothing untested lies closer to the original
        lo_i, hi_i = int(idx[first - 1]) + 1, int(idx[first])
    return best_row, best_score


def _same(a: float, b: float) -> bool:
    return (a != a and b != b) or a == b


def _raw(a: _Actionable, code: float) -> RawValue:
    if code != code:
        return None
    return a.categories[int(code)] if a.categorical else float(code)


def _raw_required(a: _Actionable, code: float) -> float | str:
    value = _raw(a, code)
    assert value is not None  # moves never go to a missing value
    return value


def _fmt(value: RawValue) -> str:
    if value is None:
        return "not given"
    if isinstance(value, str):
        return f"'{value}'"
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _message(changes: tuple[Change, ...], score: float, target: float) -> str:
    parts = [f"{c.label} from {_fmt(c.from_value)} to {_fmt(c.to_value)}" for c in changes]
    what = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return (
        f"Changing {what} would change this decision: the model's estimate would be"
        f" {score:.0%}, reaching the {target:.0%} needed."
    )


def find_recourse(
    model: DecisionModel,
    x: np.ndarray,
    *,
    target_score: float,
    max_changes: int = 3,
    builder: RecourseBuilder | RationaleBuilder | None = None,
) -> Recourse:
    """A counterfactual for one encoded row ``x`` (shape ``(1, p)``) reaching ``target_score``.

    ``builder`` is the per-model helper the service made once when it loaded the
    model: a :class:`RecourseBuilder` is used as is; for a :class:`RationaleBuilder`
    (or none) the model's cached search space is used. Either must belong to ``model``.
    """
    if max_changes < 1:
        raise ValueError(f"max_changes must be at least 1 (got {max_changes})")
    if builder is not None and builder.model is not model:
        raise ValueError("builder was made for another model")
    b = builder if isinstance(builder, RecourseBuilder) else RecourseBuilder(model)
    return b.find(x, target_score=target_score, max_changes=max_changes)
