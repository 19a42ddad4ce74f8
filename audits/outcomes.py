"""The served policy's outcome mix by group: approved, referred, declined, adverse.

Each held-out row falls in one of four cells: approved automatically, referred with
an approve-or-uncertain recommendation, referred with a decline recommendation (the
adverse review), declined automatically. Every rate here is a sum of those cells
over a group's rows, so, as for the confusion cells of :mod:`audits.fairness`,
the bootstrap draws the cells of the finest partition from a multinomial and
sums them into the coarser partitions: exactly the distribution of a row bootstrap.

The *adverse rate* is the share of rows the model recommends declining (score under
``decline_below``), whether the policy declines them or refers them for review. The
*adverse impact ratio* of a group is the lowest adverse rate among the groups in the
ratios over the group's own: 1 for the best-treated group, lower when the group meets
adverse outcomes more often (a group without adverse outcomes has ratio 1). As for
impact ratios, groups under ``min_share`` are reported and left out of the ratios.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray

from audits.bootstrap import percentile_interval
from audits.groups import aggregate_cells, partition_rows
from audits.report import OutcomeAttribute, OutcomeGroup, OutcomeResult
from models.policy import APPROVED, DECLINED, REFERRED, PolicyOutcomes

CELL_APPROVED, CELL_REFERRED, CELL_REFERRED_ADVERSE, CELL_DECLINED = 0, 1, 2, 3
N_OUTCOME_CELLS = 4

FloatArray = NDArray[np.float64]


def outcome_cells(outcomes: PolicyOutcomes) -> NDArray[np.int64]:
    """The cell (``CELL_*``) of every row."""
    cell = np.full(len(outcomes.outcome), CELL_REFERRED, dtype=np.int64)
    cell[outcomes.outcome == APPROVED] = CELL_APPROVED
    cell[outcomes.outcome == DECLINED] = CELL_DECLINED
    cell[(outcomes.outcome == REFERRED) & outcomes.adverse] = CELL_REFERRED_ADVERSE
    return cell


def _rates(cells: NDArray[np.integer]) -> dict[str, FloatArray]:
    n = cells.sum(axis=-1).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = cells / n[..., np.newaxis]
    share = np.where(n[..., np.newaxis] > 0, share, np.nan)
    return {
        "approval_rate": share[..., CELL_APPROVED],
        "referral_rate": share[..., CELL_REFERRED] + share[..., CELL_REFERRED_ADVERSE],
        "decline_rate": share[..., CELL_DECLINED],
        "adverse_rate": share[..., CELL_REFERRED_ADVERSE] + share[..., CELL_DECLINED],
    }


def adverse_impact_ratios(adverse: FloatArray, included: NDArray[np.bool_]) -> FloatArray:
    """Lowest adverse rate among the included groups over each group's adverse rate.

    Examples
    --------
    >>> adverse_impact_ratios(np.array([0.1, 0.2, 0.0]), np.array([True, True, False]))
    array([1. , 0.5, nan])
    """
    if not included.any():
        return np.full(adverse.shape, np.nan)
    lowest = np.fmin.reduce(adverse[..., included], axis=-1)[..., np.newaxis]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(adverse > 0, lowest / adverse, 1.0)
    ratio = np.where(np.isnan(adverse), np.nan, ratio)
    return np.where(included, ratio, np.nan)


def _interval_fields(
    name: str, samples: FloatArray | None, confidence: float, index: int | tuple[()]
) -> dict[str, float]:
    if samples is None:
        return {}
    low, high = percentile_interval(samples, confidence)
    return {f"{name}_ci_low": float(low[index]), f"{name}_ci_high": float(high[index])}


def evaluate_outcomes(
    outcomes: PolicyOutcomes,
    sensitive: Mapping[str, ArrayLike],
    *,
    min_group_size: int = 30,
    min_share: float = 0.02,
    n_boot: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> OutcomeResult:
    """Outcome rates overall and per group of each attribute and their intersection.

    Parameters
    ----------
    outcomes : PolicyOutcomes
        What the policy did with each row.
    sensitive : mapping of str to array-like
        Attribute name to one group label per row.
    min_group_size, min_share, n_boot, confidence, seed
        As in :func:`audits.fairness.evaluate_fairness` (same meanings and defaults).

    Returns
    -------
    OutcomeResult
    """
    cells_of_row = outcome_cells(outcomes)
    n_rows = len(cells_of_row)
    partitions = partition_rows(sensitive, n_rows)
    finest = partitions[-1]
    finest_cells = np.bincount(
        finest.row_group.astype(np.int64) * N_OUTCOME_CELLS + cells_of_row,
        minlength=finest.n_groups * N_OUTCOME_CELLS,
    ).reshape(finest.n_groups, N_OUTCOME_CELLS)
    # its own stream, so the fairness intervals do not move when this is added
    rng = np.random.default_rng([seed, 11])
    draws = (
        rng.multinomial(n_rows, finest_cells.ravel() / n_rows, size=n_boot).reshape(
            n_boot, *finest_cells.shape
        )
        if n_boot > 0
        else None
    )

    total = finest_cells.sum(axis=0)
    total_rates = _rates(total)
    total_draws = _rates(draws.sum(axis=1)) if draws is not None else None
    overall_fields: dict[str, float] = {}
    for name, value in total_rates.items():
        overall_fields[name] = float(value)
        overall_fields |= _interval_fields(
            name, None if total_draws is None else total_draws[name], confidence, ()
        )
    overall = OutcomeGroup(
        group="all",
        n=n_rows,
        share=1.0,
        approved=int(total[CELL_APPROVED]),
        referred=int(total[CELL_REFERRED] + total[CELL_REFERRED_ADVERSE]),
        declined=int(total[CELL_DECLINED]),
        adverse=int(total[CELL_REFERRED_ADVERSE] + total[CELL_DECLINED]),
        included_in_ratios=True,
        insufficient=n_rows < min_group_size,
        **overall_fields,
    )

    attributes = []
    for partition in partitions:
        cells = aggregate_cells(finest_cells, partition.from_finest, partition.n_groups)
        sizes = cells.sum(axis=-1)
        share = sizes / n_rows
        included = share >= min_share
        rates = _rates(cells)
        rates["adverse_impact_ratio"] = adverse_impact_ratios(rates["adverse_rate"], included)
        samples: dict[str, FloatArray] | None = None
        if draws is not None:
            part_draws = aggregate_cells(draws, partition.from_finest, partition.n_groups)
            samples = _rates(part_draws)
            samples["adverse_impact_ratio"] = adverse_impact_ratios(
                samples["adverse_rate"], included
            )
        groups = []
        for g, label in enumerate(partition.labels):
            fields: dict[str, float] = {}
            for name, values in rates.items():
                fields[name] = float(values[g])
                fields |= _interval_fields(
                    name, None if samples is None else samples[name], confidence, g
                )
            c = cells[g]
            groups.append(
                OutcomeGroup(
                    group=label,
                    n=int(sizes[g]),
                    share=float(share[g]),
                    approved=int(c[CELL_APPROVED]),
                    referred=int(c[CELL_REFERRED] + c[CELL_REFERRED_ADVERSE]),
                    declined=int(c[CELL_DECLINED]),
                    adverse=int(c[CELL_REFERRED_ADVERSE] + c[CELL_DECLINED]),
                    included_in_ratios=bool(included[g]),
                    insufficient=bool(sizes[g] < min_group_size),
                    **fields,
                )
            )
        adverse = np.where(included, rates["adverse_rate"], np.nan)
        reference = (
            partition.labels[int(np.nanargmin(adverse))]
            if included.any() and not np.isnan(adverse).all()
            else None
        )
        attributes.append(
            OutcomeAttribute(
                attribute=partition.name,
                attributes=list(partition.attributes),
                reference_group=reference,
                groups=groups,
            )
        )
    return OutcomeResult(
        n=n_rows,
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        overall=overall,
        referral_rules={name: int(mask.sum()) for name, mask in outcomes.fired.items()},
        attributes=attributes,
    )
