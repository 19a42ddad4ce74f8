"""Input rows: reading a Parquet or CSV file and turning each row into a decide request.

The columns are the use case's features plus, optionally, the request's envelope
fields (``application_ref``, ``automated_decision_consent``, ``training_data_consent``).
Any other column stops the run before anything is decided, since every row would be
refused for it. A row's number is its 0-based position in the file.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from serving.batch.errors import BatchError

__all__ = ["ENVELOPE", "check_columns", "file_sha256", "read_table", "requests_of"]

#: columns that are not features: the rest of a ``POST /decide`` body
ENVELOPE = ("application_ref", "automated_decision_consent", "training_data_consent")
SUFFIXES = (".parquet", ".pq", ".csv")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_table(path: Path) -> pa.Table:
    """The whole input as an Arrow table (Parquet by content, CSV by its ``.csv`` suffix)."""
    if not path.is_file():
        raise BatchError(f"INPUT {path} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise BatchError(
            f"INPUT {path}: the file name must end in one of {list(SUFFIXES)}; got {suffix!r}"
        )
    try:
        if suffix == ".csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(path)
        import pyarrow.parquet as pq

        return pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise BatchError(f"INPUT {path} could not be read as {suffix[1:]}: {exc}") from None


def check_columns(columns: list[str], feature_names: list[str], use_case: str) -> None:
    """Refuse a file whose columns cannot make a request (every row would be refused)."""
    allowed = set(feature_names) | set(ENVELOPE)
    unknown = [c for c in columns if c not in allowed]
    missing = [f for f in feature_names if f not in columns]
    if unknown or missing:
        parts = []
        if unknown:
            parts.append(f"unknown columns {unknown}")
        if missing:
            parts.append(f"missing feature columns {missing}")
        raise BatchError(
            f"INPUT columns do not fit use case {use_case!r}: {'; '.join(parts)}. Allowed: the"
            f" features {feature_names} and the optional columns {list(ENVELOPE)}"
        )


def _plain(value: Any) -> Any:
    # what a JSON body would carry: None for missing, Python scalars
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NA or value is pd.NaT:
        return None
    if hasattr(value, "item"):  # numpy scalar
        return _plain(value.item())
    return value


def requests_of(frame: pd.DataFrame, use_case: str) -> list[dict[str, Any]]:
    """One ``POST /decide`` body per row (validated later, row by row, as the service does)."""
    envelope = [c for c in ENVELOPE if c in frame.columns]
    features = [c for c in frame.columns if c not in ENVELOPE]
    bodies = []
    for record in frame.to_dict("records"):
        body: dict[str, Any] = {
            "use_case": use_case,
            "features": {k: _plain(record[k]) for k in features},
        }
        for k in envelope:
            value = _plain(record[k])
            if value is not None:  # a missing value takes the service's default
                body[k] = value
        bodies.append(body)
    return bodies
