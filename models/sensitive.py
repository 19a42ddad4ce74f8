"""Group labels of sensitive attributes, as audits see them (bands applied, missing named)."""

from __future__ import annotations

import pandas as pd

from models.spec import DecisionSpec

MISSING_GROUP = "(missing)"


def sensitive_labels(spec: DecisionSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """Group label of every row for each sensitive attribute (bands applied, missing named)."""
    out: dict[str, pd.Series] = {}
    for attr in spec.sensitive.attributes:
        if attr in spec.derived:
            d = spec.derived[attr]
            raw = pd.to_numeric(frame[d.source], errors="coerce")
            banded = pd.cut(raw, bins=d.edges, labels=d.labels, right=False)
            out[attr] = banded.astype("string").fillna(MISSING_GROUP).astype(str)
        else:
            col = frame[attr]
            labels = col.map(lambda v: MISSING_GROUP if pd.isna(v) else str(v))
            out[attr] = labels.astype(str)
    return pd.DataFrame(out, index=frame.index)
