"""After a crash: is everything the clients were told on record, whole, and verifiable?

Read straight from the database with plain SQL (not through the service's code),
except the hash recomputation, which is `docket ledger verify` run as a command:

- every decision id answered 200 has exactly one ``decision`` entry;
- every case whose resolution was answered 200 is ``resolved`` in ``review_cases``
  and its ``resolution_entry_id`` is an entry of the ledger;
- no half-written entry: ``seq`` runs 1..N without a gap, each entry's
  ``prev_hash`` is the previous entry's ``entry_hash``, ``chain_head`` names the
  last entry; every entry with a ``payload_hash`` has its ``payloads`` row (with
  the payload: nothing is erased in these runs); every referred decision has its
  referral case, and every referral case has its decision;
- `docket ledger verify` exits 0 saying ``ok:``.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text

from models.settings import Settings

__all__ = ["LedgerFacts", "check_ledger", "verify_command"]

VERIFY_TIMEOUT_S = 180


@dataclass(frozen=True)
class LedgerFacts:
    entries: int
    decisions: int
    decided_found: int
    resolutions_found: int


def check_ledger(database_url: str, decided: set[str], resolved: set[str]) -> LedgerFacts:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT seq, entry_id, kind, subject_id, digest, payload_hash, prev_hash,"
                    " entry_hash FROM log_entries ORDER BY seq"
                )
            ).all()
            head = conn.execute(text("SELECT seq, entry_hash FROM chain_head")).all()
            payloads = {
                r.entry_id: r.payload
                for r in conn.execute(text("SELECT entry_id, payload FROM payloads"))
            }
            cases = conn.execute(
                text(
                    "SELECT case_id, decision_id, kind, status, resolution_entry_id FROM review_cases"
                )
            ).all()
    finally:
        engine.dispose()

    seqs = [r.seq for r in rows]
    assert seqs == list(range(1, len(rows) + 1)), f"gap in seq: {_gaps(seqs)}"
    for before, after in itertools.pairwise(rows):
        assert after.prev_hash == before.entry_hash, (
            f"seq {after.seq} does not link to its previous"
        )
    assert len(head) == 1 and head[0].seq == len(rows), f"chain_head {head} vs {len(rows)} entries"
    assert not rows or head[0].entry_hash == rows[-1].entry_hash, "chain_head names another entry"

    entry_ids = {r.entry_id for r in rows}
    missing_payload = [
        r.seq for r in rows if r.payload_hash is not None and payloads.get(r.entry_id) is None
    ]
    assert not missing_payload, f"entries without their payload: seq {missing_payload[:20]}"
    assert set(payloads) <= entry_ids, "payload rows without an entry"

    decision_rows = [r for r in rows if r.kind == "decision"]
    by_subject: dict[str, int] = {}
    referred: dict[str, str] = {}  # decision id -> case id, from the chain
    for r in decision_rows:
        by_subject[r.subject_id] = by_subject.get(r.subject_id, 0) + 1
        digest = json.loads(r.digest)
        if digest.get("outcome") == "referred":
            referred[r.subject_id] = digest["case"]["case_id"]
    twice = [d for d, n in by_subject.items() if n > 1]
    assert not twice, f"decisions recorded twice: {twice[:5]}"
    lost = sorted(decided - set(by_subject))
    assert not lost, f"{len(lost)} decisions answered 200 are not in the ledger: {lost[:5]}"

    referral_cases = {c.case_id: c for c in cases if c.kind == "referral"}
    no_case = [d for d, c in referred.items() if c not in referral_cases]
    assert not no_case, f"referred decisions without their case: {no_case[:5]}"
    orphan = [c.case_id for c in referral_cases.values() if c.decision_id not in by_subject]
    assert not orphan, f"cases without their decision: {orphan[:5]}"
    wrong = [c for c_id, c in referral_cases.items() if referred.get(c.decision_id) != c_id]
    assert not wrong, f"cases that are not their decision's case: {wrong[:5]}"

    unresolved = [
        c
        for c in resolved
        if c not in referral_cases
        or referral_cases[c].status != "resolved"
        or referral_cases[c].resolution_entry_id not in entry_ids
    ]
    assert not unresolved, f"resolutions answered 200 but not on record: {unresolved[:5]}"
    return LedgerFacts(len(rows), len(decision_rows), len(decided), len(resolved))


def verify_command(settings: Settings) -> str:
    """Run `docket ledger verify` on ``settings``; its output (asserting exit 0 and ``ok:``)."""
    exe = str(Path(sys.executable).with_name("docket"))
    env = {**os.environ, **settings.as_env()}
    out = subprocess.run(
        [exe, "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=VERIFY_TIMEOUT_S,
        check=False,
    )
    assert out.returncode == 0 and out.stdout.startswith("ok:"), out.stdout + out.stderr
    return out.stdout


def _gaps(seqs: list[int]) -> list[int]:
    have = set(seqs)
    return [s for s in range(1, max(seqs, default=0) + 1) if s not in have][:20]
