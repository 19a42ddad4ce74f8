"""A use case trained from a spec path is known by its name in every command.

The registry here holds one version of a small synthetic use case whose spec file
is ``elsewhere/my.toml`` under the state folder (not a spec folder) and whose name
inside is ``mortgage``: only the registry's record of the path can find it by name.
Each test writes to its own copy (the copy's recorded path points into the copy).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner, Result

from docket.cli import app
from docket.usecases import known_specs, resolve_spec, use_cases
from models.settings import Settings
from models.spec import load_spec
from tests.built_once import built_once
from tests.registry_copy import copy_registry
from training.synthetic import write_synthetic
from training.train import train_use_case

NAME = "mortgage"


def _build(home: Path) -> None:
    path = write_synthetic(home / "elsewhere", rows=600, seed=5, name=NAME, spec_file="my.toml")
    train_use_case(load_spec(path), Settings.local(home))


@pytest.fixture(scope="session")
def trained_by_path(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.local(built_once(tmp_path_factory, "names-registry", _build))


@pytest.fixture
def home(trained_by_path: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A private copy, with the environment pointing at it and no extra spec folders."""
    settings = copy_registry(trained_by_path, tmp_path / "home")
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DOCKET_SPEC_DIRS", raising=False)
    return settings


def _spec_path(settings: Settings) -> Path:
    return settings.home / "elsewhere" / "my.toml"


def _run(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


# ---- the name inside the file ------------------------------------------------------


def test_a_spec_at_a_path_is_named_by_the_name_inside(home: Settings) -> None:
    assert resolve_spec(str(_spec_path(home))).name == NAME


def test_a_spec_folder_file_is_found_by_the_name_inside_not_its_stem(
    tmp_path: Path, docket_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "specs"
    path = write_synthetic(folder, rows=200, seed=1, name="car-loans", spec_file="other.toml")
    monkeypatch.setenv("DOCKET_SPEC_DIRS", str(folder))

    assert resolve_spec("car-loans").source_path == path.resolve()
    assert known_specs()["car-loans"] == path
    assert "other" not in known_specs()
    # the shipped specs are still found by their names
    assert resolve_spec("credit-eligibility").name == "credit-eligibility"


# ---- known from the registry ---------------------------------------------------------


def test_a_use_case_trained_by_path_is_listed_with_its_recorded_path(home: Settings) -> None:
    assert known_specs()[NAME] == _spec_path(home)
    entry = use_cases()[NAME].to_dict()
    assert entry == {
        "name": NAME,
        "path": str(_spec_path(home)),
        "origin": "registry",
        "exists": True,
    }
    listed = _run("spec", "list")
    assert f"{NAME}\t{_spec_path(home)}" in listed.stdout


def test_resolving_the_name_loads_the_recorded_file(home: Settings) -> None:
    assert resolve_spec(NAME).source_path == _spec_path(home)


@pytest.mark.parametrize("by", ["name", "path"])
def test_audit_takes_the_name_or_the_path(home: Settings, by: str) -> None:
    given = NAME if by == "name" else str(_spec_path(home))
    result = _run("audit", given, "--json")
    assert result.exit_code in (0, 1, 3), result.output
    assert json.loads(result.stdout)["use_case"] == NAME


@pytest.mark.parametrize("by", ["name", "path"])
def test_history_takes_the_name_or_the_path(home: Settings, by: str) -> None:
    given = NAME if by == "name" else str(_spec_path(home))
    result = _run("history", given)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"{NAME}: no promotions yet"


def test_card_takes_the_name(home: Settings) -> None:
    result = _run("card", NAME, "--format", "json")
    assert result.exit_code == 0, result.output
    assert NAME in result.stdout


def test_simulate_takes_the_name(home: Settings) -> None:
    result = _run("simulate", NAME, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["use_case"] == NAME


def test_promote_takes_the_name(home: Settings) -> None:
    result = _run("promote", NAME, "--version", "1", "--requested-by", "tester")
    # never audited: the gate refuses it, which means the name was found and it got that far
    assert result.exit_code == 1, result.output
    assert result.output.startswith("refused:")


def test_alternatives_takes_the_name(home: Settings) -> None:
    result = _run("alternatives", NAME, "--max-candidates", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["search"]["use_case"] == NAME


def test_review_filters_take_the_name_or_the_path(home: Settings) -> None:
    for given in (NAME, str(_spec_path(home))):
        result = _run("review", "overdue", "--use-case", given)
        assert result.exit_code == 0, result.output
        assert result.stdout.strip() == "no overdue cases"
    unknown = _run("review", "stats", "--use-case", "mortgag")
    assert unknown.exit_code == 2
    assert "unknown use case 'mortgag'" in unknown.output


# ---- messages ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["audit", "history", "card", "simulate", "train"])
def test_an_unknown_name_lists_the_known_ones_and_how_to_add_a_folder(
    home: Settings, command: str
) -> None:
    result = _run(command, "mortgag")
    assert result.exit_code == 2
    assert "unknown use case 'mortgag'" in result.output
    # the shipped specs and the one known only from the registry
    assert "known use cases: credit-eligibility, mortgage, retention-propensity;" in result.output
    assert "DOCKET_SPEC_DIRS=/path/to/specs" in result.output
    assert "pass the path of the spec .toml file" in result.output


def test_a_moved_spec_names_the_recorded_path(home: Settings) -> None:
    old = _spec_path(home)
    new = old.with_name("renamed.toml")
    old.rename(new)

    for command in ("audit", "card", "simulate"):
        result = _run(command, NAME)
        assert result.exit_code == 2
        assert (
            f"use case 'mortgage' was trained from {str(old)!r}, which no longer exists"
            in result.output
        )
        assert "DOCKET_SPEC_DIRS=/path/to/specs" in result.output
    # the history needs only the registry; the new path works everywhere
    assert _run("history", NAME).exit_code == 0
    assert json.loads(_run("audit", str(new), "--json").stdout)["use_case"] == NAME


def test_a_recorded_file_that_now_names_another_use_case_is_refused(home: Settings) -> None:
    path = _spec_path(home)
    path.write_text(
        path.read_text(encoding="utf-8").replace(f'name = "{NAME}"', 'name = "other"', 1),
        encoding="utf-8",
    )
    assert resolve_spec(str(path)).name == "other"  # the edit took
    result = _run("audit", NAME)
    assert result.exit_code == 2
    assert "but that file now names use case 'other'" in result.output


def test_a_spec_without_a_model_says_which_train_command_to_run(
    tmp_path: Path, docket_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "specs"
    path = write_synthetic(folder, rows=200, seed=1, name="fresh", spec_file="fresh.toml")
    monkeypatch.setenv("DOCKET_SPEC_DIRS", str(folder))

    for command in ("audit", "history", "card", "simulate"):
        by_name = _run(command, "fresh")
        assert by_name.exit_code == 2, (command, by_name.output)
        assert (
            "use case 'fresh' has a spec but no registered model yet;"
            " train it first: docket train fresh"
        ) in by_name.output
        by_path = _run(command, str(path))
        assert by_path.exit_code == 2
        assert f"train it first: docket train {path}" in by_path.output
    promote = _run("promote", "fresh", "--version", "1", "--requested-by", "tester")
    assert "train it first: docket train fresh" in promote.output


# ---- where the audit's report is ---------------------------------------------------------


def test_audit_says_where_its_html_report_is(home: Settings) -> None:
    result = _run("audit", NAME, "--json")
    report = json.loads(result.stdout)
    client = MlflowClient(tracking_uri=home.tracking_uri, registry_uri=home.tracking_uri)
    experiment = client.get_experiment_by_name(f"docket/{NAME}")
    assert experiment is not None
    run_id, audit_id = report["run_id"], report["audit_id"]
    # MLflow's local layout: <experiment artifact folder>/<run id>/artifacts/<artifact path>
    expected = (
        home.artifact_root / NAME / run_id / "artifacts" / "audits" / audit_id / "report.html"
    )
    assert expected.is_file()
    assert audit_id in expected.read_text(encoding="utf-8")
    page = (
        f"http://127.0.0.1:5000/#/experiments/{experiment.experiment_id}/runs/{run_id}"
        f"/artifacts/audits/{audit_id}/report.html"
    )
    where = report["report_html"]
    assert where["path"] == str(expected)
    assert where["ui_command"] == "docket ui"
    assert where["ui_page"] == page
    assert f"HTML report: {expected}" in result.stderr
    assert f"run 'docket ui' (same DOCKET_HOME), then open {page}" in result.stderr
