"""Group labels of sensitive attributes, as audits see them (bands and maps applied, missing named)."""

from __future__ import annotations

import pandas as pd

from models.spec import UNMAPPED_GROUP, BandsDerived, DecisionSpec, MapDerived

MISSING_GROUP = "(missing)"

__all__ = ["MISSING_GROUP", "UNMAPPED_GROUP", "sensitive_labels", "unmapped_values"]


def _as_text(value: object) -> str:
    # a code read as a float because its column has gaps ("6.0") still matches "6"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _source(frame: pd.DataFrame, name: str, derived: str) -> pd.Series:
    if derived and name not in frame.columns:
        raise KeyError(
            f"derived column {derived!r} is computed from column {name!r}, which the data"
            f" does not have; columns: {list(frame.columns)}"
        )
    return frame[name]


def _mapped(d: MapDerived, col: pd.Series) -> pd.Series:
    groups = d.group_of()
    labels = col.map(
        lambda v: MISSING_GROUP if pd.isna(v) else groups.get(_as_text(v), UNMAPPED_GROUP)
    )
    return labels.astype(str)


def sensitive_labels(spec: DecisionSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Group label of every row for each sensitive attribute.

    Bands and maps are applied; a missing value is :data:`MISSING_GROUP`, and a value
    a map does not list is :data:`UNMAPPED_GROUP` (count them with :func:`unmapped_values`).
    """
    out: dict[str, pd.Series] = {}
    for attr in spec.sensitive.attributes:
        d = spec.derived.get(attr)
        if isinstance(d, BandsDerived):
            raw = pd.to_numeric(_source(frame, d.source, attr), errors="coerce")
            banded = pd.cut(raw, bins=d.edges, labels=d.labels, right=False)
            out[attr] = banded.astype("string").fillna(MISSING_GROUP).astype(str)
        elif isinstance(d, MapDerived):
            out[attr] = _mapped(d, _source(frame, d.source, attr))
        else:
            col = frame[attr]
            labels = col.map(lambda v: MISSING_GROUP if pd.isna(v) else str(v))
            out[attr] = labels.astype(str)
    return pd.DataFrame(out, index=frame.index)


def unmapped_values(spec: DecisionSpec, frame: pd.DataFrame) -> dict[str, dict[str, int]]:
    """For every ``kind = "map"`` derived column: source value → rows the map does not cover.

    Every map column is listed, with ``{}`` when all its values are mapped; missing
    values are not counted here (audits name them :data:`MISSING_GROUP`). Values are
    ordered by count, largest first, then by value.

    Examples
    --------
    >>> unmapped_values(spec, frame)  # doctest: +SKIP
    {'region': {'PR': 12, 'GU': 3}}
    """
    out: dict[str, dict[str, int]] = {}
    for name, d in spec.derived.items():
        if not isinstance(d, MapDerived):
            continue
        col = _source(frame, d.source, name)
        groups = d.group_of()
        text = col[col.notna()].map(_as_text)
        counts = text[~text.isin(list(groups))].value_counts()
        ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
        out[name] = {str(v): int(n) for v, n in ordered}
    return out
