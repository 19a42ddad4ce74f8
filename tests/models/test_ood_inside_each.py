"""``OODDetector.inside_each``: one pass for many blocks, each block answered as alone."""

from __future__ import annotations

import numpy as np

from models.ood import OODDetector


def _fitted() -> OODDetector:
    rng = np.random.default_rng(0)
    X = np.column_stack(
        [rng.normal(50, 10, 5000), rng.normal(0, 1, 5000), rng.integers(0, 3, 5000)]
    )
    X[:, 1] += X[:, 0] / 10  # correlated numerics
    X[rng.random(5000) < 0.05, 1] = np.nan
    return OODDetector(kinds=["numeric", "numeric", "categorical"], names=["a", "b", "c"]).fit(X)


def _at_the_limit(det: OODDetector, direction: np.ndarray) -> np.ndarray:
    """A row whose distance is the limit up to rounding: on the boundary of the joint test."""
    z = det.center_ + direction * det.scale_
    d = float(det._distance(z[None, :])[0])
    return det.center_ + direction * det.scale_ * (det.distance_limit_ / d)


def test_each_block_gets_what_inside_gives_it_alone() -> None:
    det = _fitted()
    rng = np.random.default_rng(1)
    blocks = []
    for k in range(40):
        n = int(rng.integers(1, 12))
        rows = np.column_stack(
            [rng.normal(50, 25, n), rng.normal(5, 3, n), rng.integers(-1, 5, n).astype(float)]
        )
        rows[rng.random(n) < 0.1, 1] = np.nan
        rows[rng.random(n) < 0.1, 2] = np.nan
        if k % 3 == 0:  # rows on the boundary, where rounding decides
            edge = _at_the_limit(det, rng.normal(size=2))
            rows[0, :2] = edge
            rows[0, 2] = 1.0
        blocks.append(rows)
    got = det.inside_each(blocks)
    assert len(got) == len(blocks)
    for block, answer in zip(blocks, got, strict=True):
        assert answer.tolist() == det.inside(block).tolist()
    assert det.inside_each(blocks[:1])[0].tolist() == det.inside(blocks[0]).tolist()
    # and inside agrees with check row by row away from the boundary
    flat = np.concatenate(blocks)
    d = det._distance(np.where(np.isnan(flat[:, :2]), det.center_, flat[:, :2]))
    far = np.abs(d - det.distance_limit_) > 1e-6
    assert [not det.check(r) for r in flat[far]] == det.inside(flat[far]).tolist()
