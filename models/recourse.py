"""Counterfactual recourse: what a person could change to be approved (R4).

The search moves only features the spec marks ``actionable``, numeric monotone
features only in their favourable direction and on the feature's ``step`` grid
(or a grid of about twenty points when no step is given), categorical features
to another allowed category. Features whose value is missing are left alone:
there is no known value to move from.

It searches only within the training support. A numeric feature moves only
within the spec's ``[min, max]`` intersected with the model's out-of-distribution
band for it (``OODDetector.low_``/``high_``), a categorical one only to
categories seen in training, and every candidate row the detector flags (for
example for an unusual combination of values) is discarded, so a returned
counterfactual is never out of distribution. A model without a detector is
searched within the spec's ranges.

What "reaching approval" means is decided by the caller. With a ``judge`` (a
function that takes encoded rows and returns, for each, the :class:`Verdict`
a real request with those values would get: validation, out-of-distribution
check, the policy's rules and thresholds), a counterfactual counts only when
its score reaches the target *and* the judge would approve it automatically;
the returned counterfactual is judged once more and its verdict is reported in
``would_be``. Without a judge only the score threshold is checked, and the
message says so instead of promising an approval. When nothing reaches an
approval, the message says so plainly and what the best attempt found would
get; its changes are in ``best_attempt``, never in ``changes``.

It is a greedy search in vectorised rounds. Each round scores every single
feature move from the current point in one ``model.score`` call (and judges,
in one call, the moves that reach the target score); if some moves reach an
approval, the smallest of them (normalised by the feature's range) is taken,
otherwise the move with the largest score gain among those not blocked by a
rule (ties: the smallest change). At most ``max_changes`` distinct features
change. Once an approval is reached each changed feature is moved back toward
its original value as far as the approval still holds (coarse-to-fine search
over its grid, one batched call per level), and a change that is not needed is
dropped. Finally the counterfactual is re-scored by the same model (a model that
scores rows alone keeps the score the search already had, which is the same bit for
bit) and judged again.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from models.decision_model import DecisionModel
from models.estimators import MonotoneGBM
from models.rationale import RationaleBuilder
from models.spec import DecisionSpec, Feature

NO_RECOURSE_MESSAGE = (
    "No change to the factors you can act on, within their allowed ranges and the values"
    " seen in training, would lead to an automated approval."
)
NO_RECOURSE_UNJUDGED_MESSAGE = (
    "No change to the factors you can act on, within their allowed ranges and the values"
    " seen in training, would reach the score needed for approval."
)
GRID_POINTS = 20
"""Intervals of the grid for numeric features without a ``step``."""
COARSE_CANDIDATES = 16
"""At most this many values per numeric feature are scored in one search round."""
SHRINK_BATCH = 32
"""At most this many values are scored per level while shrinking a change."""

_MESSAGE_JUDGE_LENGTH = (
    "judge must return one verdict per row: {n} rows; got {got} verdicts instead"
)

RawValue = float | str | None
Outcome = Literal["approved", "declined", "referred"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Verdict(_Frozen):
    """The outcome a real request with given values would get, and why if it is referred."""

    outcome: Outcome
    reasons: tuple[str, ...] = ()
    """Plain-language detail of each rule that would refer it to a person."""


Judge = Callable[[np.ndarray], Sequence[Verdict]]
"""Re-decides encoded rows exactly like real requests: one :class:`Verdict` per row."""


@dataclass(frozen=True)
class ScoredJudge:
    """A :data:`Judge` that can also be given the rows' model scores, so as not to repeat them.

    ``decide(rows, scores)`` must give what ``decide(rows, None)`` gives when ``scores``
    are ``model.score`` of each row (NaN where not known). The search passes scores only
    for a model that scores rows alone (:func:`scores_rows_alone`), where a row's score
    does not depend on the rows scored with it.
    """

    decide: Callable[[np.ndarray, np.ndarray | None], Sequence[Verdict]]

    def __call__(self, rows: np.ndarray) -> Sequence[Verdict]:
        return self.decide(rows, None)


# A search asks for model scores, verdicts or the training-support check of encoded rows
# by yielding (kind, rows, scores) and is sent the answer; ``scores`` are the rows' known
# scores for a judge (NaN where unknown). The driver (:func:`_drive`) answers the
# questions of many searches with one call of each kind per step.
_Kind = Literal["inside", "score", "judge"]
_Ask = tuple[_Kind, np.ndarray, np.ndarray | None]
_Steps = Generator[_Ask, Any, "Recourse"]


class Change(_Frozen):
    """One feature's change: raw values, as a person would state them, with the feature's unit.

    ``parts`` says what a change of a ratio feature means in its numerator's amount
    at the person's own denominator (``Feature.ratio_of``), when that is known.
    """

    feature: str
    label: str
    from_value: RawValue
    to_value: float | str
    unit: str | None = None
    parts: str | None = None


class Recourse(_Frozen):
    """A counterfactual re-scored (and re-decided, with a judge), or a plain statement of none.

    ``found`` is true only when the counterfactual in ``changes`` reaches the goal:
    with a judge (``re_decided``) an automated approval, without one the target
    score. ``would_be`` is the judge's verdict on the counterfactual, or on the
    best attempt when none was found (``None`` without a judge or attempt).
    """

    found: bool
    re_decided: bool
    changes: tuple[Change, ...]
    original_score: float
    new_score: float
    target_score: float
    would_be: Verdict | None
    best_attempt: tuple[Change, ...] = ()
    best_attempt_score: float | None = None
    message: str


@dataclass(frozen=True)
class _Actionable:
    """Search facts for one actionable feature."""

    j: int
    name: str
    label: str
    categorical: bool
    categories: tuple[str, ...]
    grid: np.ndarray  # allowed values, ascending: numeric values or category codes
    sign: int  # +1 may only go up, -1 only down, 0 either way
    span: float  # max - min, to normalise changes
    unit: str | None = None
    ratio: _Ratio | None = None
    # the moves from each value this feature was searched from (see :func:`_moves`)
    moves: dict[float, tuple[np.ndarray, np.ndarray]] = field(
        default_factory=dict, compare=False, repr=False
    )


@dataclass(frozen=True)
class _Ratio:
    """How to state a ratio feature's change as its numerator's amount."""

    numerator_label: str
    numerator_unit: str | None
    denominator_j: int  # the denominator's position in the encoded row
    denominator_label: str
    denominator_unit: str | None


def numeric_grid(minimum: float, maximum: float, step: float | None) -> np.ndarray:
    """Allowed values of a numeric feature for recourse.

    With a ``step``: the multiples of it within ``[min, max]``. Without one: the
    integers when both ends are integers at most ``GRID_POINTS`` apart (counts and
    0/1 indicators), else ``GRID_POINTS + 1`` evenly spaced points.

    Examples
    --------
    >>> numeric_grid(6, 24, 6).tolist()
    [6.0, 12.0, 18.0, 24.0]
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

    def find(
        self,
        x: np.ndarray,
        *,
        target_score: float,
        max_changes: int = 3,
        judge: Judge | None = None,
    ) -> Recourse:
        """A counterfactual for one encoded row ``x`` reaching ``target_score``.

        ``judge`` re-decides candidate rows like real requests (see :data:`Judge`);
        pass it whenever the caller can, so the answer says what would really happen.
        """
        return self.find_many([x], target_score=target_score, max_changes=max_changes, judge=judge)[
            0
        ]

    def find_many(
        self,
        xs: Sequence[np.ndarray],
        *,
        target_score: float,
        max_changes: int = 3,
        judge: Judge | None = None,
        scores: Sequence[float] | None = None,
    ) -> list[Recourse]:
        """:meth:`find` for many encoded rows, searched side by side.

        Each search is the same as alone (each row's candidates are scored and
        judged row by row, the model and the judge see each row independently);
        only the calls are shared: every step, the rows all searches ask about go
        to the model in one call, to the judge in one call and to the training-support
        check in one pass (:meth:`models.ood.OODDetector.inside_each`, which answers each
        search exactly as a call of its own). ``scores`` may be
        the rows' scores the caller already has (``model.score`` of each row), so
        they are not computed again.
        """
        if max_changes < 1:
            raise ValueError(f"max_changes must be at least 1; got {max_changes} instead")
        if scores is not None and len(scores) != len(xs):
            raise ValueError(f"scores has {len(scores)} values for {len(xs)} rows")
        search = _Search(self.model, self._space, target_score, judge)
        return _drive(
            self.model,
            judge,
            [
                search.run(x, max_changes, None if scores is None else float(scores[i]))
                for i, x in enumerate(xs)
            ],
        )


def scores_rows_alone(model: DecisionModel) -> bool:
    """Whether ``model`` scores every row of a matrix independently of the other rows.

    LightGBM predicts row by row, so stacking rows of many requests changes no bit.
    A linear model's matrix product does not: BLAS sums a row's terms in an order that
    depends on the matrix's shape, so a row's log-odds can differ in the last bit
    between a batch and a request alone; such a model is called per request instead.
    """
    return isinstance(getattr(model, "estimator", None), MonotoneGBM)


def _drive(model: DecisionModel, judge: Judge | None, searches: list[_Steps]) -> list[Recourse]:
    """Run searches side by side, answering each step's questions with shared calls.

    For a model that does not score rows alone (:func:`scores_rows_alone`) each search's
    question is answered by its own call, exactly as a search alone would be.
    """
    shared = scores_rows_alone(model)
    results: list[Recourse | None] = [None] * len(searches)
    asked: dict[int, _Ask] = {}
    kinds: tuple[_Kind, ...] = ("inside", "score", "judge")

    def advance(i: int, answer: Any) -> None:
        try:
            asked[i] = searches[i].send(answer)
        except StopIteration as done:
            results[i] = done.value

    for i in range(len(searches)):
        advance(i, None)
    while asked:
        answers: dict[int, Any] = {}
        for kind in kinds:
            askers = [i for i, a in asked.items() if a[0] == kind]
            if not askers:
                continue
            if kind == "inside":
                # the support check is the same for any grouping of rows (OODDetector.inside_each)
                ood = model.ood
                assert ood is not None
                answers.update(
                    zip(askers, ood.inside_each([asked[i][1] for i in askers]), strict=True)
                )
                continue
            for who in [askers] if shared else [[i] for i in askers]:
                answers.update(_answer(model, judge, kind, who, [asked[i] for i in who], shared))
        asked.clear()
        for i, answer in answers.items():
            advance(i, answer)
    assert all(r is not None for r in results)
    return [r for r in results if r is not None]


def _answer(
    model: DecisionModel,
    judge: Judge | None,
    kind: str,
    who: list[int],
    asks: list[_Ask],
    shared: bool,
) -> dict[int, Any]:
    """One call for the questions of searches ``who`` (their ``asks``), split back per search."""
    rows = [a[1] for a in asks]
    stacked = np.concatenate(rows) if len(rows) > 1 else rows[0]
    if kind == "score":
        got: Any = np.asarray(model.score(stacked), dtype=np.float64)
    else:
        assert judge is not None
        if isinstance(judge, ScoredJudge) and shared:
            known = [
                np.full(r.shape[0], np.nan) if a[2] is None else a[2]
                for r, a in zip(rows, asks, strict=True)
            ]
            got = list(judge.decide(stacked, np.concatenate(known) if len(known) > 1 else known[0]))
        else:
            got = list(judge(stacked))
        if len(got) != stacked.shape[0]:
            raise ValueError(_MESSAGE_JUDGE_LENGTH.format(n=stacked.shape[0], got=len(got)))
    answers: dict[int, Any] = {}
    at = 0
    for i, r in zip(who, rows, strict=True):
        answers[i] = got[at : at + r.shape[0]]
        at += r.shape[0]
    return answers


def _build_space(model: DecisionModel, spec: DecisionSpec | None = None) -> tuple[_Actionable, ...]:
    spec = spec or model.spec
    ood = model.ood
    out: list[_Actionable] = []
    sensitive = set(spec.sensitive.attributes)
    for j, name in enumerate(model.feature_names):
        f = spec.features[name]
        if not f.actionable or name in sensitive:
            continue
        if f.type == "categorical":
            cats = tuple(f.categories or ())
            codes = np.arange(len(cats), dtype=np.float64)
            if ood is not None:  # only categories seen in training
                codes = codes[np.isin(codes, sorted(ood.seen_codes_.get(j, set())))]
            if codes.size < 2:
                continue
            out.append(_Actionable(j, name, f.label, True, cats, codes, 0, 1.0))
            continue
        assert f.min is not None and f.max is not None  # the spec validator ensures it
        if f.max <= f.min:
            continue
        sign = 1 if f.monotone == "increasing" else -1 if f.monotone == "decreasing" else 0
        grid = numeric_grid(f.min, f.max, f.step)
        if ood is not None:  # only values typical of training
            grid = grid[(grid >= ood.low_[j]) & (grid <= ood.high_[j])]
        if grid.size == 0:
            continue
        out.append(
            _Actionable(
                j,
                name,
                f.label,
                False,
                (),
                grid,
                sign,
                f.max - f.min,
                f.unit,
                _ratio(spec, f, model),
            )
        )
    return tuple(out)


def _ratio(spec: DecisionSpec, f: Feature, model: DecisionModel) -> _Ratio | None:
    if f.ratio_of is None:
        return None
    num = spec.features[f.ratio_of.numerator]
    den_name = f.ratio_of.denominator
    names = list(model.feature_names)
    if den_name not in names:  # a serving spec's feature the model does not use
        return None
    den = spec.features[den_name]
    return _Ratio(num.label, num.unit, names.index(den_name), den.label, den.unit)


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


MOVES_CACHED = 4096
"""At most this many values per feature keep their moves (:func:`_moves`)."""


def _moves(a: _Actionable, v: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate values for one feature from value ``v`` and their normalised sizes."""
    if v != v:  # missing: nothing known to move from
        return np.empty(0), np.empty(0)
    found = a.moves.get(v)
    if found is None:
        found = _new_moves(a, v)
        for array in found:
            array.flags.writeable = False  # shared by every search from this value
        if len(a.moves) >= MOVES_CACHED:
            a.moves.clear()
        a.moves[v] = found
    return found


def _new_moves(a: _Actionable, v: float) -> tuple[np.ndarray, np.ndarray]:
    g = a.grid
    if a.categorical:
        values = g[g != v]
        return values, np.ones(values.size)
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


@dataclass
class _Attempt:
    """A point the search reached: the row, its score and, if judged, its verdict."""

    row: np.ndarray
    score: float
    verdict: Verdict | None
    scored: bool = True
    """Whether ``score`` is the model's score of ``row`` (not a score the caller gave)."""


class _Search:
    """One search: the model, its space, the target and the judge, with their checks."""

    def __init__(
        self,
        model: DecisionModel,
        space: tuple[_Actionable, ...],
        target: float,
        judge: Judge | None,
    ) -> None:
        if not 0.0 < target < 1.0:
            raise ValueError(f"target_score must be strictly between 0 and 1; got {target} instead")
        self.model = model
        self.space = space
        self.target = target
        self.judge = judge
        # a row's score is then the same in any call: the proof need not score it again
        self.rescore = not scores_rows_alone(model)

    # -- the three checks --------------------------------------------------------
    def inside(self, rows: np.ndarray) -> Generator[_Ask, Any, np.ndarray]:
        if self.model.ood is None:
            return np.ones(rows.shape[0], dtype=bool)
        out: np.ndarray = yield ("inside", rows, None)
        return out

    def verdicts(
        self, rows: np.ndarray, scores: np.ndarray | None
    ) -> Generator[_Ask, Any, list[Verdict]]:
        """The judge's verdicts; ``scores``: the rows' model scores if known (NaN if not)."""
        assert self.judge is not None
        out: list[Verdict] = yield ("judge", rows, scores)
        return out

    def score(self, rows: np.ndarray) -> Generator[_Ask, Any, np.ndarray]:
        out: np.ndarray = yield ("score", rows, None)
        return out

    def reaching(
        self, rows: np.ndarray, scores: np.ndarray
    ) -> Generator[_Ask, Any, tuple[np.ndarray, np.ndarray, dict[int, Verdict]]]:
        """Which rows reach the goal, which reach the score but are blocked, and the verdicts."""
        reach = scores >= self.target
        if self.judge is None or not reach.any():
            return reach, np.zeros_like(reach), {}
        idx = np.flatnonzero(reach)
        verdicts = yield from self.verdicts(rows[idx], scores[idx])
        judged = dict(zip(idx.tolist(), verdicts, strict=True))
        ok = np.zeros_like(reach)
        ok[[i for i, v in judged.items() if v.outcome == "approved"]] = True
        return ok, reach & ~ok, judged

    # -- the search ----------------------------------------------------------------
    def run(self, x: np.ndarray, max_changes: int, original: float | None = None) -> _Steps:
        """One search (a generator: see :func:`_drive`); ``original`` is the row's score."""
        model = self.model
        x0 = np.asarray(x, dtype=np.float64).reshape(-1).copy()
        if x0.size != len(model.feature_names):
            raise ValueError(
                f"encoded row must have {len(model.feature_names)} columns; got {x0.size} instead"
            )
        # the judge scores the row itself unless the search did (the caller's score is
        # only used for the search, as before)
        known = np.array([np.nan])
        scored = original is None
        if original is None:
            original = float((yield from self.score(x0[None, :]))[0])
            known = np.array([original])
        if original >= self.target:
            verdict = (
                (yield from self.verdicts(x0[None, :], known))[0]
                if self.judge is not None
                else None
            )
            if verdict is None or verdict.outcome == "approved":
                return (
                    yield from self._answer(
                        x0, _Attempt(x0, original, verdict, scored), original, None
                    )
                )

        cur = _Attempt(x0.copy(), original, None, scored)
        blocked: _Attempt | None = None  # reaches the score, but a rule refers it
        changed: list[int] = []  # positions in ``space``, in the order they were changed
        reached = False
        while len(changed) < max_changes and not reached:
            cand, owner, sizes = yield from self._candidates(cur.row, changed)
            if cand.shape[0] == 0:
                break
            scores = yield from self.score(cand)
            ok, stopped, judged = yield from self.reaching(cand, scores)
            if stopped.any():
                k = int(np.flatnonzero(stopped)[np.argmax(scores[stopped])])
                if blocked is None or scores[k] > blocked.score:
                    blocked = _Attempt(cand[k].copy(), float(scores[k]), judged[k])
            if ok.any():
                # every move that reaches an approval ties on the goal: take the smallest
                hits = np.flatnonzero(ok)
                best = int(hits[np.lexsort((-scores[hits], sizes[hits]))[0]])
                reached = True
            else:
                open_ = np.flatnonzero(~stopped)
                if open_.size == 0:
                    break
                best = int(open_[np.lexsort((sizes[open_], -scores[open_]))[0]])
                if scores[best] - cur.score <= 1e-12:
                    break  # no single move helps any more
            cur = _Attempt(cand[best].copy(), float(scores[best]), judged.get(best))
            changed.append(int(owner[best]))

        if reached:
            for i in changed:
                cur = yield from self._shrink(self.space[i], x0, cur)
            return (yield from self._answer(x0, cur, original, None))
        best_attempt = cur if changed else None
        if blocked is not None and (best_attempt is None or blocked.score >= best_attempt.score):
            best_attempt = blocked
        return (yield from self._answer(x0, None, original, best_attempt))

    def _candidates(
        self, row: np.ndarray, changed: list[int]
    ) -> Generator[_Ask, Any, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Every single move from ``row`` inside the training support, its owner and size."""
        blocks: list[tuple[int, np.ndarray, np.ndarray]] = []
        for i, a in enumerate(self.space):
            if i in changed:
                continue
            values, sizes = _moves(a, float(row[a.j]))
            if values.size:
                blocks.append((i, values, sizes))
        n = sum(b[1].size for b in blocks)
        cand = np.repeat(row[None, :], n, axis=0)
        owner = np.empty(n, dtype=np.intp)
        sizes_all = np.empty(n)
        at = 0
        for i, values, sizes in blocks:
            k = values.size
            cand[at : at + k, self.space[i].j] = values
            owner[at : at + k] = i
            sizes_all[at : at + k] = sizes
            at += k
        keep = yield from self.inside(cand)
        return cand[keep], owner[keep], sizes_all[keep]

    def _shrink(
        self, a: _Actionable, x0: np.ndarray, cur: _Attempt
    ) -> Generator[_Ask, Any, _Attempt]:
        """Move feature ``a`` back toward its original value while the approval still holds."""
        start, end = float(x0[a.j]), float(cur.row[a.j])
        if a.categorical:
            path = np.array([start])
        else:
            lo, hi = min(start, end), max(start, end)
            inner = a.grid[(a.grid > lo) & (a.grid < hi)]
            if end < start:
                inner = inner[::-1]
            path = np.concatenate([[start], inner])  # ordered from the original toward ``end``
        # Coarse-to-fine: test a thinned path, then the stretch before the first success.
        lo_i, hi_i = 0, path.size  # search path[lo_i:hi_i]; path[hi_i] (or ``end``) succeeds
        best = cur
        while hi_i > lo_i:
            idx = np.arange(lo_i, hi_i)
            if idx.size > SHRINK_BATCH:
                idx = np.unique(np.linspace(lo_i, hi_i - 1, SHRINK_BATCH).round().astype(int))
            cand = np.repeat(cur.row[None, :], idx.size, axis=0)
            cand[:, a.j] = path[idx]
            scores = (yield from self.score(cand)).copy()
            # never step outside the training support
            scores[~(yield from self.inside(cand))] = -np.inf
            ok, _, judged = yield from self.reaching(cand, scores)
            hits = np.flatnonzero(ok)
            if not hits.size:
                break
            first = int(hits[0])
            best = _Attempt(cand[first].copy(), float(scores[first]), judged.get(first))
            if first == 0 or idx[first] - idx[first - 1] <= 1:
                break  # nothing untested lies closer to the original
            lo_i, hi_i = int(idx[first - 1]) + 1, int(idx[first])
        return best

    # -- the answer ----------------------------------------------------------------
    def _final(self, at: _Attempt) -> Generator[_Ask, Any, tuple[float, Verdict | None]]:
        """The proof: re-score the row with the same model and re-decide it with the judge.

        A model that scores rows alone gives the row the score it got in the search, bit
        for bit, so that score is taken instead of a second call.
        """
        row = at.row
        if at.scored and not self.rescore:
            score = at.score
        else:
            score = float((yield from self.score(row[None, :]))[0])
        verdict = (
            (yield from self.verdicts(row[None, :], np.array([score])))[0]
            if self.judge is not None
            else None
        )
        return score, verdict

    def _answer(
        self,
        x0: np.ndarray,
        found_at: _Attempt | None,
        original: float,
        best_attempt: _Attempt | None,
    ) -> _Steps:
        judged = self.judge is not None
        target = self.target
        if found_at is not None:
            score, verdict = yield from self._final(found_at)
            changes = _changes(self.space, x0, found_at.row)
            # a changed row must lie inside the support (true by construction; checked
            # because it is cheap); the unchanged row is what the person asked about
            ok = score >= target and (
                not changes or bool((yield from self.inside(found_at.row[None, :]))[0])
            )
            if judged:
                ok = ok and verdict is not None and verdict.outcome == "approved"
            if ok:
                return Recourse(
                    found=True,
                    re_decided=judged,
                    changes=changes,
                    original_score=original,
                    new_score=score,
                    target_score=target,
                    would_be=verdict,
                    message=_found_message(changes, score, target, judged),
                )
            # the proof failed (a judge that changed its mind): report it as an attempt
            best_attempt = _Attempt(found_at.row, score, verdict)
        attempt: tuple[Change, ...] = ()
        attempt_score: float | None = None
        verdict = None
        if best_attempt is not None:
            attempt = _changes(self.space, x0, best_attempt.row)
            attempt_score, verdict = yield from self._final(best_attempt)
        return Recourse(
            found=False,
            re_decided=judged,
            changes=(),
            original_score=original,
            new_score=original,
            target_score=target,
            would_be=verdict,
            best_attempt=attempt,
            best_attempt_score=attempt_score if attempt else None,
            message=_not_found_message(attempt, attempt_score, verdict, target, judged),
        )


def _changes(space: tuple[_Actionable, ...], x0: np.ndarray, row: np.ndarray) -> tuple[Change, ...]:
    return tuple(
        Change(
            feature=a.name,
            label=a.label,
            from_value=_raw(a, float(x0[a.j])),
            to_value=_raw_required(a, float(row[a.j])),
            unit=a.unit,
            parts=None if a.ratio is None else _parts(a, x0, row),
        )
        for a in space
        if not _same(float(row[a.j]), float(x0[a.j]))
    )


def _parts(a: _Actionable, x0: np.ndarray, row: np.ndarray) -> str | None:
    """A ratio's change as its numerator's amount at the person's own denominator."""
    r = a.ratio
    assert r is not None
    before, after = float(x0[a.j]), float(row[a.j])
    den0, den1 = float(x0[r.denominator_j]), float(row[r.denominator_j])
    if den0 != den0 or den1 != den1 or before != before or den0 == 0 or den1 == 0:
        return None  # no denominator to state the amount at
    amounts = (
        f"that is {r.numerator_label} from {format_value(before * den0, r.numerator_unit)}"
        f" to {format_value(after * den1, r.numerator_unit)}"
    )
    if den0 == den1:
        return (
            f"{amounts} at your {r.denominator_label} of {format_value(den0, r.denominator_unit)}"
        )
    # the denominator changes too: each amount at its own denominator
    return (
        f"{amounts} with your {r.denominator_label} from {format_value(den0, r.denominator_unit)}"
        f" to {format_value(den1, r.denominator_unit)}"
    )


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


def format_value(value: RawValue, unit: str | None = None) -> str:
    """A value as a person reads it: ``1,200 EUR``, ``24 months``, ``35%``, ``'rent'``."""
    if value is None:
        return "not given"
    if isinstance(value, str):
        return f"'{value}'"
    if value.is_integer():
        text = f"{int(value):,}"
    else:
        text = f"{value:,.2f}".rstrip("0").rstrip(".")
    if unit is None:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def _change_text(c: Change) -> str:
    text = (
        f"{c.label} from {format_value(c.from_value, c.unit)} to {format_value(c.to_value, c.unit)}"
    )
    return text if c.parts is None else f"{text} ({c.parts})"


def _what(changes: tuple[Change, ...]) -> str:
    parts = [_change_text(c) for c in changes]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _found_message(changes: tuple[Change, ...], score: float, target: float, judged: bool) -> str:
    if not changes:
        if judged:
            return (
                f"The current estimate ({score:.0%}) already reaches the {target:.0%} needed"
                " and the case would be approved automatically; no change is needed."
            )
        return (
            f"The current estimate ({score:.0%}) already reaches the {target:.0%} needed"
            " for approval; no change is needed to reach the score."
        )
    if judged:
        return (
            f"Changing {_what(changes)} would lead to an automated approval: re-decided"
            " with the same checks and policy as a real request, the model's estimate"
            f" would be {score:.0%} ({target:.0%} needed) and no rule would refer it to"
            " a person."
        )
    return (
        f"Changing {_what(changes)} would raise the model's estimate to {score:.0%},"
        f" reaching the {target:.0%} needed for approval. This was checked against the"
        " score threshold only, not re-decided with the policy's other rules."
    )


def _not_found_message(
    attempt: tuple[Change, ...],
    score: float | None,
    verdict: Verdict | None,
    target: float,
    judged: bool,
) -> str:
    head = NO_RECOURSE_MESSAGE if judged else NO_RECOURSE_UNJUDGED_MESSAGE
    if not attempt or score is None:
        return head
    best = (
        f"{head} The best attempt found, changing {_what(attempt)}, would give an estimate"
        f" of {score:.0%} ({target:.0%} needed)"
    )
    if verdict is None:
        return f"{best}."
    if verdict.outcome == "referred":
        why = "; ".join(verdict.reasons) or "the policy refers it"
        return f"{best}, which would still be referred to a person because: {why}."
    if verdict.outcome == "declined":
        return f"{best}, which would still be declined."
    # approved here means the search could not keep within max_changes and prove it
    return f"{best}."


def find_recourse(
    model: DecisionModel,
    x: np.ndarray,
    *,
    target_score: float,
    max_changes: int = 3,
    builder: RecourseBuilder | RationaleBuilder | None = None,
    judge: Judge | None = None,
) -> Recourse:
    """A counterfactual for one encoded row ``x`` (shape ``(1, p)``) reaching ``target_score``.

    ``builder`` is the per-model helper the service made once when it loaded the
    model: a :class:`RecourseBuilder` is used as is; for a :class:`RationaleBuilder`
    (or none) the model's cached search space is used. Either must belong to ``model``.
    ``judge`` re-decides candidates like real requests (see :class:`RecourseBuilder`).
    """
    if builder is not None and builder.model is not model:
        raise ValueError("builder was made for another model")
    b = builder if isinstance(builder, RecourseBuilder) else RecourseBuilder(model)
    return b.find(x, target_score=target_score, max_changes=max_changes, judge=judge)
