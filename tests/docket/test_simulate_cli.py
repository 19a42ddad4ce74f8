"""`docket simulate` on a registered version: held-out rows, logged decisions, nothing changed.

Each test works on its own copy of the small registry (one trained version of the
synthetic use case: approve_at 0.7, decline_below 0.3, debt above 40,000 referred)
and its own decision log.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from audits.audit import run_audit
from docket.cli import app
from models.policy import Referral
from models.rationale import Reason
from models.settings import Settings
from models.spec import load_spec
from serving.decisions.record import DecisionRecord, PersonalData, RecordedRationale
from serving.ledger import DecisionLog
from tests.built_once import fingerprint
from tests.registry_copy import copy_registry

USE_CASE = "synthetic-eligibility"


@pytest.fixture
def home(small_registry: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy of the small registry, with the environment pointing at it."""
    settings = copy_registry(small_registry, tmp_path / "home")
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DOCKET_SPEC_DIRS", raising=False)
    return settings


def _spec_path(settings: Settings) -> str:
    return str(settings.home / "synth" / "spec.toml")


def _simulate(settings: Settings, *args: str) -> Result:
    return CliRunner().invoke(app, ["simulate", _spec_path(settings), *args])


def _rationale() -> RecordedRationale:
    reason = Reason(
        code="INC01",
        features=("income",),
        contribution=-0.5,
        direction="adverse",
        text="Your monthly income is low",
    )
    return RecordedRationale.model_validate(
        {
            "reference_kind": "approved_population",
            "reference": "held-out applicants the policy approves",
            "base_value": 0.4,
            "contributions": [
                {
                    "feature": "income",
                    "label": "Monthly income",
                    "contribution": -0.5,
                    "direction": "adverse",
                }
            ],
            "log_odds": 0.0,
            "score": 0.5,
            "additivity_error": 0.0,
            "adverse": True,
            "reasons": [reason.model_dump()],
            "summary": "test decision",
            "explainer_version": "exact-linear/2",
            "catalogue_version": "1",
        }
    )


def _log_decision(
    log: DecisionLog,
    score: float,
    *,
    debt: float = 100.0,
    rules: tuple[str, ...] = (),
    day: int = 2,
    version: str = "1",
    erase: bool = False,
) -> None:
    """A logged decision with ``score``, the rules that fired at the time, and its payload."""
    record = DecisionRecord(
        decision_id=uuid.uuid4().hex,
        decided_at=f"2026-03-0{day}T10:00:00+00:00",
        use_case=USE_CASE,
        model_version=version,
        policy_version="1",
        explainer_version="exact-linear/2",
        catalogue_version="1",
        spec_hash="ab" * 32,
        spec_ref=f"models:/{USE_CASE}/{version}",
        score=score,
        outcome="referred" if rules else "approved",
        recommendation="approve",
        status="final",
        case=None,
        referral_reasons=tuple(Referral(rule=r, detail=f"{r} fired") for r in rules),
        reasons=_rationale().reasons,
        rationale=_rationale(),
        recourse_found=None,
        requested_by="loans-app",
    )
    personal = PersonalData(
        features={"debt": debt, "income": 3000},
        application_ref=None,
        automated_decision_consent="consent_withheld" not in rules,
        recourse=None,
    )
    entry = log.append(
        "decision",
        USE_CASE,
        record.model_dump(mode="json"),
        payload=personal.model_dump(mode="json"),
        subject_id=record.decision_id,
    )
    if erase:
        log.erase_payload(entry.entry_id, "retention period ended")


def _logged_decisions(settings: Settings) -> None:
    log = DecisionLog(settings.database_url)
    log.migrate()
    _log_decision(log, 0.9, day=2)  # approved
    _log_decision(log, 0.8, debt=50_000, rules=("high_stakes:debt",), day=2)  # the rule
    _log_decision(log, 0.5, rules=("uncertain_score",), day=2)
    _log_decision(log, 0.2, day=2)  # declined
    # erased: the debt rule fired at the time, and stays fired
    _log_decision(log, 0.95, rules=("high_stakes:debt",), erase=True, day=3)
    _log_decision(log, 0.85, rules=("consent_withheld",), day=3)
    _log_decision(log, 0.75, rules=("out_of_distribution",), day=3)
    _log_decision(log, 0.65, rules=("uncertain_score",), day=3)
    _log_decision(log, 0.9, version="2", day=3)  # another model version
    log.close()


def _settings(result: Result, source: str) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[source]["settings"]


def test_the_current_setting_reproduces_the_audit_outcomes(home: Settings, tmp_path: Path) -> None:
    # given: the audit of version 1 under the same spec (not stored)
    spec = load_spec(Path(_spec_path(home)))
    report = run_audit(spec, home, version="1", store=False)
    assert report.outcomes is not None
    audited = report.outcomes.overall

    # when
    result = _simulate(home, "--json", "--plot", str(tmp_path / "p.png"))

    # then: the spec's setting, first, gives the audit's counts and rates
    current = _settings(result, "held_out")[0]
    assert current["label"] == "current" and current["current"] is True
    assert (current["approve_at"], current["decline_below"]) == (0.7, 0.3)
    assert current["n"] == audited.n
    for key in ("approved", "referred", "declined", "adverse"):
        assert current[key] == getattr(audited, key), key
    for key in ("approval_rate", "referral_rate", "decline_rate", "adverse_rate"):
        assert current[key] == pytest.approx(getattr(audited, key)), key
    # and the approval impact ratios are the gate's, group by group
    for attribute in report.fairness.attributes:
        for row in attribute.groups:
            found = next(
                g
                for g in current["groups"]
                if (g["attribute"], g["group"]) == (attribute.attribute, row.group)
            )
            assert found["impact_ratio"] == pytest.approx(row.impact_ratio, nan_ok=True)


def _registry_fingerprint(settings: Settings, tmp_path: Path) -> str:
    """The fingerprint of everything in the state folder but the decision log."""
    import shutil

    copy = tmp_path / "registry-only"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(settings.home, copy, ignore=shutil.ignore_patterns("decisions.db*"))
    return fingerprint(copy)


def test_nothing_is_changed_by_a_simulation_and_every_read_is_logged(
    home: Settings, tmp_path: Path
) -> None:
    # given: the registry, the spec file and a decision log
    _logged_decisions(home)
    spec_bytes = Path(_spec_path(home)).read_bytes()
    before = _registry_fingerprint(home, tmp_path)
    log = DecisionLog(home.database_url)
    entries_before = list(log.iter_entries())

    # when: a sweep on held-out rows and logged decisions, by a named operator
    result = _simulate(
        home,
        "--sweep",
        "approve_at=0.6:0.9:0.1",
        "--by",
        "Olga Operator",
        "--plot",
        str(tmp_path / "out" / "s.png"),
    )

    # then: every row, tag and artifact of the registry and the spec are as they were
    assert result.exit_code == 0, result.output
    assert _registry_fingerprint(home, tmp_path) == before
    assert Path(_spec_path(home)).read_bytes() == spec_bytes
    assert (tmp_path / "out" / "s.png").read_bytes().startswith(b"\x89PNG")
    assert "Nothing was changed" in result.stdout
    # and the log only gained one access entry per payload read (8 of 9: one was erased),
    # naming the reader and the purpose; the chain still verifies
    entries_after = list(log.iter_entries())
    assert entries_after[: len(entries_before)] == entries_before
    added = entries_after[len(entries_before) :]
    decided = {e.subject_id for e in entries_before if e.kind == "decision"}
    assert len(decided) == 9 and len(added) == 8
    assert {e.kind for e in added} == {"access"}
    assert {e.subject_id for e in added} < decided
    assert all(e.digest["reader"] == "Olga Operator" for e in added)
    assert all(e.digest["purpose"].startswith("policy simulation") for e in added)
    assert log.verify().ok
    log.close()


def test_logged_decisions_are_simulated_with_the_scores_they_were_given(
    home: Settings, tmp_path: Path
) -> None:
    # given: eight decisions of version 1 over two days, one of version 2
    _logged_decisions(home)

    # when: version 1 only, at approve_at 0.6 with the spec's decline_below, then 0.55
    one = _simulate(
        home, "--version", "1", "--approve-at", "0.6", "--json", "--plot", str(tmp_path / "a.png")
    )
    two = _simulate(
        home,
        "--version",
        "1",
        "--approve-at",
        "0.6",
        "--decline-below",
        "0.55",
        "--json",
        "--plot",
        str(tmp_path / "b.png"),
    )

    # then, at the spec's (0.7, 0.3): 0.9 approved; 0.2 declined; the rest referred (the
    # debt rule, uncertain 0.5 and 0.65, the erased row whose rule fired, consent, OOD)
    current, proposed = _settings(one, "logged")
    assert (current["n"], current["approved"], current["referred"], current["declined"]) == (
        8,
        1,
        6,
        1,
    )
    assert current["approval_rate"] == pytest.approx(1 / 8)
    assert current["cases_per_1000"] == pytest.approx(750)
    # 1000 a day (the default) x 0.75 x 15 min / 60
    assert current["reviewer_hours_per_day"] == pytest.approx(187.5)
    # at approve_at 0.6, 0.65 is approved too
    assert (proposed["approved"], proposed["referred"], proposed["declined"]) == (2, 5, 1)
    # and with decline_below 0.55, 0.5 is declined
    _, lowered = _settings(two, "logged")
    assert (lowered["approved"], lowered["referred"], lowered["declined"]) == (2, 4, 2)
    # no group labels are logged: no by-group figures, and the output says so
    logged = json.loads(one.stdout)["logged"]
    assert logged["by_group"] is False and proposed["groups"] == []
    notes = " ".join(logged["notes"])
    assert "Group membership is not logged" in notes
    assert "1 of 8 logged decisions lacked the features" in notes
    assert "4.0 decisions per day over 2 day(s)" in notes


def test_without_a_version_every_logged_decision_of_the_use_case_counts(
    home: Settings, tmp_path: Path
) -> None:
    _logged_decisions(home)
    result = _simulate(home, "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 0, result.output
    assert "Logged decisions (n=9):" in result.stdout
    assert "version 1: 8, version 2: 1" in result.stdout
    assert "model version 1 (candidate)" in result.stdout


def test_the_table_lists_the_current_setting_first_and_the_assumptions(
    home: Settings, tmp_path: Path
) -> None:
    result = _simulate(
        home,
        "--sweep",
        "decline_below=0.2:0.3:0.05",
        "--daily-volume",
        "250",
        "--minutes-per-case",
        "12",
        "--plot",
        str(tmp_path / "p.png"),
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "250 applications per day, 12 minutes per referred case" in result.stdout
    table = lines.index(next(line for line in lines if line.startswith("setting")))
    assert [line.split()[0] for line in lines[table + 1 : table + 5]] == [
        "current",
        "decline_below=0.2",
        "decline_below=0.25",
        "decline_below=0.3",
    ]
    assert "Approval impact ratio by group" in result.stdout
    assert "Logged decisions: no logged decisions for this use case." in result.stdout


def test_the_plot_goes_under_the_state_folder_by_default(home: Settings) -> None:
    result = _simulate(home, "--json")
    assert result.exit_code == 0, result.output
    plot = Path(json.loads(result.stdout)["plot"])
    assert plot.parent == home.home / "simulations"
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sweep", "approve_at=0.6-0.9"], "--sweep must be NAME=START:END:STEP"),
        (["--sweep", "approve_at=0.6:0.9:0.05", "--approve-at", "0.8"], "not both"),
        (["--approve-at", "1.5"], "--approve-at must be between 0 and 1, both excluded;"),
        (["--decline-below", "0.8"], "decline_below must be <= approve_at; got decline_below=0.8"),
        (["--daily-volume", "0"], "--daily-volume must be a number > 0; got 0.0"),
        (["--version", "99"], "has no version 99; versions: [1]"),
    ],
)
def test_bad_input_exits_with_status_2_and_says_why(
    home: Settings, tmp_path: Path, args: list[str], message: str
) -> None:
    result = _simulate(home, *args, "--plot", str(tmp_path / "p.png"))
    assert result.exit_code == 2
    assert message in result.output
    assert not (tmp_path / "p.png").exists()


def test_an_unknown_use_case_exits_with_status_2(home: Settings) -> None:
    result = CliRunner().invoke(app, ["simulate", "credit-elegibility"])
    assert result.exit_code == 2
    assert "unknown use case 'credit-elegibility'" in result.output


def test_a_use_case_without_a_registered_version_exits_with_status_2(
    docket_home: Path, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "credit-eligibility", "--plot", str(tmp_path / "p.png")]
    )
    assert result.exit_code == 2
    assert "credit-eligibility" in result.output
