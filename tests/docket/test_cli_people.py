"""`docket people add|list|disable`: tokens shown once, names unique, every change in the ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings
from serving.access.people import authenticate_person
from serving.ledger import DecisionLog

runner = CliRunner()


def _log(home: Path) -> DecisionLog:
    return DecisionLog(Settings.local(home).database_url)


def test_add_prints_the_token_once_and_list_never_shows_it(docket_home: Path) -> None:
    # when
    added = runner.invoke(
        app,
        ["people", "add", "--name", "Ann  Lee", "--role", "reviewer", "--role", "auditor"],
    )

    # then: the token is on the first line, with a warning that it is shown once
    assert added.exit_code == 0, added.output
    token, notice = added.stdout.splitlines()
    assert token.startswith("dp_") and "shown only once" in notice
    who = authenticate_person(_log(docket_home).engine, token)
    assert who is not None and who.name == "Ann Lee" and who.roles == {"auditor", "reviewer"}
    listed = runner.invoke(app, ["people", "list", "--json"])
    assert listed.exit_code == 0
    [row] = json.loads(listed.stdout)
    assert (row["name"], row["roles"], row["disabled_at"]) == (
        "Ann Lee",
        ["auditor", "reviewer"],
        None,
    )
    secret = token.split("_", 2)[2]
    assert (
        secret not in listed.stdout and secret not in runner.invoke(app, ["people", "list"]).stdout
    )


def test_refusals_name_what_was_wrong(docket_home: Path) -> None:
    # given
    assert (
        runner.invoke(app, ["people", "add", "--name", "Ann Lee", "--role", "admin"]).exit_code == 0
    )

    # then
    duplicate = runner.invoke(app, ["people", "add", "--name", "ANN LEE", "--role", "auditor"])
    assert duplicate.exit_code == 2
    assert "name must be unique: 'Ann Lee' is already the name of person" in duplicate.output
    assert "got 'ANN LEE' instead" in duplicate.output
    bad_role = runner.invoke(app, ["people", "add", "--name", "Bo Chen", "--role", "application"])
    assert bad_role.exit_code == 2
    assert (
        "role must be one of ['reviewer', 'senior_reviewer', 'auditor', 'admin'];"
        " got 'application' instead"
    ) in bad_role.output
    unknown = runner.invoke(app, ["people", "disable", "Nobody"])
    assert unknown.exit_code == 2 and "no person is named 'Nobody'" in unknown.output


def test_disable_stops_the_token_and_both_changes_are_in_the_ledger(docket_home: Path) -> None:
    # given
    added = runner.invoke(
        app,
        ["people", "add", "--name", "Ann Lee", "--role", "reviewer", "--by", "Olu Ops", "--json"],
    )
    person = json.loads(added.stdout)

    # when
    disabled = runner.invoke(app, ["people", "disable", "ann lee", "--by", "Olu Ops"])

    # then
    assert (
        disabled.exit_code == 0
        and f"disabled Ann Lee (person {person['person_id']})" in disabled.stdout
    )
    log = _log(docket_home)
    assert authenticate_person(log.engine, person["token"]) is None
    assert [(e.digest["action"], e.digest["by"]) for e in log.iter_entries()] == [
        ("person_added", "Olu Ops"),
        ("person_disabled", "Olu Ops"),
    ]
    listed = json.loads(runner.invoke(app, ["people", "list", "--json"]).stdout)
    assert listed[0]["disabled_at"] is not None
    again = runner.invoke(app, ["people", "disable", "Ann Lee", "--by", "Olu Ops"])
    assert again.exit_code == 2 and "is already disabled" in again.output


def test_by_defaults_to_the_os_user(docket_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # given an OS user name (getpass reads LOGNAME first)
    monkeypatch.setenv("LOGNAME", "os-operator")

    # when
    runner.invoke(app, ["people", "add", "--name", "Ann Lee", "--role", "reviewer"])

    # then
    [entry] = list(_log(docket_home).iter_entries())
    assert entry.digest["by"] == "os-operator"
    assert json.loads(runner.invoke(app, ["people", "list", "--json"]).stdout)[0]["created_by"] == (
        "os-operator"
    )
