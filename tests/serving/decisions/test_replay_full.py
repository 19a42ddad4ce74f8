"""Replay re-runs the whole decision and compares every field with the record."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings
from serving.access import Principal
from serving.decisions import DecisionEngine
from serving.decisions.replay import differences, replay_decision, replayed_ids
from serving.decisions.validation import DecideRequest

from ..paths import rows_by_path

APP = Principal.local("replay-tests", role="application")
USE_CASES = ("credit-eligibility", "retention-propensity", "synthetic-eligibility")


@pytest.fixture
def decided(served_settings: Settings, tmp_path: Path) -> tuple[DecisionEngine, list[dict]]:
    """A fresh log with decisions along every path of every served use case."""
    settings = served_settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'decisions.db'}"}
    )
    engine = DecisionEngine(settings)
    engine.start()
    ids = []
    for use_case in USE_CASES:
        for rows in rows_by_path(engine, use_case, per_path=2).values():
            for features in rows:
                request = DecideRequest(use_case=use_case, features=features)
                ids.append(engine.decide(request, APP).model_dump(mode="json"))
        # consent withheld: referred whatever the score
        features = rows_by_path(engine, use_case, per_path=1)["approve"][0]
        request = DecideRequest(
            use_case=use_case, features=features, automated_decision_consent=False
        )
        ids.append(engine.decide(request, APP).model_dump(mode="json"))
    return engine, ids


def test_every_decision_of_a_run_replays_identically(
    decided: tuple[DecisionEngine, list[dict]],
) -> None:
    engine, views = decided
    ids = [v["decision_id"] for v in views]
    assert list(replayed_ids(engine.log)) == ids  # every decision, oldest first
    recourse_seen = 0
    for view in views:
        result = replay_decision(engine.settings, engine.log, view["decision_id"])
        assert result["identical"] is True, result["differences"]
        recourse_seen += view["recourse"] is not None
    assert recourse_seen > 0  # adverse decisions carry recourse, and it was compared too
    assert engine.log.verify().ok  # every replay logged its read; the chain still holds


def test_a_changed_field_is_named_by_its_path(decided: tuple[DecisionEngine, list[dict]]) -> None:
    engine, views = decided
    with_recourse = next(v["decision_id"] for v in views if v["recourse"] is not None)
    entry = next(e for e in engine.log.entries_for(with_recourse) if e.kind == "decision")
    # an administrator edits the stored recourse (personal payloads are not chained)
    with engine.log.engine.begin() as conn:
        raw = conn.exec_driver_sql(
            "SELECT payload FROM payloads WHERE entry_id = ?", (entry.entry_id,)
        ).scalar_one()
        payload = json.loads(raw)
        payload["recourse"]["new_score"] += 0.01
        conn.exec_driver_sql(
            "UPDATE payloads SET payload = ? WHERE entry_id = ?",
            (json.dumps(payload), entry.entry_id),
        )
    result = replay_decision(engine.settings, engine.log, with_recourse)
    assert result["identical"] is False
    assert [d.split(":")[0] for d in result["differences"]] == ["recourse.new_score"]


def test_differences_tolerance_and_paths() -> None:
    logged = {"score": 0.5, "reasons": [{"code": "A", "text": "x"}], "flag": True}
    assert differences(logged, {**logged, "score": 0.5 + 1e-10}) == []
    assert differences(logged, {**logged, "score": 0.5 + 1e-8}) == [
        f"score: logged 0.5, replayed {0.5 + 1e-8!r}"
    ]
    assert differences(logged, {**logged, "reasons": [{"code": "B", "text": "x"}]}) == [
        "reasons[0].code: logged 'A', replayed 'B'"
    ]
    assert differences(logged, {**logged, "flag": 1}) == ["flag: logged True, replayed 1"]
    assert differences(logged, {**logged, "reasons": []}) == ["reasons: logged 1 items, replayed 0"]


def test_replay_all_through_the_cli(
    decided: tuple[DecisionEngine, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, views = decided
    ids = [v["decision_id"] for v in views]
    for key, value in engine.settings.as_env().items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    done = runner.invoke(
        app, ["replay", "--all", "--use-case", "retention-propensity", "--by", "Ida", "--json"]
    )
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    expected = [v["decision_id"] for v in views if v["use_case"] == "retention-propensity"]
    assert [d["decision_id"] for d in summary["decisions"]] == expected
    assert summary["identical"] == len(expected) and summary["different"] == 0
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S")
    none = runner.invoke(app, ["replay", "--all", "--since", later, "--json"])
    assert none.exit_code == 0 and json.loads(none.stdout)["replayed"] == 0
    both = runner.invoke(app, ["replay", ids[0], "--all"])
    assert both.exit_code == 2 and "give a decision id, or --all" in both.output
    stray = runner.invoke(app, ["replay", ids[0], "--use-case", "x"])
    assert stray.exit_code == 2 and "--use-case and --since only go with --all" in stray.output
