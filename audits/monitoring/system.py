"""The human-plus-model system by group, overall and within each reviewer.

Per window (of ``decided_at``), attribute (or intersection) and group, and again per
reviewer within each group (the referral cases that reviewer resolved):

==========================  =============================================  ======================
figure                      numerator                                      rows (``n``)
==========================  =============================================  ======================
``referral_rate``           referred                                       decisions (group only)
``reviewer_approval_share`` referred, finally approved                     referred, final
``override_rate``           referred, final differs from the model's       referred, final, model
                            recommendation                                 said approve/decline
``override_to_decline``     model said approve, final declined             referred, final, approve
``override_to_approve``     model said decline, final approved             referred, final, decline
``median_hours_to_final``   median hours from decision to final outcome    referred, resolved
``appeal_rate``             appealed                                       decisions (group) /
                                                                           resolved cases (reviewer)
``appeal_success``          appeal upheld                                  appealed, appeal decided
==========================  =============================================  ======================

Without a ``model_recommendation`` column a referral case's recommendation counts as
unknown, and the override figures rest on no rows. A figure resting on fewer than
``min_group_size`` rows is suppressed (:class:`audits.monitoring.grouping.Figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from audits.monitoring.frames import (
    APPEAL_UPHELD,
    APPEALED,
    DECIDED_AT,
    FINAL_OUTCOME,
    FINAL_OUTCOMES,
    MODEL_RECOMMENDATION,
    OUTCOME,
    RECOMMENDATIONS,
    RESOLVED_AT,
    REVIEWER,
    SYSTEM_COLUMNS,
    MonitoringInputError,
    Window,
    check_decisions,
    check_values,
    require_columns,
    utc_naive,
)
from audits.monitoring.grouping import Figure, Prepared, check_min_group_size, figure, prepare
from models.spec import WindowKind

RATE_FIGURES = (
    "referral_rate",
    "reviewer_approval_share",
    "override_rate",
    "override_to_decline",
    "override_to_approve",
    "appeal_rate",
    "appeal_success",
)
SYSTEM_FIGURES = (*RATE_FIGURES, "median_hours_to_final")


@dataclass(frozen=True)
class SystemRow:
    """The figures of one group (``reviewer`` None) or one reviewer within one group.

    ``figures`` is keyed by :data:`SYSTEM_FIGURES`; a reviewer's row has no
    ``referral_rate`` (reviewers do not refer).
    """

    window: Window
    attribute: str
    group: str
    reviewer: str | None
    n: int
    figures: dict[str, Figure]


@dataclass(frozen=True)
class _Indicators:
    referred: NDArray[np.bool_]
    final: NDArray[np.bool_]
    approved: NDArray[np.bool_]
    rec_approve: NDArray[np.bool_]
    rec_decline: NDArray[np.bool_]
    appealed: NDArray[np.bool_]
    appeal_decided: NDArray[np.bool_]
    upheld: NDArray[np.bool_]
    hours: NDArray[np.float64]

    def numerators_and_rows(self) -> dict[str, tuple[NDArray[np.bool_], NDArray[np.bool_]]]:
        """Per rate figure, (counted rows, rows it rests on) — the table in the module notes."""
        case = self.referred & self.final
        judged_approve = case & self.rec_approve
        judged_decline = case & self.rec_decline
        judged = judged_approve | judged_decline
        overridden = (judged_approve & ~self.approved) | (judged_decline & self.approved)
        everyone = np.ones(len(self.referred), dtype=np.bool_)
        return {
            "referral_rate": (self.referred, everyone),
            "reviewer_approval_share": (case & self.approved, case),
            "override_rate": (overridden, judged),
            "override_to_decline": (judged_approve & ~self.approved, judged_approve),
            "override_to_approve": (judged_decline & self.approved, judged_decline),
            "appeal_rate": (self.appealed, everyone),
            "appeal_success": (self.appeal_decided & self.upheld, self.appeal_decided),
        }


def _bool_column(
    frame: pd.DataFrame, column: str, *, missing: bool
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """(value, known) of a bool column; refuses anything but True/False (and missing if allowed)."""
    values = frame[column]
    known = values.notna().to_numpy()
    present = values[known]
    bad = ~present.isin([True, False])
    if bool(bad.any()):
        shown = sorted({repr(v) for v in present[bad].head(50)})[:5]
        extra = " or missing" if missing else ""
        raise MonitoringInputError(
            f"column {column!r} must hold True or False{extra}"
            f" (got {', '.join(shown)} in {int(bad.sum())} rows)"
        )
    if not missing and not known.all():
        raise MonitoringInputError(
            f"column {column!r} must hold True or False, never missing"
            f" (got {int((~known).sum())} missing values)"
        )
    out = np.zeros(len(values), dtype=np.bool_)
    out[known] = present.astype(bool).to_numpy()
    return out, known


def _indicators(frame: pd.DataFrame) -> _Indicators:
    require_columns(frame, SYSTEM_COLUMNS, "the human-plus-model figures")
    check_values(frame, FINAL_OUTCOME, FINAL_OUTCOMES, missing=True)
    outcome = frame[OUTCOME].to_numpy()
    final = frame[FINAL_OUTCOME]
    if MODEL_RECOMMENDATION in frame.columns:
        check_values(frame, MODEL_RECOMMENDATION, RECOMMENDATIONS, missing=True)
        rec = frame[MODEL_RECOMMENDATION].to_numpy()
    else:
        rec = np.full(len(frame), None, dtype=object)
    appealed, _ = _bool_column(frame, APPEALED, missing=False)
    upheld, appeal_decided = _bool_column(frame, APPEAL_UPHELD, missing=True)
    decided = utc_naive(frame[DECIDED_AT], DECIDED_AT)
    resolved = utc_naive(frame[RESOLVED_AT], RESOLVED_AT)
    hours = ((resolved - decided).dt.total_seconds() / 3600.0).to_numpy(dtype=np.float64)
    negative = hours < 0
    if negative.any():
        first = frame.index[negative][0]
        raise MonitoringInputError(
            f"column {RESOLVED_AT!r} must not be before {DECIDED_AT!r}"
            f" (got {int(negative.sum())} such rows, first at index {first!r})"
        )
    return _Indicators(
        referred=outcome == "referred",
        final=final.notna().to_numpy(),
        approved=(final == "approved").to_numpy(),
        rec_approve=rec == "approve",
        rec_decline=rec == "decline",
        appealed=appealed,
        appeal_decided=appeal_decided & appealed,
        upheld=upheld,
        hours=hours,
    )


def _medians(
    hours: NDArray[np.float64], mask: NDArray[np.bool_], code: NDArray[np.int64], size: int
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    kept = mask & ~np.isnan(hours)
    medians = pd.Series(hours[kept]).groupby(code[kept]).median()
    out = np.full(size, np.nan)
    out[medians.index.to_numpy()] = medians.to_numpy()
    return out, np.bincount(code[kept], minlength=size)


def system_by_group(
    decisions: pd.DataFrame,
    attributes: Sequence[str],
    window: WindowKind,
    *,
    min_group_size: int = 30,
    prepared: Prepared | None = None,
) -> list[SystemRow]:
    """The human-plus-model figures by group and by reviewer within each group, per window.

    Parameters
    ----------
    decisions : DataFrame
        ``decision_id``, ``decided_at``, ``outcome``, ``reviewer``, ``final_outcome``,
        ``resolved_at``, ``appealed``, ``appeal_upheld``, the attribute columns, and
        optionally ``model_recommendation`` (see :mod:`audits.monitoring.frames`).
    attributes : sequence of str
        Rows with any of them missing are left out.
    window : {"day", "week"}
    min_group_size : int
    prepared : Prepared, optional
        :func:`audits.monitoring.grouping.prepare` of the same arguments, when the
        caller has it already (the report does).

    Returns
    -------
    list of SystemRow
        Per window and attribute: the groups (``reviewer`` None), then each
        reviewer's rows in reviewer order.
    """
    check_decisions(decisions)
    check_min_group_size(min_group_size)
    ready = prepared or prepare(decisions, attributes, window)
    codes, windows, groups = ready.window_of, ready.windows, ready.groups
    ind = _indicators(decisions)
    if groups is None or not groups.partitions:
        return []
    known = groups.rows
    ind = _Indicators(**{k: v[known] for k, v in ind.__dict__.items()})
    reviewer_column = decisions[REVIEWER][known]
    has_reviewer = reviewer_column.notna().to_numpy() & ind.referred
    reviewers, reviewer_code = np.unique(
        reviewer_column[has_reviewer].astype(str).to_numpy(), return_inverse=True
    )
    n_reviewers = len(reviewers)
    window_of = codes[known].astype(np.int64)
    rates = ind.numerators_and_rows()
    resolved_case = ind.referred & ind.final
    rows: list[SystemRow] = []
    for partition in groups.partitions:
        g_count = partition.n_groups
        cell = window_of * g_count + partition.row_group
        size = len(windows) * g_count
        group_figures = _figures(rates, ind, cell, size, resolved_case, min_group_size)
        group_n = np.bincount(cell, minlength=size)
        reviewer_cell = cell[has_reviewer] * n_reviewers + reviewer_code
        r_size = size * n_reviewers
        sub = {name: (num[has_reviewer], den[has_reviewer]) for name, (num, den) in rates.items()}
        sub["appeal_rate"] = (ind.appealed[has_reviewer], resolved_case[has_reviewer])
        del sub["referral_rate"]
        sub_ind = _Indicators(**{k: v[has_reviewer] for k, v in ind.__dict__.items()})
        reviewer_figures = _figures(
            sub, sub_ind, reviewer_cell, r_size, resolved_case[has_reviewer], min_group_size
        )
        reviewer_n = np.bincount(reviewer_cell, minlength=r_size)
        for w, win in enumerate(windows):
            for g in range(g_count):
                at = w * g_count + g
                if group_n[at] == 0:
                    continue
                rows.append(
                    SystemRow(
                        window=win,
                        attribute=partition.name,
                        group=partition.labels[g],
                        reviewer=None,
                        n=int(group_n[at]),
                        figures={name: found[at] for name, found in group_figures.items()},
                    )
                )
            for r, reviewer in enumerate(reviewers):
                for g in range(g_count):
                    at = (w * g_count + g) * n_reviewers + r
                    if reviewer_n[at] == 0:
                        continue
                    rows.append(
                        SystemRow(
                            window=win,
                            attribute=partition.name,
                            group=partition.labels[g],
                            reviewer=str(reviewer),
                            n=int(reviewer_n[at]),
                            figures={name: found[at] for name, found in reviewer_figures.items()},
                        )
                    )
    return rows


def _figures(
    rates: dict[str, tuple[NDArray[np.bool_], NDArray[np.bool_]]],
    ind: _Indicators,
    cell: NDArray[np.int64],
    size: int,
    resolved_case: NDArray[np.bool_],
    min_group_size: int,
) -> dict[str, list[Figure]]:
    out: dict[str, list[Figure]] = {}
    for name, (counted, rows) in rates.items():
        numerator = np.bincount(cell, weights=counted & rows, minlength=size)
        n = np.bincount(cell, weights=rows, minlength=size).astype(np.int64)
        out[name] = [
            figure(float(k), int(m), min_group_size) for k, m in zip(numerator, n, strict=True)
        ]
    medians, n = _medians(ind.hours, resolved_case, cell, size)
    out["median_hours_to_final"] = [
        figure(0.0, int(m), min_group_size, value=float(v)) for v, m in zip(medians, n, strict=True)
    ]
    return out
