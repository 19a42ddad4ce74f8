"""`docket batch` from the command line: output, progress, clear errors, a killed run resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from docket.cli import app
from models.settings import Settings
from serving.ledger import DecisionLog, LogKind
from tests.serving.batch.rows import BAD, USE_CASE, sample_rows, write_input

runner = CliRunner()


@pytest.fixture
def env(served_copy: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in served_copy.as_env().items():
        monkeypatch.setenv(key, value)
    return served_copy.as_env()


def _decisions(settings_env: dict[str, str]) -> Counter[str | None]:
    log = DecisionLog(settings_env["DOCKET_DATABASE_URL"])
    try:
        assert log.verify().ok
        return Counter(e.subject_id for e in log.iter_entries() if e.kind == LogKind.DECISION)
    finally:
        log.close()


def test_batch_writes_results_rejects_and_progress(env: dict[str, str], tmp_path: Path) -> None:
    source = write_input(sample_rows(30), tmp_path / "in.csv")
    out = tmp_path / "out"
    result = runner.invoke(
        app,
        [
            "batch",
            USE_CASE,
            str(source),
            str(out),
            "--chunk-rows",
            "10",
            "--by",
            "cli-test",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["decided"], summary["rejected"]) == (30, 28, 2)
    # one progress line per chunk, on stderr
    assert [
        line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("chunk")
    ] == [
        "chunk 1 decided",
        "chunk 2 decided",
        "chunk 3 decided",
    ]
    assert len(pd.read_parquet(out)) == 28
    rejects = pd.read_csv(tmp_path / "out.rejects.csv")
    assert sorted(rejects["row"]) == sorted(BAD)
    assert sum(_decisions(env).values()) == 28


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--version", "99"], "--version 99: no such version"),
        (["--chunk-rows", "0"], "--chunk-rows must be at least 1; got 0"),
    ],
)
def test_refusals_exit_2_with_a_clear_error(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    source = write_input(sample_rows(5, bad=False), tmp_path / "in.parquet")
    result = runner.invoke(app, ["batch", USE_CASE, str(source), str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and message in result.stderr, result.stderr


def test_input_errors_name_the_problem(env: dict[str, str], tmp_path: Path) -> None:
    missing = runner.invoke(app, ["batch", USE_CASE, str(tmp_path / "nope.parquet"), "o"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    text = tmp_path / "rows.json"
    text.write_text("{}")
    wrong = runner.invoke(app, ["batch", USE_CASE, str(text), str(tmp_path / "o")])
    assert wrong.exit_code == 2 and "must end in one of" in wrong.stderr
    source = write_input(sample_rows(5, bad=False).drop(columns=["Income"]), tmp_path / "in.csv")
    cols = runner.invoke(app, ["batch", USE_CASE, str(source), str(tmp_path / "o")])
    assert cols.exit_code == 2 and "missing feature columns ['Income']" in cols.stderr


def _marked(mark: str) -> list[int]:
    """The live processes whose environment holds ``DOCKET_TEST_RUN_MARK=mark``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if f"DOCKET_TEST_RUN_MARK={mark}".encode() in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def test_a_killed_run_resumes_without_deciding_a_row_twice(
    env: dict[str, str], tmp_path: Path
) -> None:
    rows, chunk = 240, 20
    source = write_input(sample_rows(rows, bad=False), tmp_path / "in.parquet")
    out = tmp_path / "out"
    command = [
        str(Path(sys.executable).parent / "docket"), "batch", USE_CASE, str(source), str(out),
        "--chunk-rows", str(chunk), "--by", "kill-test", "--json", "--workers", "2",
    ]  # fmt: skip
    mark = uuid.uuid4().hex  # finds the run's processes, its spawned workers included
    child_env = {**os.environ, **env, "DOCKET_TEST_RUN_MARK": mark}
    # given: a run killed (SIGKILL) once two chunks are done
    proc = subprocess.Popen(
        command, env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 240
    done = 0
    for line in proc.stderr:
        done += line.startswith("chunk ")
        if done == 2 or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert done == 2, "the run did not get two chunks done in time"
    # the killed run's worker processes end by themselves (bounded wait)
    deadline = time.monotonic() + 30
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _marked(mark), f"worker processes outlived the killed run: {_marked(mark)}"
    before = _decisions(env)
    assert 2 * chunk <= sum(before.values()) < rows and set(before.values()) == {1}
    # when: the same command again
    again = subprocess.run(command, env=child_env, capture_output=True, text=True, timeout=600)
    # then: every row decided, none twice; the chunks done before are not decided again
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["decided"] == rows and summary["chunks"].get("done", 0) >= 2
    assert "(resuming)" in again.stderr
    after = _decisions(env)
    assert len(after) == rows and set(after.values()) == {1}
    assert set(pd.read_parquet(out)["decision_id"]) == set(after)


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_option_sets_the_processes(
    env: dict[str, str], tmp_path: Path, workers: int
) -> None:
    source = write_input(sample_rows(40, bad=False), tmp_path / "in.parquet")
    out = tmp_path / "out"
    args = ["batch", USE_CASE, str(source), str(out), "--chunk-rows", "10"]
    result = runner.invoke(app, [*args, "--workers", str(workers), "--json"])
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["workers"], summary["decided"]) == (workers, 40)
    # the same rows, whatever the number of processes: each row decided once
    decided = _decisions(env)
    assert len(decided) == 40 and set(decided.values()) == {1}
    assert sorted(pd.read_parquet(out)["row"]) == list(range(40))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be at least 1; got 0"),
        (["--workers", "2", "--engine", "spark"], "--workers 2 is for --engine local"),
    ],
)
def test_workers_refusals_name_the_option(
    env: dict[str, str], tmp_path: Path, args: list[str], message: str
) -> None:
    source = write_input(sample_rows(5, bad=False), tmp_path / "in.parquet")
    result = runner.invoke(app, ["batch", USE_CASE, str(source), str(tmp_path / "o"), *args])
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert not (tmp_path / "o").exists()
