"""The spec's [monitoring] section: optional, defaults, and errors that name key, rule and value."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from docket.usecases import SHIPPED_DIR
from models.spec import MonitoringSection, SpecError, load_spec, parse_spec


def _credit() -> dict[str, Any]:
    return tomllib.loads((SHIPPED_DIR / "credit-eligibility.toml").read_text())


def _problems(raw: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(raw, source="my-spec.toml")
    assert "my-spec.toml" in str(info.value)
    return str(info.value)


def test_the_section_is_optional_and_its_defaults_are_written_down() -> None:
    # given
    raw = _credit()
    del raw["monitoring"]

    # when
    spec = parse_spec(raw)
    empty = parse_spec({**raw, "monitoring": {}}).monitoring

    # then
    assert spec.monitoring is None
    assert empty == MonitoringSection()
    assert empty is not None
    assert (empty.min_group_size, empty.windows, empty.webhook) == (30, ["day", "week"], None)
    assert (empty.drift.psi_warn, empty.drift.psi_alert, empty.drift.p_value) == (0.1, 0.25, 0.001)
    assert empty.fairness.min_impact_ratio == 0.8
    assert (empty.alpha, empty.n_boot, empty.confidence) == (0.001, 200, 0.95)
    assert empty.system.max_time_to_decision_ratio == 1.5


def test_shipped_specs_carry_a_monitoring_section() -> None:
    for path in SHIPPED_DIR.glob("*.toml"):
        assert load_spec(path).monitoring is not None, path.name


def test_monitoring_thresholds_do_not_change_the_spec_hash() -> None:
    # given: the hash ties trained models and audits to the spec; alerts are not part of them
    raw = _credit()
    without = dict(raw)
    del without["monitoring"]
    changed = {**raw, "monitoring": {"min_group_size": 99}}

    # when / then
    assert parse_spec(without).spec_hash() == parse_spec(raw).spec_hash()
    assert parse_spec(changed).spec_hash() == parse_spec(raw).spec_hash()
    other_gate = {**raw, "gate": {**raw["gate"], "min_group_size": 99}}
    assert parse_spec(other_gate).spec_hash() != parse_spec(raw).spec_hash()


def test_bad_values_name_the_key_the_rule_and_the_value() -> None:
    # given
    raw = _credit()
    raw["monitoring"] = {
        "min_group_size": 0,
        "windows": ["month"],
        "webhook": "ftp://hooks.example/x",
        "fairness": {"min_impact_ratio": 1.5},
        "system": {"max_time_to_decision_ratio": 0.5, "max_gap": 1},
    }

    # when
    msg = _problems(raw)

    # then
    assert (
        "key 'monitoring.min_group_size': Input should be greater than or equal to 1; got 0" in msg
    )
    assert "key 'monitoring.windows.0': Input should be 'day' or 'week'; got 'month'" in msg
    assert (
        "key 'monitoring.webhook': must be an absolute http:// or https:// URL"
        " (got 'ftp://hooks.example/x')" in msg
    )
    assert "key 'monitoring.fairness.min_impact_ratio'" in msg and "1.5" in msg
    assert "key 'monitoring.system.max_time_to_decision_ratio'" in msg and "0.5" in msg
    assert "key 'monitoring.system.max_gap': unknown key" in msg


def test_warn_above_alert_and_repeated_windows_are_refused() -> None:
    # given
    raw = _credit()
    raw["monitoring"] = {"drift": {"score_psi_warn": 0.3, "score_psi_alert": 0.2}}
    repeated = {**raw, "monitoring": {"windows": ["day", "day"]}}

    # when / then
    assert (
        "key 'monitoring.drift': 'score_psi_warn' must be <= 'score_psi_alert'"
        " (got score_psi_warn=0.3, score_psi_alert=0.2)" in _problems(raw)
    )
    assert (
        "key 'monitoring.windows': 'windows' has duplicates; allowed: ['day', 'week']"
        " (got ['day', 'day'])" in _problems(repeated)
    )


def test_a_webhook_url_is_kept() -> None:
    raw = {**_credit(), "monitoring": {"webhook": "https://hooks.example/docket"}}
    section = parse_spec(raw).monitoring
    assert section is not None and section.webhook == "https://hooks.example/docket"
