"""Input rows for batch tests: real rows of a shipped use case, with known bad ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from docket.usecases import resolve_spec
from training.data import load_dataset

USE_CASE = "credit-eligibility"
#: rows made invalid on purpose, and the field each breaks (independent of the code under test)
BAD = {3: ("features.Income", 1e12), 11: ("features.Home", "castle")}


def sample_rows(n: int, seed: int = 11, bad: bool = True) -> pd.DataFrame:
    spec = resolve_spec(USE_CASE)
    frame = load_dataset(spec).frame[spec.feature_names]
    picked = np.random.default_rng(seed).choice(len(frame), size=n, replace=False)
    rows = frame.iloc[picked].reset_index(drop=True)
    if bad:
        for row, (field, value) in BAD.items():
            column = field.split(".", 1)[1]
            rows.loc[row, column] = value
    return rows


def write_input(rows: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        rows.to_csv(path, index=False)
    else:
        rows.to_parquet(path, index=False)
    return path
