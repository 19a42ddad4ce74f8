"""Scale benchmark: checkpoints of a 1,000,000-entry ledger, proof sizes, verification.

Builds a SQLite ledger of ``--entries`` chained entries (bulk-inserted with the real
entry hashes, since a million one-transaction appends would measure the append path,
not the ledger), then times, in one run:

(a) **baseline**: ``DecisionLog.verify()``, the hash-chain verification every ledger
    already had (every entry hash recomputed, every payload checked);
(b) **a checkpoint from cold**: ``make_checkpoint`` = read every entry hash, build the
    RFC 9162 tree, root it, sign (what ``docket ledger checkpoint`` does);
(c) **an incremental checkpoint**: ``CheckpointWriter`` (what the service keeps)
    after ``--append`` more entries;
(d) **verification against checkpoints**: ``verify_against_witness`` with the two
    checkpoints (at half and at the full size) and their segments in a witness
    folder: read the entry hashes, build the tree, check both roots, one
    consistency proof; and the same after a rewrite of entry ``entries // 3`` with
    every hash recomputed (which (a) does not see);
(e) **proof sizes**: an inclusion proof (hashes, bytes, a receipt's JSON bytes) and
    a consistency proof from half to full size; the standalone tool's verification
    time of one receipt.

Usage::

    .venv/bin/python benchmarks/ledger_scale.py [--entries 1000000] [--append 1000]
        [--folder /tmp/ledger-bench]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from models.canonical import canonical_json  # noqa: E402
from serving.ledger import DecisionLog  # noqa: E402
from serving.ledger.chain import GENESIS_HASH, compute_entry_hash  # noqa: E402
from serving.ledger.checkpoints import (  # noqa: E402
    CheckpointWriter,
    WitnessSinks,
    ledger_leaves,
    make_checkpoint,
    publish_checkpoint,
    verify_against_witness,
)
from serving.ledger.merkle import MerkleTree  # noqa: E402
from serving.ledger.schema import ChainHeadRow, LogEntryRow  # noqa: E402
from serving.ledger.signing import Signer  # noqa: E402


def _timed(label: str, results: dict[str, float], func: Any) -> Any:
    start = time.perf_counter()
    value = func()
    results[label] = time.perf_counter() - start
    print(f"  {label}: {results[label]:.2f} s", file=sys.stderr)
    return value


def _fill(log: DecisionLog, first: int, count: int, previous: str) -> str:
    batch: list[dict[str, Any]] = []
    with log.engine.begin() as conn:
        for seq in range(first, first + count):
            digest = {"outcome": "approved", "score": (seq % 997) / 997, "model": "v3"}
            fields = {
                "seq": seq,
                "entry_id": f"00000000-0000-4000-8000-{seq:012d}",
                "kind": "decision",
                "use_case": "credit-eligibility",
                "subject_id": None,
                "recorded_at": "2026-01-01T00:00:00.000000Z",
                "digest": digest,
                "payload_hash": None,
                "prev_hash": previous,
            }
            previous = compute_entry_hash(fields)
            batch.append({**fields, "digest": canonical_json(digest), "entry_hash": previous})
            if len(batch) == 50_000:
                conn.execute(insert(LogEntryRow), batch)
                batch.clear()
        if batch:
            conn.execute(insert(LogEntryRow), batch)
        conn.execute(
            ChainHeadRow.__table__.update()  # type: ignore[attr-defined]
            .where(ChainHeadRow.id == 1)
            .values(seq=first + count - 1, entry_hash=previous)
        )
    return previous


def _rewrite_and_rechain(log: DecisionLog, seq: int) -> None:
    """The DBA's attack: edit one digest, recompute every hash after it and the head."""
    rows = [
        dict(r)
        for r in log.engine.connect()
        .execute(text("SELECT * FROM log_entries WHERE seq >= :s ORDER BY seq"), {"s": seq})
        .mappings()
    ]
    with log.engine.begin() as conn:
        previous = conn.execute(
            text("SELECT entry_hash FROM log_entries WHERE seq = :s"), {"s": seq - 1}
        ).scalar_one()
        updates = []
        for row in rows:
            digest = json.loads(row["digest"])
            if row["seq"] == seq:
                digest["outcome"] = "declined"
            fields = {
                k: row[k]
                for k in (
                    "seq",
                    "entry_id",
                    "kind",
                    "use_case",
                    "subject_id",
                    "recorded_at",
                    "payload_hash",
                )
            }
            fields.update(digest=digest, prev_hash=previous)
            previous = compute_entry_hash(fields)
            updates.append(
                {
                    "s": row["seq"],
                    "d": canonical_json(digest),
                    "p": fields["prev_hash"],
                    "h": previous,
                }
            )
        conn.execute(
            text(
                "UPDATE log_entries SET digest = :d, prev_hash = :p, entry_hash = :h WHERE seq = :s"
            ),
            updates,
        )
        conn.execute(text("UPDATE chain_head SET entry_hash = :h WHERE id = 1"), {"h": previous})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--append", type=int, default=1000)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    n = args.entries
    folder = args.folder or Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    log = DecisionLog(f"sqlite:///{folder / 'decisions.db'}")
    log.migrate()
    signer = Signer.from_raw(bytes(range(32)))
    t: dict[str, float] = {}

    print(f"ledger of {n:,} entries in {folder}", file=sys.stderr)
    half = n // 2
    previous = _timed(
        "fill (bulk insert, hashes computed)", t, lambda: _fill(log, 1, half, GENESIS_HASH)
    )
    sinks = WitnessSinks([folder / "witness"])
    _timed("checkpoint + segment at half size", t, lambda: publish_checkpoint(log, signer, sinks))
    _fill(log, half + 1, n - half, previous)
    _timed("checkpoint + segment at full size", t, lambda: publish_checkpoint(log, signer, sinks))

    print("(a) baseline", file=sys.stderr)
    chain = _timed("chain verify (DecisionLog.verify)", t, log.verify)
    assert chain.ok, chain.detail
    print("(b) checkpoint from cold", file=sys.stderr)
    leaves = _timed("read entry hashes", t, lambda: ledger_leaves(log))
    tree = _timed("build tree + root", t, lambda: MerkleTree(leaves).root())
    checkpoint = _timed("make_checkpoint (all of it)", t, lambda: make_checkpoint(log, signer))
    assert checkpoint.root_hash == tree.hex()
    print("(c) incremental checkpoint", file=sys.stderr)
    writer = CheckpointWriter(log, signer, WitnessSinks([folder / "witness-writer"]))
    _timed("writer: first checkpoint", t, writer.checkpoint)
    last = _fill(log, n + 1, args.append, log.head().entry_hash)
    del last
    _timed(f"writer: checkpoint after {args.append} more", t, writer.checkpoint)
    with log.engine.begin() as conn:  # back to n entries for (d)
        conn.execute(text("DELETE FROM log_entries WHERE seq > :n"), {"n": n})
        conn.execute(
            text(
                "UPDATE chain_head SET seq = :n, entry_hash = "
                "(SELECT entry_hash FROM log_entries WHERE seq = :n) WHERE id = 1"
            ),
            {"n": n},
        )

    print("(d) verification against checkpoints", file=sys.stderr)
    ok = _timed(
        "verify against 2 checkpoints + segments",
        t,
        lambda: verify_against_witness(log, folder / "witness", signer.public_key),
    )
    assert ok.ok, ok.detail
    _rewrite_and_rechain(log, n // 3)
    assert log.verify().ok
    broken = _timed(
        "verify a forged ledger",
        t,
        lambda: verify_against_witness(log, folder / "witness", signer.public_key),
    )
    assert not broken.ok and broken.first_differing_seq == n // 3, broken

    print("(e) proofs", file=sys.stderr)
    full = MerkleTree(leaves)
    full.root()
    index = n // 3
    inclusion = full.inclusion_proof(index, n)
    consistency = full.consistency_proof(half, n)
    receipt = {
        "entry_hash": leaves[index].hex(),
        "leaf_index": index,
        "tree_size": n,
        "proof": [p.hex() for p in inclusion],
        "checkpoint": signer.sign_checkpoint(n, full.root().hex()).model_dump(),
    }
    spec = importlib.util.spec_from_file_location(
        "verify_receipt", ROOT / "tools" / "verify_receipt.py"
    )
    assert spec is not None and spec.loader is not None
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    start = time.perf_counter()
    for _ in range(100):
        tool.verify_receipt(receipt, signer.public_key)
    per_receipt = (time.perf_counter() - start) / 100
    segments = sum(p.stat().st_size for p in (folder / "witness").glob("leaves-*"))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(f"\n| {n:,} entries | seconds |\n|---|---|")
    for label, seconds in t.items():
        print(f"| {label} | {seconds:.2f} |")
    print(
        f"\ninclusion proof: {len(inclusion)} hashes, {32 * len(inclusion)} bytes; "
        f"receipt JSON {len(json.dumps(receipt))} bytes; standalone verification "
        f"{per_receipt * 1000:.2f} ms"
    )
    print(
        f"consistency proof {half:,} -> {n:,}: {len(consistency)} hashes, "
        f"{32 * len(consistency)} bytes"
    )
    print(
        f"checkpoint JSON {len(checkpoint.to_json())} bytes; witness segments "
        f"{segments / 1e6:.1f} MB; peak RSS {rss:.0f} MB"
    )


if __name__ == "__main__":
    main()
