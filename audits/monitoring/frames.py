"""The monitoring input: one frame of logged decisions, and the windows that cut it.

Columns of the decisions frame (one row per decision; the ledger reader builds it):

=======================  =========================  ===========================================
column                   type                       meaning
=======================  =========================  ===========================================
``decision_id``          str, unique                the decision's id
``decided_at``           datetime64 (naive = UTC)   when the automated decision was made
``outcome``              str                        ``approved``, ``declined`` or ``referred``
                                                    (the automated outcome)
``score``                float in [0, 1], optional  the model's score (for score drift)
``model_recommendation`` str or missing, optional   ``approve``, ``decline`` or ``uncertain``:
                                                    what the model alone would do (review cases)
``reviewer``             str or missing             who resolved the referral case
``final_outcome``        str or missing             ``approved``/``declined``: the automated
                                                    outcome, or the reviewer's resolution of a
                                                    referred case; missing: review pending.
                                                    Before any appeal (see ``appeal_upheld``)
``resolved_at``          datetime64 or missing      when ``final_outcome`` was reached (for an
                                                    automated decision, ``decided_at``)
``appealed``             bool                       the person contested the decision
``appeal_upheld``        bool or missing            the appeal succeeded (outcome changed in the
                                                    person's favour); missing: pending or none
``label``                0/1 or missing, optional   what actually happened (``POST /outcomes``)
feature columns          as in the spec             for drift (the personal payload's values)
attribute columns        str or missing             ``audit_attributes``, one per sensitive
                                                    attribute; missing: group unknown
=======================  =========================  ===========================================

Only ``decision_id``, ``decided_at`` and ``outcome`` are needed for everything; the
human-plus-model figures need ``reviewer``, ``final_outcome``, ``resolved_at``,
``appealed`` and ``appeal_upheld`` too (:data:`SYSTEM_COLUMNS`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from models.spec import WINDOW_KINDS, WindowKind

DECISION_ID = "decision_id"
DECIDED_AT = "decided_at"
OUTCOME = "outcome"
SCORE = "score"
MODEL_RECOMMENDATION = "model_recommendation"
REVIEWER = "reviewer"
FINAL_OUTCOME = "final_outcome"
RESOLVED_AT = "resolved_at"
APPEALED = "appealed"
APPEAL_UPHELD = "appeal_upheld"
LABEL = "label"

REQUIRED_COLUMNS = (DECISION_ID, DECIDED_AT, OUTCOME)
SYSTEM_COLUMNS = (REVIEWER, FINAL_OUTCOME, RESOLVED_AT, APPEALED, APPEAL_UPHELD)
OUTCOMES = ("approved", "declined", "referred")
FINAL_OUTCOMES = ("approved", "declined")
RECOMMENDATIONS = ("approve", "decline", "uncertain")

FeatureKind = Literal["numeric", "categorical"]

_DAY_NS = 86_400 * 10**9
_EPOCH = dt.date(1970, 1, 1)


class MonitoringInputError(ValueError):
    """A monitoring input frame or parameter is invalid: names the column, what is allowed and what was found."""


@dataclass(frozen=True, order=True)
class Window:
    """A calendar window in UTC: a day, or an ISO week starting on Monday."""

    kind: WindowKind
    start: dt.date

    @property
    def end(self) -> dt.date:
        """The first day after the window."""
        return self.start + dt.timedelta(days=1 if self.kind == "day" else 7)

    @property
    def label(self) -> str:
        """``day 2026-12-07`` or ``week 2026-12-07`` (the Monday)."""
        return f"{self.kind} {self.start.isoformat()}"


def check_kind(window: str) -> WindowKind:
    """The window kind, or a :class:`MonitoringInputError` naming the allowed ones."""
    if window not in WINDOW_KINDS:
        raise MonitoringInputError(f"'window' must be one of {list(WINDOW_KINDS)} (got {window!r})")
    return window  # type: ignore[return-value]


def utc_naive(values: pd.Series, column: str) -> pd.Series:
    """A datetime column as naive UTC; refuses anything that is not a datetime."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    if not pd.api.types.is_datetime64_any_dtype(values.dtype):
        raise MonitoringInputError(
            f"column {column!r} must hold datetimes (datetime64, naive taken as UTC)"
            f" (got dtype {values.dtype})"
        )
    return values


def window_codes(
    decided_at: pd.Series, window: WindowKind
) -> tuple[NDArray[np.intp], tuple[Window, ...]]:
    """The window of every row (an index into the returned, sorted windows).

    Days are counted in UTC; a week starts on Monday (1970-01-01 was a Thursday, so
    day ``d`` since the epoch is weekday ``(d + 3) % 7``).
    """
    kind = check_kind(window)
    stamps = utc_naive(decided_at, DECIDED_AT)
    if bool(stamps.isna().any()):
        raise MonitoringInputError(
            f"column {DECIDED_AT!r} must not be missing"
            f" (got {int(stamps.isna().sum())} missing values)"
        )
    days = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64) // _DAY_NS
    starts = days if kind == "day" else days - (days + 3) % 7
    observed, codes = np.unique(starts, return_inverse=True)
    windows = tuple(Window(kind, _EPOCH + dt.timedelta(days=int(d))) for d in observed)
    return codes.astype(np.intp, copy=False), windows


def require_columns(frame: pd.DataFrame, columns: Iterable[str], why: str) -> None:
    """Refuse a frame without ``columns``, naming the missing ones and what needs them."""
    if not isinstance(frame, pd.DataFrame):
        raise MonitoringInputError(
            f"the decisions must be a pandas DataFrame (got {type(frame).__name__})"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MonitoringInputError(
            f"{why} needs column(s) {missing}; the frame has {list(frame.columns)}"
        )


def check_values(
    frame: pd.DataFrame, column: str, allowed: tuple[str, ...], *, missing: bool
) -> None:
    """Refuse values of ``column`` outside ``allowed`` (and missing ones unless ``missing``)."""
    values = frame[column]
    present = values.dropna() if missing else values
    bad = ~present.isin(allowed)
    if bool(bad.any()):
        shown = sorted({repr(v) for v in present[bad].head(50)})[:5]
        extra = " or missing" if missing else ""
        raise MonitoringInputError(
            f"column {column!r} must hold one of {list(allowed)}{extra}"
            f" (got {', '.join(shown)} in {int(bad.sum())} rows)"
        )


def check_decisions(frame: pd.DataFrame) -> None:
    """Check the columns every monitoring figure needs (see the module notes)."""
    require_columns(frame, REQUIRED_COLUMNS, "monitoring")
    check_values(frame, OUTCOME, OUTCOMES, missing=False)
    if not frame[DECISION_ID].is_unique:
        repeated = frame[DECISION_ID][frame[DECISION_ID].duplicated()].head(3).tolist()
        raise MonitoringInputError(
            f"column {DECISION_ID!r} must be unique, one row per decision (got repeats {repeated})"
        )
    utc_naive(frame[DECIDED_AT], DECIDED_AT)
