"""The one feature encoder: spec-defined, shared by training, audits and serving.

It maps raw feature values to a float matrix in the spec's feature order:
numeric values as they are, categorical values as their index in the spec's
category list, missing values as NaN. Model families build on this matrix.
The record path avoids pandas so a single request costs microseconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from models.spec import DecisionSpec


class EncodingError(ValueError):
    """A value cannot be encoded under the spec."""


class FeatureEncoder:
    """Encode raw feature values as a float matrix, in the spec's feature order."""

    def __init__(self, spec: DecisionSpec) -> None:
        self.names: list[str] = spec.feature_names
        self.kinds: list[str] = [spec.features[n].type for n in self.names]
        self.codes: dict[str, dict[str, int]] = {
            n: {c: i for i, c in enumerate(f.categories or [])}
            for n, f in spec.features.items()
            if f.type == "categorical"
        }
        self.categorical_index: list[int] = [
            i for i, k in enumerate(self.kinds) if k == "categorical"
        ]

    @property
    def n_features(self) -> int:
        return len(self.names)

    def _code(self, name: str, value: Any) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        try:
            return float(self.codes[name][str(value)])
        except KeyError:
            raise EncodingError(
                f"feature {name!r}: unknown category {value!r}; allowed: {list(self.codes[name])}"
            ) from None

    def encode_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        out = np.empty((len(records), self.n_features), dtype=np.float64)
        for r, rec in enumerate(records):
            for j, name in enumerate(self.names):
                value = rec.get(name)
                if self.kinds[j] == "categorical":
                    out[r, j] = self._code(name, value)
                else:
                    out[r, j] = np.nan if value is None else float(value)
        return out

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            raise EncodingError(f"missing feature columns {missing}")
        out = np.empty((len(frame), self.n_features), dtype=np.float64)
        for j, name in enumerate(self.names):
            col = frame[name]
            if self.kinds[j] == "categorical":
                text = col.map(lambda v: v if pd.isna(v) else str(v))
                mapped = text.map(self.codes[name])
                unknown = text.notna() & mapped.isna()
                if unknown.any():
                    raise EncodingError(
                        f"feature {name!r}: unknown categories"
                        f" {sorted(set(text[unknown]))}; allowed: {list(self.codes[name])}"
                    )
                out[:, j] = mapped.to_numpy(dtype=float, na_value=np.nan)
            else:
                out[:, j] = pd.to_numeric(col).to_numpy(dtype=float, na_value=np.nan)
        return out

    def decode_value(self, j: int, code: float) -> Any:
        """The raw value behind an encoded cell (for rationales and counterfactuals)."""
        if np.isnan(code):
            return None
        if self.kinds[j] == "categorical":
            return list(self.codes[self.names[j]])[int(code)]
        return float(code)
