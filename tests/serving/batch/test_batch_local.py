"""`--engine local`: every row decided once, recorded, verifiable; rejects; resume; refusals."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.settings import Settings
from serving.batch import BatchError, plan_batch, run_local
from serving.batch import chunks as chunks_module
from serving.batch.chunks import decision_id_of
from serving.batch.run import rejects_path
from serving.decisions.switches import StopSwitches
from serving.ledger import DecisionLog, LogKind
from serving.review.schema import CaseRow

from .rows import BAD, USE_CASE, sample_rows, write_input

N = 60
CHUNK = 25


def _run(settings: Settings, source: Path, out: Path, **kw: object):
    plan = plan_batch(settings, USE_CASE, source, out, requested_by="batch-test", **kw)  # type: ignore[arg-type]
    try:
        return plan, run_local(plan)
    finally:
        plan.log.close()


def _decision_entries(settings: Settings) -> list:
    log = DecisionLog(settings.database_url)
    try:
        return [e for e in log.iter_entries() if e.kind == LogKind.DECISION]
    finally:
        log.close()


def test_every_row_is_decided_recorded_once_with_cases_and_receipts(
    served_copy: Settings, tmp_path: Path
) -> None:
    # given: 60 real rows, two of them invalid, in chunks of 25
    source = write_input(sample_rows(N), tmp_path / "in.parquet")
    out = tmp_path / "results"
    # when
    plan, summary = _run(served_copy, source, out, chunk_rows=CHUNK)
    # then: the counts add up
    assert (summary.rows, summary.decided, summary.rejected) == (N, N - len(BAD), len(BAD))
    assert summary.chunks == {"decided": 3}
    results = pd.read_parquet(out).sort_values("row")
    assert sorted(results["row"]) == sorted(set(range(N)) - set(BAD))
    # every decided row is in the ledger exactly once, and no rejected row is
    entries = _decision_entries(served_copy)
    counts = Counter(e.subject_id for e in entries)
    assert set(counts) == set(results["decision_id"]) and set(counts.values()) == {1}
    for row in BAD:
        assert decision_id_of(plan.job.run_id, row) not in counts
    # the chain verifies
    log = DecisionLog(served_copy.database_url)
    try:
        assert log.verify().ok
        # each receipt is its ledger entry's
        by_id = {e.subject_id: e for e in entries}
        for _, r in results.iterrows():
            receipt = json.loads(r["receipt"])
            entry = by_id[r["decision_id"]]
            assert receipt["entry_id"] == entry.entry_id
            assert receipt["entry_hash"] == entry.entry_hash
            assert receipt["leaf_index"] == entry.seq - 1 == r["log_seq"] - 1
            assert entry.digest["outcome"] == r["outcome"] and entry.digest["score"] == r["score"]
        # each referred row has its review case, and only those
        with Session(log.engine) as session:
            cases = {
                c.decision_id: c.case_id
                for c in session.scalars(select(CaseRow).where(CaseRow.kind == "referral"))
            }
    finally:
        log.close()
    referred = results[results["outcome"] == "referred"]
    assert len(referred) == summary.referred > 0
    assert {d: cases[d] for d in referred["decision_id"]} == dict(
        zip(referred["decision_id"], referred["case_id"], strict=True)
    )
    assert set(cases) == set(referred["decision_id"])
    # adverse rows carry recourse, approved ones do not
    assert results[results["outcome"] == "approved"]["recourse"].isna().all()
    # the rejects file, next to OUTPUT: row, field, error
    rejects = pd.read_csv(rejects_path(out))
    assert rejects_path(out) == tmp_path / "results.rejects.csv"
    assert sorted(zip(rejects["row"], rejects["field"], strict=True)) == sorted(
        (row, field) for row, (field, _) in BAD.items()
    )
    assert rejects["error"].str.len().min() > 0


def test_csv_input_decides_like_parquet(served_copy: Settings, tmp_path: Path) -> None:
    rows = sample_rows(20, seed=3, bad=False)
    _, a = _run(served_copy, write_input(rows, tmp_path / "in.parquet"), tmp_path / "a")
    _, b = _run(served_copy, write_input(rows, tmp_path / "in.csv"), tmp_path / "b")
    ra, rb = (pd.read_parquet(tmp_path / x).sort_values("row") for x in ("a", "b"))
    assert a.decided == b.decided == 20
    for column in ("outcome", "contributions", "reasons"):
        assert list(ra[column]) == list(rb[column])
    assert max(abs(ra["score"].to_numpy() - rb["score"].to_numpy())) <= 1e-12


@pytest.mark.parametrize("crash", ["after_commit", "inside_transaction"])
def test_resume_after_a_crash_decides_no_row_twice(
    served_copy: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: str
) -> None:
    source = write_input(sample_rows(N), tmp_path / "in.parquet")
    out = tmp_path / "results"
    calls = {"n": 0}
    if crash == "after_commit":
        # chunk 0 written; chunk 1 committed to the ledger, then the process "dies"
        real_write = chunks_module._write

        def failing_write(*args: object) -> None:
            calls["n"] += 1
            if calls["n"] == 3:
                raise RuntimeError("simulated crash after the commit")
            real_write(*args)  # type: ignore[arg-type]

        monkeypatch.setattr(chunks_module, "_write", failing_write)
    else:
        # a failure inside chunk 1's transaction (row 30's entry was appended): all of
        # chunk 1 is rolled back
        real_decided = chunks_module._Decided

        def failing_decided(row: int, *args: object) -> object:
            if row == 30:
                raise RuntimeError("simulated crash inside the transaction")
            return real_decided(row, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(chunks_module, "_Decided", failing_decided)
    plan = plan_batch(served_copy, USE_CASE, source, out, requested_by="t", chunk_rows=CHUNK)
    run_id = plan.job.run_id
    with pytest.raises(RuntimeError, match="simulated crash"):
        try:
            run_local(plan, workers=1)  # in this process, where the crash is patched in
        finally:
            plan.log.close()
    monkeypatch.undo()
    before = Counter(e.subject_id for e in _decision_entries(served_copy))
    assert set(before.values()) == {1}
    # when: the same command again (same input: same run id)
    plan2, summary = _run(served_copy, source, out, chunk_rows=CHUNK)
    # then: resumed, every row decided, none twice
    assert plan2.resumed and plan2.job.run_id == run_id
    expected_how = (
        {"done": 1, "rewritten": 1, "decided": 1}
        if crash == "after_commit"
        else {"done": 1, "decided": 2}
    )
    assert summary.chunks == expected_how
    assert (summary.decided, summary.rejected) == (N - len(BAD), len(BAD))
    entries = _decision_entries(served_copy)
    counts = Counter(e.subject_id for e in entries)
    assert len(counts) == N - len(BAD) and set(counts.values()) == {1}
    results = pd.read_parquet(out).sort_values("row")
    assert sorted(results["decision_id"]) == sorted(counts)
    assert len(pd.read_csv(rejects_path(out))) == len(BAD)


def test_changed_input_under_the_same_run_id_is_refused(
    served_copy: Settings, tmp_path: Path
) -> None:
    source = write_input(sample_rows(10, bad=False), tmp_path / "in.parquet")
    _run(served_copy, source, tmp_path / "a", run_id="fixed")
    write_input(sample_rows(10, seed=99, bad=False), source)
    with pytest.raises(BatchError, match="the input changed"):
        _run(served_copy, source, tmp_path / "b", run_id="fixed")
    # without --run-id the changed input is a new run, with new ids
    plan, summary = _run(served_copy, source, tmp_path / "c")
    assert plan.job.run_id != "fixed" and summary.decided == 10


def test_a_version_that_may_not_be_served_is_refused(served_copy: Settings, tmp_path: Path) -> None:
    source = write_input(sample_rows(5, bad=False), tmp_path / "in.parquet")
    with pytest.raises(BatchError, match="--version 99"):
        _run(served_copy, source, tmp_path / "out", version="99")


def test_unknown_columns_are_refused_before_deciding(served_copy: Settings, tmp_path: Path) -> None:
    rows = sample_rows(5, bad=False).assign(shoe_size=42)
    source = write_input(rows, tmp_path / "in.parquet")
    with pytest.raises(BatchError, match=r"unknown columns \['shoe_size'\]"):
        _run(served_copy, source, tmp_path / "out")
    assert _decision_entries(served_copy) == []


def test_the_stop_switch_refers_every_row(served_copy: Settings, tmp_path: Path) -> None:
    log = DecisionLog(served_copy.database_url)
    log.migrate()
    StopSwitches(log).set(USE_CASE, True, "test", "batch under a stop")
    log.close()
    source = write_input(sample_rows(12, bad=False), tmp_path / "in.parquet")
    _, summary = _run(served_copy, source, tmp_path / "out", chunk_rows=5)
    results = pd.read_parquet(tmp_path / "out")
    assert summary.decided == summary.referred == 12
    assert set(results["outcome"]) == {"referred"} and set(results["status"]) == {"pending_review"}


@pytest.mark.postgres
def test_a_run_on_a_postgres_ledger(
    served_copy: Settings, postgres_url: str, tmp_path: Path
) -> None:
    settings = served_copy.model_copy(update={"database_url": postgres_url})
    source = write_input(sample_rows(N), tmp_path / "in.parquet")
    _, summary = _run(settings, source, tmp_path / "out", chunk_rows=CHUNK)
    assert (summary.decided, summary.rejected) == (N - len(BAD), len(BAD))
    counts = Counter(e.subject_id for e in _decision_entries(settings))
    assert len(counts) == N - len(BAD) and set(counts.values()) == {1}
    # run again: everything is done already, nothing is decided or recorded again
    _, again = _run(settings, source, tmp_path / "out", chunk_rows=CHUNK)
    assert again.chunks == {"done": 3} and again.referred == summary.referred
    assert Counter(e.subject_id for e in _decision_entries(settings)) == counts
    log = DecisionLog(settings.database_url)
    try:
        assert log.verify().ok
    finally:
        log.close()


def test_envelope_columns_are_validated_like_the_request(
    served_copy: Settings, tmp_path: Path
) -> None:
    rows = sample_rows(6, bad=False)
    rows["application_ref"] = [f"app-{i}" for i in range(6)]
    rows.loc[2, "application_ref"] = "x" * 300  # DecideRequest allows at most 200 characters
    rows["automated_decision_consent"] = [True, True, True, False, True, True]
    source = write_input(rows, tmp_path / "in.parquet")
    _, summary = _run(served_copy, source, tmp_path / "out")
    assert (summary.decided, summary.rejected) == (5, 1)
    rejects = pd.read_csv(rejects_path(tmp_path / "out"))
    assert list(zip(rejects["row"], rejects["field"], strict=True)) == [(2, "application_ref")]
    assert "200" in rejects["error"][0]
    results = pd.read_parquet(tmp_path / "out").set_index("row")
    assert results.loc[0, "application_ref"] == "app-0"
    # without consent to an automated decision the row goes to a person, as /decide does
    assert results.loc[3, "outcome"] == "referred"
