"""Threshold simulation: settings, sweeps, and the rates, workload and ratios of each setting.

Expected values are worked out by hand on ten rows with known scores, or by deciding
every row one at a time with :func:`models.policy.apply_policy` (what the service does).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
import pytest

from audits.simulation import (
    MAX_SETTINGS,
    MESSAGE_BAND,
    MESSAGE_NO_POLICY,
    MESSAGE_RANGE,
    MESSAGE_SWEEP_AND_OPTION,
    MESSAGE_SWEEP_NAME,
    MESSAGE_SWEEP_ORDER,
    MESSAGE_SWEEP_SIZE,
    MESSAGE_SWEEP_SYNTAX,
    SimulationError,
    SimulationResult,
    Workload,
    parse_sweep,
    policy_settings,
    simulate,
)
from audits.simulation_plot import simulation_png
from models.policy import apply_policy
from models.spec import Policy, PolicyRule

NAMES = ["approve_at", "decline_below"]
# ten rows: scores 0.05 .. 0.95; groups alternate a, b; row 8 has a high debt (the rule
# refers it), row 9 is out of distribution
SCORES = np.array([0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95])
GROUPS = {"g": np.array(list("ababababab"))}
FRAME = pd.DataFrame({"debt": [0, 0, 0, 0, 0, 0, 0, 0, 200, 0]})
OOD = np.array([False] * 9 + [True])
WORKLOAD = Workload(daily_volume=200, minutes_per_case=30)


def _policy(**update: object) -> Policy:
    base = Policy(
        approve_at=0.7,
        decline_below=0.3,
        rules=[PolicyRule(feature="debt", above=100, reason="a high debt is always reviewed")],
    )
    return Policy.model_validate(base.model_dump() | update)


def _run(settings: list[tuple[str, Policy]], **kwargs: Any) -> SimulationResult:
    options: dict[str, Any] = {
        "source": "held_out",
        "workload": WORKLOAD,
        "out_of_distribution": OOD,
        "sensitive": GROUPS,
        "min_group_size": 1,
        "min_share": 0.0,
    } | kwargs
    return simulate(settings, SCORES, FRAME, **options)


# ---- sweeps and settings ----------------------------------------------------------------------
def test_a_sweep_includes_its_end_despite_float_steps() -> None:
    # 0.6 + 6 * 0.05 is 0.8999999999999999 in floating point
    assert parse_sweep("approve_at=0.6:0.9:0.05").values == (
        0.6,
        0.65,
        0.7,
        0.75,
        0.8,
        0.85,
        0.9,
    )
    assert parse_sweep("decline_below=0.2:0.4:0.05").values == (0.2, 0.25, 0.3, 0.35, 0.4)
    assert parse_sweep("decline_below = 0.3:0.3:0.1").values == (0.3,)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("approve_at=0.6:0.9", MESSAGE_SWEEP_SYNTAX.format(names=NAMES, got="approve_at=0.6:0.9")),
        ("approve_at=a:b:c", MESSAGE_SWEEP_SYNTAX.format(names=NAMES, got="approve_at=a:b:c")),
        ("approve=0.6:0.9:0.1", MESSAGE_SWEEP_NAME.format(names=NAMES, got="approve")),
        (
            "approve_at=0.9:0.6:0.1",
            MESSAGE_SWEEP_ORDER.format(name="approve_at", start=0.9, end=0.6, step=0.1),
        ),
        (
            "approve_at=0.6:0.9:0",
            MESSAGE_SWEEP_ORDER.format(name="approve_at", start=0.6, end=0.9, step=0),
        ),
        (
            "approve_at=0.1:0.9:0.001",
            MESSAGE_SWEEP_SIZE.format(name="approve_at", most=MAX_SETTINGS, got=801),
        ),
    ],
)
def test_a_bad_sweep_says_what_is_allowed_and_what_was_received(text: str, message: str) -> None:
    with pytest.raises(SimulationError, match=re.escape(message)):
        parse_sweep(text)


def test_the_current_setting_comes_first_and_a_proposal_keeps_the_other_threshold() -> None:
    # given / when: only --approve-at is given
    settings = policy_settings(_policy(), approve_at=0.6)

    # then: the spec's setting, then 0.6 with the spec's decline_below; every rule kept
    assert [label for label, _ in settings] == ["current", "proposed"]
    assert (settings[0][1].approve_at, settings[0][1].decline_below) == (0.7, 0.3)
    assert (settings[1][1].approve_at, settings[1][1].decline_below) == (0.6, 0.3)
    assert settings[1][1].rules == _policy().rules


def test_a_sweep_moves_one_threshold_and_keeps_the_other_at_its_option() -> None:
    settings = policy_settings(
        _policy(), decline_below=0.2, sweep=parse_sweep("approve_at=0.5:0.6:0.1")
    )
    assert [(label, p.approve_at, p.decline_below) for label, p in settings] == [
        ("current", 0.7, 0.3),
        ("approve_at=0.5", 0.5, 0.2),
        ("approve_at=0.6", 0.6, 0.2),
    ]


def test_decline_below_above_approve_at_names_both_values_and_where_they_came_from() -> None:
    message = MESSAGE_BAND.format(
        decline=0.8, decline_source="--decline-below", approve=0.7, approve_source="the spec"
    )
    with pytest.raises(SimulationError, match=re.escape(message)):
        policy_settings(_policy(), decline_below=0.8)
    swept = MESSAGE_BAND.format(
        decline=0.5, decline_source="--sweep", approve=0.45, approve_source="--approve-at"
    )
    with pytest.raises(SimulationError, match=re.escape(swept)):
        policy_settings(_policy(), approve_at=0.45, sweep=parse_sweep("decline_below=0.4:0.5:0.1"))


@pytest.mark.parametrize(("approve_at", "shown"), [(1.0, "1.0"), (0.0, "0.0"), (-0.2, "-0.2")])
def test_a_threshold_outside_the_open_unit_interval_is_refused(
    approve_at: float, shown: str
) -> None:
    message = MESSAGE_RANGE.format(source="--approve-at", name="approve_at", value=approve_at)
    assert shown in message
    with pytest.raises(SimulationError, match=re.escape(message)):
        policy_settings(_policy(), approve_at=approve_at)


def test_a_swept_value_outside_the_unit_interval_is_refused() -> None:
    sweep = parse_sweep("approve_at=0.8:1.2:0.1")
    message = MESSAGE_RANGE.format(
        source=f"every value of --sweep {sweep.text!r}", name="approve_at", value=1.0
    )
    with pytest.raises(SimulationError, match=re.escape(message)):
        policy_settings(_policy(), sweep=sweep)


def test_sweeping_a_threshold_also_given_as_an_option_is_refused() -> None:
    sweep = parse_sweep("approve_at=0.6:0.9:0.1")
    message = MESSAGE_SWEEP_AND_OPTION.format(
        option="--approve-at", name="approve_at", value=0.8, sweep=sweep.text
    )
    with pytest.raises(SimulationError, match=re.escape(message)):
        policy_settings(_policy(), approve_at=0.8, sweep=sweep)


def test_a_spec_without_a_policy_has_nothing_to_simulate() -> None:
    with pytest.raises(SimulationError, match=re.escape(MESSAGE_NO_POLICY.format(name="x"))):
        policy_settings(None, use_case="x")


# ---- what each setting does: ten rows worked by hand ---------------------------------------------
def test_rates_workload_and_impact_ratios_of_ten_rows() -> None:
    # given: the spec's setting (0.7, 0.3) and approve_at 0.6
    result = _run(policy_settings(_policy(), approve_at=0.6))

    current, proposed = result.settings
    # then, current: approve recommended for rows 7, 8, 9; 8 (debt) and 9 (OOD) referred,
    # so only row 7 (group b) is approved; rows 0-2 declined; rows 3-6 uncertain
    assert (current.approved, current.referred, current.declined, current.adverse) == (1, 6, 3, 3)
    assert current.approval_rate == pytest.approx(0.1)
    assert current.referral_rate == pytest.approx(0.6)
    assert current.decline_rate == pytest.approx(0.3)
    assert current.referral_rules == {
        "uncertain_score": 4,
        "high_stakes:debt": 1,
        "out_of_distribution": 1,
    }
    # 600 referrals per 1,000; 200 a day x 0.6 x 30 min / 60 = 60 hours
    assert current.cases_per_1000 == pytest.approx(600)
    assert current.reviewer_hours_per_day == pytest.approx(60)
    # a approves 0 of 5, b 1 of 5: a's impact ratio 0 / 0.2 = 0
    ratios = {g.group: g.impact_ratio for g in current.groups}
    assert ratios == {"a": pytest.approx(0.0), "b": pytest.approx(1.0)}
    assert (current.worst_impact_ratio, current.worst_impact_group) == (0.0, "g: a")
    # adverse (score < 0.3): a has rows 0, 2 (0.4), b row 1 (0.2): a's ratio 0.2 / 0.4
    assert current.worst_adverse_impact_ratio == pytest.approx(0.5)

    # and at approve_at 0.6: row 6 (a) approved too; rows 3-5 stay uncertain
    assert (proposed.approved, proposed.referred, proposed.declined) == (2, 5, 3)
    assert proposed.reviewer_hours_per_day == pytest.approx(200 * 0.5 * 30 / 60)
    assert proposed.cases_per_1000 == pytest.approx(500)
    assert {g.group: g.impact_ratio for g in proposed.groups} == {"a": 1.0, "b": 1.0}


def test_refer_adverse_refers_every_decline_at_every_setting() -> None:
    result = _run(
        policy_settings(_policy(refer_adverse=True), sweep=parse_sweep("decline_below=0.5:0.5:1"))
    )
    current, swept = result.settings
    # rows 0-2 (current) or 0-4 (decline_below 0.5) move from declined to referred
    assert (current.approved, current.referred, current.declined, current.adverse) == (1, 9, 0, 3)
    assert (swept.approved, swept.referred, swept.declined, swept.adverse) == (1, 9, 0, 5)
    assert swept.referral_rules["adverse_review"] == 5


def test_a_forced_referral_stays_referred_whatever_the_thresholds() -> None:
    # given: row 7 (score 0.75, otherwise approved) withheld consent
    consent = np.zeros(10, dtype=bool)
    consent[7] = True
    result = _run(
        policy_settings(_policy(), approve_at=0.1, decline_below=0.1),
        forced={"consent_withheld": consent},
    )
    current, everything = result.settings
    # then: nothing is approved at the spec's setting; at 0.1 row 0 (0.05) is declined,
    # 7, 8 and 9 are referred and the six others approved
    assert current.approved == 0 and current.referral_rules["consent_withheld"] == 1
    assert (everything.approved, everything.referred, everything.declined) == (6, 3, 1)


def test_groups_under_the_share_for_ratios_are_reported_but_not_in_the_ratios() -> None:
    # given: a third group c holding one row in ten (share 0.1 < 0.15)
    groups = {"g": np.array(list("ababababac"))}
    result = _run([("current", _policy())], sensitive=groups, min_share=0.15)
    (current,) = result.settings
    rows = {g.group: g for g in current.groups}
    # row 9 (c) is referred anyway; b now has row 7 approved of four rows
    assert rows["c"].included_in_ratios is False and rows["c"].impact_ratio is None
    assert rows["c"].n == 1 and rows["c"].share == pytest.approx(0.1)
    assert rows["a"].impact_ratio == pytest.approx(0.0)
    assert rows["b"].approval_rate == pytest.approx(0.25)
    assert current.worst_impact_group == "g: a"


def test_the_worst_ratio_leaves_out_intersections_the_gate_only_reports() -> None:
    # given: two attributes; only their intersection has a group approving nobody
    sensitive = {"g": np.array(list("aabbaabbab")), "h": np.array(list("xyxyxyxyxy"))}
    settings = [("current", _policy(approve_at=0.5, decline_below=0.5))]
    judged = _run(settings, sensitive=sensitive, gated_intersections=True)
    reported = _run(settings, sensitive=sensitive, gated_intersections=False)

    # then: approved rows 5, 6, 7 (8 high debt, 9 OOD); g=a & h=x holds rows 0, 4, 8 and
    # approves none; by one attribute, a and x each approve 1 of 5 against 2 of 5: 0.5
    (j,) = judged.settings
    (r,) = reported.settings
    assert (j.worst_impact_ratio, j.worst_impact_group) == (0.0, "g=a & h=x")
    assert r.worst_impact_ratio == pytest.approx(0.5)
    assert all(not g.gated for g in r.groups if " & " in g.attribute)


def test_every_setting_of_a_sweep_agrees_with_deciding_each_row_as_the_service_does() -> None:
    # given: 400 seeded rows with scores, debts, OOD flags and groups
    rng = np.random.default_rng(7)
    n = 400
    scores = rng.uniform(size=n)
    frame = pd.DataFrame({"debt": rng.choice([0.0, 50.0, 150.0, np.nan], size=n)})
    ood = rng.uniform(size=n) < 0.05
    groups = rng.choice(["p", "q", "r"], size=n)
    policy = _policy(refer_adverse=True)
    settings = policy_settings(policy, sweep=parse_sweep("approve_at=0.5:0.9:0.1"))

    # when
    result = simulate(
        settings,
        scores,
        frame,
        source="held_out",
        workload=WORKLOAD,
        out_of_distribution=ood,
        sensitive={"g": groups},
        min_group_size=1,
        min_share=0.0,
    )

    # then: the same counts and approval impact ratios as one apply_policy call per row
    for (label, setting), row in zip(settings, result.settings, strict=True):
        outcomes = np.array(
            [
                apply_policy(
                    setting,
                    float(scores[i]),
                    {"debt": None if np.isnan(frame.debt[i]) else frame.debt[i]},
                    out_of_distribution=["far"] if ood[i] else [],
                    consent=True,
                    stopped=False,
                ).outcome
                for i in range(n)
            ]
        )
        assert row.label == label
        assert (row.approved, row.referred, row.declined) == tuple(
            int((outcomes == o).sum()) for o in ("approved", "referred", "declined")
        )
        rates = {g: float((outcomes[groups == g] == "approved").mean()) for g in "pqr"}
        top = max(rates.values())
        for g in row.groups:
            assert g.impact_ratio == pytest.approx(rates[g.group] / top)


def test_rows_without_group_labels_give_no_by_group_figures() -> None:
    result = _run([("current", _policy())], sensitive=None, source="logged")
    (current,) = result.settings
    assert result.by_group is False
    assert current.groups == [] and current.worst_impact_ratio is None
    assert current.approval_rate == pytest.approx(0.1)


def test_no_rows_give_undefined_rates_not_zeros() -> None:
    result = simulate(
        [("current", _policy())],
        np.array([]),
        pd.DataFrame({"debt": []}),
        source="logged",
        workload=WORKLOAD,
    )
    (current,) = result.settings
    assert current.n == 0
    assert current.approval_rate is None and current.reviewer_hours_per_day is None
    assert result.to_dict()["settings"][0]["cases_per_1000"] is None


def test_workload_needs_positive_numbers() -> None:
    with pytest.raises(ValueError, match="daily_volume"):
        Workload(daily_volume=0, minutes_per_case=10)


# ---- the plot ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sweep", [None, "approve_at=0.5:0.9:0.1"])
def test_the_plot_is_a_png(sweep: str | None) -> None:
    settings = policy_settings(
        _policy(), approve_at=None if sweep else 0.6, sweep=parse_sweep(sweep) if sweep else None
    )
    swept = "approve_at" if sweep else None
    held_out = _run(settings, swept=swept)
    logged = _run(settings, swept=swept, sensitive=None, source="logged")
    png = simulation_png(held_out, logged, min_impact_ratio=0.8, title="t")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000
