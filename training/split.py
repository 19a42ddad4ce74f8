"""Seeded, stratified train / calibration / test split, recorded by row id."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split

from models.spec import Split


@dataclass(frozen=True)
class SplitIndices:
    train: np.ndarray
    calibration: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, list[int]]:
        return {k: getattr(self, k).tolist() for k in ("train", "calibration", "test")}


def split_rows(y: np.ndarray, split: Split, seed: int) -> SplitIndices:
    """Stratify on the target so every part keeps the outcome rate."""
    rows = np.arange(len(y))
    rest, test = train_test_split(rows, test_size=split.test, stratify=y, random_state=seed)
    train, calib = train_test_split(
        rest, test_size=split.calibration, stratify=y[rest], random_state=seed + 1
    )
    return SplitIndices(train=np.sort(train), calibration=np.sort(calib), test=np.sort(test))
