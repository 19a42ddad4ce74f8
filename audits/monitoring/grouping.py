"""Groups from ``audit_attributes`` and the figure type every group table uses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from audits.groups import Partition, partition_rows
from audits.monitoring.frames import (
    DECIDED_AT,
    MonitoringInputError,
    Window,
    check_decisions,
    require_columns,
    window_codes,
)
from models.spec import WindowKind


@dataclass(frozen=True)
class Figure:
    """One figure of a group (or of a reviewer within a group).

    ``n`` is the number of rows the figure rests on (its denominator). With fewer
    than ``min_group_size`` rows it is ``suppressed`` and its value and interval are
    None: nothing is reported on tiny groups. ``value`` is None too when the figure
    is undefined (no rows).
    """

    value: float | None
    n: int
    suppressed: bool
    ci_low: float | None = None
    ci_high: float | None = None


def figure(
    numerator: float,
    n: int,
    min_group_size: int,
    ci: tuple[float, float] | None = None,
    *,
    value: float | None = None,
) -> Figure:
    """A rate ``numerator / n`` (or the given ``value``), suppressed below ``min_group_size``."""
    if n < min_group_size or n == 0:
        return Figure(None, n, n < min_group_size)
    found = numerator / n if value is None else value
    if found is None or not np.isfinite(found):
        return Figure(None, n, False)
    low = high = None
    if ci is not None and np.isfinite(ci[0]) and np.isfinite(ci[1]):
        low, high = float(ci[0]), float(ci[1])
    return Figure(float(found), n, False, low, high)


@dataclass(frozen=True)
class KnownGroups:
    """The rows whose every attribute is known, split as the audit splits them.

    ``partitions`` index the known rows (``rows``) only: one per attribute, then the
    intersection when there are two or more (:func:`audits.groups.partition_rows`).
    """

    rows: NDArray[np.bool_]
    partitions: list[Partition]


def known_groups(frame: pd.DataFrame, attributes: Sequence[str]) -> KnownGroups | None:
    """Partition the rows with every attribute known; None without attributes or such rows."""
    if isinstance(attributes, str):
        raise MonitoringInputError(
            f"'attributes' must be a list of column names (got the string {attributes!r})"
        )
    if not attributes:
        return None
    require_columns(frame, attributes, "group figures (audit_attributes)")
    known = ~frame[list(attributes)].isna().any(axis=1).to_numpy()
    if not known.any():
        return KnownGroups(known, [])
    columns = {}
    for a in attributes:
        # factorize first: turning a million rows into str one by one costs more than all else
        codes, uniques = pd.factorize(frame[a][known])
        labels = np.asarray([str(u) for u in uniques], dtype=str)
        columns[a] = labels[codes]
    return KnownGroups(known, partition_rows(columns, int(known.sum())))


@dataclass(frozen=True)
class Prepared:
    """What every part of a report computes first: the checks, the windows, the groups."""

    window_of: NDArray[np.intp]
    windows: tuple[Window, ...]
    groups: KnownGroups | None


def check_min_group_size(min_group_size: object) -> None:
    """Refuse a ``min_group_size`` that is not a whole number of at least 1 (bools included)."""
    if (
        isinstance(min_group_size, bool)
        or not isinstance(min_group_size, int)
        or min_group_size < 1
    ):
        raise MonitoringInputError(f"'min_group_size' must be an int >= 1 (got {min_group_size!r})")


def prepare(frame: pd.DataFrame, attributes: Sequence[str], window: WindowKind) -> Prepared:
    """Check the decisions, cut them into windows and split the rows into groups."""
    check_decisions(frame)
    codes, windows = window_codes(frame[DECIDED_AT], window)
    return Prepared(codes, windows, known_groups(frame, attributes))
