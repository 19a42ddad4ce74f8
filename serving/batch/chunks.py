"""One chunk of a batch: decided row by row as ``POST /decide`` decides, recorded at once.

The chunk's rows go through :func:`serving.decisions.prepare.prepare_decisions`
together (the one way a decision is built; each row gets what it would get alone
through ``POST /decide``), with ids derived from the run and the row number, so
running a chunk again finds its decisions instead of making new ones. The chunk's
decisions, their review cases and a ``batch_chunk`` marker entry are written in
one ledger transaction: the chunk is recorded whole or not at all, and the marker
says so with one indexed read. Only then are its result and rejects files written
(each by an atomic rename); a chunk recorded but not written (a crash in between)
is written again from the ledger, deciding nothing.

Both engines call :func:`process_chunk`: the local one in a loop, Spark once per
chunk on an executor.
"""

from __future__ import annotations

import gc
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import ValidationError
from sqlalchemy import insert, select

from models.canonical import JSONDump
from serving.access import Principal
from serving.batch.errors import BatchError
from serving.batch.rows import requests_of
from serving.decisions.prepare import PreparedDecision, prepare_decisions
from serving.decisions.record import DecisionRecord
from serving.decisions.schema import SwitchRow
from serving.decisions.served import ServedModel
from serving.decisions.switches import StopSwitches
from serving.decisions.validation import DecideRequest, InvalidFeatures
from serving.ledger import DecisionLog, LogEntry, LogKind, NewEntry
from serving.ledger.receipts import pending_receipt
from serving.ledger.times import parse, stamp
from serving.review.schema import CaseRow

__all__ = [
    "REJECTS_DIR",
    "RESULT_SCHEMA",
    "ChunkJob",
    "ChunkResult",
    "case_id_of",
    "case_row",
    "chunk_subject",
    "decision_id_of",
    "process_chunk",
]

#: fixed, so that a run id and a row number always give the same decision id
BATCH_NAMESPACE = uuid.UUID("5d0c7e1e-8a3b-4f0e-9d8c-0b7a7c1d2e3f")
#: the rejects of each chunk, inside OUTPUT (readers skip ``_`` folders); merged at the end
REJECTS_DIR = "_rejects"
#: how often a chunk is prepared again because the stop switch flipped meanwhile
SWITCH_RETRIES = 3

RESULT_SCHEMA = pa.schema(
    [
        ("row", pa.int64()),
        ("decision_id", pa.string()),
        ("application_ref", pa.string()),
        ("outcome", pa.string()),
        ("recommendation", pa.string()),
        ("status", pa.string()),
        ("score", pa.float64()),
        ("case_id", pa.string()),
        ("review_deadline", pa.string()),
        ("reasons", pa.string()),  # JSON, as /decide answers them
        ("contributions", pa.string()),  # JSON: feature, contribution (log-odds), ...
        ("base_value", pa.float64()),
        ("log_odds", pa.float64()),
        ("recourse", pa.string()),  # JSON, adverse rows only
        ("receipt", pa.string()),  # JSON: the pending receipt of the ledger entry
        ("log_seq", pa.int64()),
    ]
)
REJECT_SCHEMA = pa.schema([("row", pa.int64()), ("field", pa.string()), ("error", pa.string())])


def decision_id_of(run_id: str, row: int) -> str:
    return uuid.uuid5(BATCH_NAMESPACE, f"{run_id}/row/{row}").hex


def case_id_of(run_id: str, row: int) -> str:
    return uuid.uuid5(BATCH_NAMESPACE, f"{run_id}/row/{row}/case").hex


def chunk_subject(run_id: str, chunk: int) -> str:
    return f"batch:{run_id}:chunk:{chunk}"


@dataclass(frozen=True)
class ChunkJob:
    """What every chunk of a run needs besides the model (small: shipped to executors)."""

    run_id: str
    use_case: str
    version: str
    database_url: str
    output: str  # the OUTPUT folder
    requested_by: str

    def part(self, chunk: int) -> Path:
        return Path(self.output) / f"part-{chunk:06d}.parquet"

    def rejects_part(self, chunk: int) -> Path:
        return Path(self.output) / REJECTS_DIR / f"part-{chunk:06d}.parquet"


@dataclass(frozen=True)
class ChunkResult:
    chunk: int
    rows: int
    decided: int
    rejected: int
    referred: int
    how: str  # "decided", "rewritten" (recorded before, files written from the ledger), "done"


class _SwitchMoved(Exception):
    def __init__(self, stopped: bool) -> None:
        super().__init__("the stop switch changed while the chunk was prepared")
        self.stopped = stopped


@dataclass(frozen=True)
class _Decided:
    row: int
    record: DecisionRecord
    record_json: dict[str, Any]  # record.model_dump(mode="json"), dumped once for both uses
    recourse: dict[str, Any] | None
    application_ref: str | None
    entry: LogEntry


def _rejection(row: int, exc: Exception) -> list[dict[str, Any]]:
    if isinstance(exc, InvalidFeatures):
        return [{"row": row, "field": ".".join(p.loc), "error": p.msg} for p in exc.problems] or [
            {"row": row, "field": "features", "error": str(exc)}
        ]
    assert isinstance(exc, ValidationError)
    out: list[dict[str, Any]] = []
    for e in exc.errors():
        # DecideRequest reports "field: message; got value" parts in one message
        for part in str(e["msg"]).split("; "):
            field, sep, _ = part.partition(": ")
            if part.startswith("got ") and out:  # the value received, of the part before
                out[-1]["error"] = f"{out[-1]['error']}; {part}"
            elif sep:
                out.append({"row": row, "field": field, "error": part})
    return out or [{"row": row, "field": "(request)", "error": str(exc)}]


def _prepare_rows(
    job: ChunkJob,
    served: ServedModel,
    first_row: int,
    bodies: list[dict[str, Any]],
    *,
    stopped: bool,
    now: datetime,
    skip: set[int] | None = None,
) -> tuple[list[tuple[int, PreparedDecision, str | None]], list[dict[str, Any]]]:
    principal = Principal.local(job.requested_by, role="application")
    rejects: list[dict[str, Any]] = []
    valid: list[tuple[int, DecideRequest]] = []
    for offset, body in enumerate(bodies):
        row = first_row + offset
        if skip is not None and row in skip:
            continue
        try:
            valid.append((row, DecideRequest.model_validate(body)))
        except ValidationError as exc:
            rejects.extend(_rejection(row, exc))
    # the chunk's rows are decided together, each exactly as alone (prepare_decisions)
    decisions = prepare_decisions(
        served,
        [request for _, request in valid],
        principal,
        stopped=stopped,
        now=now,
        decision_ids=[decision_id_of(job.run_id, row) for row, _ in valid],
        case_ids=[case_id_of(job.run_id, row) for row, _ in valid],
    )
    prepared: list[tuple[int, PreparedDecision, str | None]] = []
    for (row, request), decision in zip(valid, decisions, strict=True):
        if isinstance(decision, InvalidFeatures):
            rejects.extend(_rejection(row, decision))
        else:
            prepared.append((row, decision, request.application_ref))
    # rejects in row order, as when each row was validated and decided in turn
    rejects.sort(key=lambda r: r["row"])
    return prepared, rejects


def _record(
    job: ChunkJob,
    log: DecisionLog,
    chunk: int,
    first_row: int,
    rows: int,
    prepared: list[tuple[int, PreparedDecision, str | None]],
    rejected_rows: int,
    stopped: bool,
) -> list[_Decided]:
    """Write the chunk's decisions, cases and marker in one transaction."""
    decided: list[_Decided] = []
    with log.transaction() as tx:
        # the transaction holds the writer lock: the switch read here is ordered with the chain
        now_stopped = bool(
            tx.session.execute(
                select(SwitchRow.stopped).where(SwitchRow.use_case == job.use_case)
            ).scalar()
        )
        if now_stopped != stopped:
            raise _SwitchMoved(now_stopped)
        # JSON-native as dumped (JSONDump): the ledger need not read their canonical text back
        records = [JSONDump(p.record.model_dump(mode="json")) for _, p, _ in prepared]
        entries = tx.append_many(
            [
                NewEntry(
                    LogKind.DECISION,
                    job.use_case,
                    record,
                    payload=JSONDump(p.personal.model_dump(mode="json")),
                    subject_id=p.record.decision_id,
                )
                for (_, p, _), record in zip(prepared, records, strict=True)
            ]
        )
        cases = [case_row(p.record) for _, p, _ in prepared if p.case is not None]
        if cases:  # one multi-row insert, in the decisions' transaction
            tx.session.execute(insert(CaseRow), cases)
        decided.extend(
            _Decided(row, p.record, record, p.personal.recourse, ref, entry)
            for (row, p, ref), record, entry in zip(prepared, records, entries, strict=True)
        )
        tx.append(
            LogKind.ADMIN,
            job.use_case,
            {
                "action": "batch_chunk",
                "run_id": job.run_id,
                "chunk": chunk,
                "first_row": first_row,
                "rows": rows,
                "decided": len(decided),
                "rejected_rows": rejected_rows,
                "model_version": job.version,
                "stopped": stopped,
            },
            subject_id=chunk_subject(job.run_id, chunk),
        )
    return decided


def case_row(record: DecisionRecord) -> dict[str, Any]:
    """The review case a referred record opens, as :func:`serving.review.open_referral_case`
    would add it (a test holds them equal), for one insert of the chunk's cases."""
    if record.case is None:
        raise ValueError(f"decision {record.decision_id!r} is not referred: it opens no case")
    return {
        "case_id": record.case.case_id,
        "decision_id": record.decision_id,
        "use_case": record.use_case,
        "kind": "referral",
        "appeal_of": None,
        "status": "open",
        "created_at": stamp(parse(record.decided_at)),
        "deadline": stamp(parse(record.case.deadline)),
        "referral_rules": json.dumps([r.rule for r in record.referral_reasons]),
        "model_recommendation": record.recommendation,
        "excluded": json.dumps([]),
    }


def _from_ledger(
    job: ChunkJob,
    served: ServedModel,
    log: DecisionLog,
    first_row: int,
    bodies: list[dict[str, Any]],
) -> tuple[list[_Decided], list[dict[str, Any]]]:
    """A recorded chunk's results read back from the ledger (nothing decided)."""
    decided: list[_Decided] = []
    missing: set[int] = set()
    for offset in range(len(bodies)):
        row = first_row + offset
        entries = log.entries_for(decision_id_of(job.run_id, row))
        entry = next((e for e in entries if e.kind == LogKind.DECISION), None)
        if entry is None:
            missing.add(row)
            continue
        record = DecisionRecord.model_validate(entry.digest)
        payload = log.get_payload(entry.entry_id).payload or {}
        decided.append(
            _Decided(
                row,
                record,
                record.model_dump(mode="json"),
                payload.get("recourse"),
                payload.get("application_ref"),
                entry,
            )
        )
    # the rows not recorded were the rejected ones: validate them again for their errors
    everything = set(range(first_row, first_row + len(bodies)))
    again, rejects = _prepare_rows(
        job,
        served,
        first_row,
        bodies,
        stopped=False,
        now=datetime.now(UTC),
        skip=everything - missing,
    )
    if again:
        raise BatchError(
            f"run {job.run_id}: rows {[r for r, _, _ in again][:10]} are valid but were not"
            " recorded with their chunk; the ledger does not match this input"
        )
    return decided, rejects


def _result_row(d: _Decided) -> dict[str, Any]:
    record = d.record
    rationale = d.record_json["rationale"]
    return {
        "row": d.row,
        "decision_id": record.decision_id,
        "application_ref": d.application_ref,
        "outcome": record.outcome,
        "recommendation": record.recommendation,
        "status": record.status,
        "score": record.score,
        "case_id": record.case.case_id if record.case else None,
        "review_deadline": record.case.deadline if record.case else None,
        "reasons": json.dumps(d.record_json["reasons"]),
        "contributions": json.dumps(rationale["contributions"]),
        "base_value": rationale["base_value"],
        "log_odds": rationale["log_odds"],
        "recourse": None if d.recourse is None else json.dumps(d.recourse),
        "receipt": json.dumps(pending_receipt(d.entry).model_dump(mode="json")),
        "log_seq": d.entry.seq,
    }


def _write(path: Path, rows: list[dict[str, Any]], schema: pa.Schema) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)  # a part file exists only whole


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a chunk is decided (only the results are kept).

    A chunk makes hundreds of thousands of objects that live until it is written;
    each automatic collection would walk them all again (a third of the deciding
    time, measured). What a chunk leaves as cyclic garbage is collected after it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def process_chunk(
    job: ChunkJob,
    served: ServedModel,
    log: DecisionLog,
    chunk: int,
    first_row: int,
    frame: pd.DataFrame,
) -> ChunkResult:
    """Decide, record and write one chunk (rows ``first_row`` … of the input), once."""
    with collector_paused():
        return _process_chunk(job, served, log, chunk, first_row, frame)


def _process_chunk(
    job: ChunkJob,
    served: ServedModel,
    log: DecisionLog,
    chunk: int,
    first_row: int,
    frame: pd.DataFrame,
) -> ChunkResult:
    part, rejects_part = job.part(chunk), job.rejects_part(chunk)
    if part.exists():  # written after its transaction committed: nothing left to do
        written = pq.read_table(part, columns=["case_id"]).column("case_id")
        rejected = (
            len(pq.read_table(rejects_part, columns=["row"]).column("row").unique())
            if rejects_part.exists()
            else 0
        )
        referred = len(written) - written.null_count
        return ChunkResult(chunk, len(frame), len(written), rejected, referred, "done")
    bodies = requests_of(frame, job.use_case)
    if any(e.kind == LogKind.ADMIN for e in log.entries_for(chunk_subject(job.run_id, chunk))):
        decided, rejects = _from_ledger(job, served, log, first_row, bodies)
        how = "rewritten"
    else:
        stopped = StopSwitches(log).is_stopped(job.use_case)
        for _ in range(SWITCH_RETRIES):
            prepared, rejects = _prepare_rows(
                job, served, first_row, bodies, stopped=stopped, now=datetime.now(UTC)
            )
            rejected_rows = len({r["row"] for r in rejects})
            try:
                decided = _record(
                    job, log, chunk, first_row, len(bodies), prepared, rejected_rows, stopped
                )
                break
            except _SwitchMoved as moved:  # nothing was written: prepare under the new state
                stopped = moved.stopped
        else:
            raise BatchError(f"the stop switch of {job.use_case!r} kept changing; run again")
        how = "decided"
    _write(rejects_part, rejects, REJECT_SCHEMA)
    _write(part, [_result_row(d) for d in decided], RESULT_SCHEMA)
    referred = sum(1 for d in decided if d.record.case is not None)
    return ChunkResult(
        chunk, len(bodies), len(decided), len({r["row"] for r in rejects}), referred, how
    )
