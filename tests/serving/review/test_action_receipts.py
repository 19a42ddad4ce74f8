"""Every review action and appeal returns the receipt of the entry that records it."""

from __future__ import annotations

from sqlalchemy import text

from serving.ledger import DecisionLog
from serving.review import ReviewDesk
from serving.review.views import ActionResult, OpenedCase
from tests.serving.review.helpers import ANN, BOB, FakeClock, record_decision

STATEMENT = "My income rose in January; I attach my new contract."


def _stored(log: DecisionLog, entry_id: str) -> tuple[int, str]:
    with log.engine.connect() as db:
        row = db.execute(
            text("SELECT seq, entry_hash FROM log_entries WHERE entry_id = :e"), {"e": entry_id}
        ).one()
    return int(row.seq), str(row.entry_hash)


def _check(log: DecisionLog, result: ActionResult | OpenedCase) -> None:
    seq, entry_hash = _stored(log, result.entry_id)
    receipt = result.receipt
    assert receipt.entry_id == result.entry_id
    assert receipt.entry_hash == entry_hash
    assert receipt.leaf_index == seq - 1 == result.entry_seq - 1
    assert receipt.proof_url == f"/ledger/receipts/{result.entry_id}"


def test_each_action_and_the_appeal_carry_their_entry_receipt(
    desk: ReviewDesk, log: DecisionLog, clock: FakeClock
) -> None:
    record = record_decision(log, clock, recommendation="decline")
    assert record.case is not None
    case_id = record.case.case_id

    claimed = desk.claim(case_id, **ANN)
    released = desk.release(case_id, **ANN)
    desk.claim(case_id, **BOB)
    opened = desk.open(case_id, **BOB)
    clock.advance(seconds=60)  # the spec's least review time
    resolved = desk.resolve(
        case_id, **BOB, outcome="declined", reason_code="model_reasons_confirmed"
    )
    appealed = desk.appeal(record.decision_id, statement=STATEMENT, filed_by="loans-app")

    for result in (claimed, released, opened, resolved, appealed):
        _check(log, result)
    hashes = {r.receipt.entry_hash for r in (claimed, released, opened, resolved, appealed)}
    assert len(hashes) == 5
