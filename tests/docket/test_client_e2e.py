"""The Python client against a real `docket serve` on loopback.

The module builds its own registry (the synthetic use case, audited PASS and
promoted, its review policy patched by :mod:`tests.serving.http.review_setup` so
that the minimum review time is short), its own signing key and witness folder,
and starts the service with a checkpoint every second. Decisions, reads, the
review of a referred case, an appeal, the statistics, a receipt and typed errors
go through :class:`DocketClient` (and the async twin); what they should show is
checked against what the test sent, the ledger read directly, and
``tools/verify_receipt.py`` (which holds no Docket code).

A retried ``decide`` goes through a proxy that drops the server's first answer
after the server sent it: the client retries with the same ``Idempotency-Key``,
gets the decision, and the ledger holds exactly one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from docket.client import (
    AsyncDocketClient,
    Conflict,
    DocketClient,
    Forbidden,
    InvalidRequest,
    NotFound,
    RetryPolicy,
    Unauthorized,
)
from serving.access.keys import create_key
from serving.access.people import add_person
from serving.decisions import DecisionView
from serving.decisions.record import DecisionRecord
from serving.ledger import DecisionLog
from serving.ledger.signing import generate_key, load_public_key
from serving.ledger.witness import read_checkpoints
from tests.reliability.proxy import TcpProxy
from tests.serving.http.review_setup import USE_CASE, build_registry, data_rows
from tests.serving.server import docket_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MIN_REVIEW_SECONDS = 1
POLL_ATTEMPTS = 120  # half a second apart: a checkpoint is written every second
HIGH_DEBT = 45000.0  # above the spec's high-stakes rule: always referred to a person


@dataclass
class Served:
    url: str
    database_url: str
    tokens: dict[str, str]
    ids: dict[str, str]
    rows: list[dict[str, Any]]
    public_key_file: Path
    witness: Path
    cursor: int = 0

    def client(self, who: str, **more: Any) -> DocketClient:
        return DocketClient(self.url, self.tokens[who], **more)

    def features(self, **change: Any) -> dict[str, Any]:
        """The next real row of the data, with ``change`` applied."""
        row = self.rows[self.cursor % len(self.rows)]
        self.cursor += 1
        return {**row, **change}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("client-e2e")
    settings, data_csv = build_registry(home / "registry", MIN_REVIEW_SECONDS)
    log = DecisionLog(settings.database_url)
    log.migrate()
    tokens = {
        "app": create_key(log.engine, "application", "lending app")[0],
        "auditor": create_key(log.engine, "auditor", "audit desk")[0],
    }
    ids = {}
    for who, roles in {"A": ["reviewer"], "B": ["reviewer"]}.items():
        token, person = add_person(log.engine, f"Reviewer {who}", roles, "test setup")
        tokens[who], ids[who] = token, person.person_id
    log.close()
    key_file = home / "state" / "ledger-signing.key"
    generate_key(key_file)
    env = {
        "DOCKET_CHECKPOINT_SECONDS": "1",
        "DOCKET_LEDGER_KEY_FILE": str(key_file),
        "DOCKET_WITNESS": str(home / "witness"),
    }
    with docket_server(settings, home, env=env) as url:
        yield Served(
            url,
            settings.database_url,
            tokens,
            ids,
            data_rows(data_csv),
            key_file.with_name(key_file.name + ".pub"),
            home / "witness",
        )


def decision_entries(served: Served) -> list[str]:
    """Subject ids of the ledger's decision entries, read from the database itself."""
    with DecisionLog(served.database_url) as log:
        return [e.subject_id or "" for e in log.iter_entries() if e.kind == "decision"]


#: the recorded decision's fields (``rationale`` aside: the answer to ``decide`` holds the
#: person's values in it, the record does not)
RECORD_FIELDS = set(DecisionRecord.model_fields) - {"rationale"}


def test_a_decision_is_read_back_as_it_was_made(served: Served) -> None:
    # given
    features = served.features()

    # when
    with served.client("app") as app:
        made = app.decide(USE_CASE, features, application_ref="A-1")
        read = app.get_decision(made.decision_id)
        personal = app.get_decision(made.decision_id, personal=True).decision.personal

    # then: the same record, status and receipt; the ledger has it at the seq it says
    assert isinstance(made, DecisionView) and made.use_case == USE_CASE
    assert read.decision.model_dump(include=RECORD_FIELDS) == made.model_dump(include=RECORD_FIELDS)
    assert (read.decision.log_seq, read.decision.receipt) == (made.log_seq, made.receipt)
    assert read.decision.personal is None  # personal data only when asked for
    assert read.final.decision_id == made.decision_id
    assert personal is not None
    assert (personal["features"], personal["application_ref"]) == (features, "A-1")
    assert read.final.decided_by == "model"
    if made.outcome == "referred":
        assert read.status == "pending_review"
    else:
        assert (read.status, read.outcome) == ("final", made.outcome)
    with DecisionLog(served.database_url) as log:
        about = [e for e in log.iter_entries() if e.subject_id == made.decision_id]
    # the decision, then the logged read of its personal data
    assert [e.kind for e in about] == ["decision", "access"]
    entry = about[0]
    assert entry.seq == made.log_seq
    assert made.receipt is not None and made.receipt.entry_hash == entry.entry_hash


def test_a_referred_case_is_worked_appealed_and_counted_through_the_client(
    served: Served,
) -> None:
    # given: a decision the high-stakes rule refers to a person
    features = served.features(debt=HIGH_DEBT)
    with (
        served.client("app") as app,
        served.client("A") as a,
        served.client("B") as b,
        served.client("auditor") as auditor,
    ):
        made = app.decide(USE_CASE, features)
        assert made.outcome == "referred" and made.case_id is not None, made
        assert made.recommendation == "decline", made  # so approving it overrides the model
        case_id = made.case_id

        # when: reviewer A finds it in the queue, claims it, opens it and resolves it
        assert case_id in {c.case_id for c in a.cases(status=["open"], use_case=USE_CASE)}
        claimed = a.claim(case_id)
        opened = a.open_case(case_id)
        time.sleep(MIN_REVIEW_SECONDS + 0.2)
        resolved = a.resolve(case_id, "approved", "income_verified", note="Payslips seen.")

        # then: each step as the service recorded it
        assert (claimed.case.status, claimed.case.claimed_by_id) == ("claimed", served.ids["A"])
        assert opened.case.case_id == case_id and opened.personal is not None
        assert opened.personal.features == features
        assert opened.record.decision_id == made.decision_id
        assert resolved.case.status == "resolved" and resolved.case.outcome == "approved"
        read = app.get_decision(made.decision_id)
        assert (read.status, read.outcome, read.final.decided_by) == ("final", "approved", "review")
        assert read.final.decided_by_id == served.ids["A"]
        actions = [(h.model_extra or {}).get("action") for h in read.decision.history or []]
        assert [x for x in actions if x] == ["claimed", "opened", "resolved"]

        # when / then: the notice, then the person's appeal, which A may not take but B may
        notice = app.notice(made.decision_id)
        assert (notice.outcome, notice.reviewed_by_a_person) == ("approved", True)
        assert made.decision_id in app.notice_html(made.decision_id)
        appealed = app.appeal(made.decision_id, "My debt was paid off last week.")
        assert appealed.case.kind == "appeal" and appealed.case.decision_id == made.decision_id
        assert served.ids["A"] in appealed.case.excluded
        with pytest.raises(Forbidden):
            a.claim(appealed.case.case_id)
        assert b.claim(appealed.case.case_id).case.claimed_by_id == served.ids["B"]
        assert app.get_decision(made.decision_id).status == "pending_review"

        # when / then: A's statistics are what A did: one case, approved against the
        # model's decline (the high debt), an override for 'income_verified'
        stats = {s.person_id: s for s in auditor.review_stats(use_case=USE_CASE)}
        mine = stats[served.ids["A"]]
        assert (mine.cases, mine.with_recommendation, mine.agreements) == (1, 1, 0)
        assert (mine.overrides, mine.overrides_by_reason) == (1, {"income_verified": 1})


def test_a_receipt_is_verified_offline_with_the_services_code(
    served: Served, tmp_path: Path
) -> None:
    # given: a decision and its pending receipt
    with served.client("app") as app:
        made = app.decide(USE_CASE, served.features())
        assert made.receipt is not None
        # when: polled until a signed checkpoint covers it
        for _ in range(POLL_ATTEMPTS):
            full = app.receipt(made.receipt.entry_id)
            if full.covered:
                break
            time.sleep(0.5)
        assert full.covered, full

        # then: it verifies with the key kept out of band, and with the one the service shows
        pinned = served.public_key_file.read_text()
        check = app.verify_receipt(made.receipt, public_key=pinned)
        assert check.valid, check.reason
        assert app.verify_receipt(made.receipt).valid
        assert full.checkpoint is not None and check.log_id == full.checkpoint.log_id
        assert load_public_key(served.public_key_file).hex() == app.public_key()["public_key_hex"]

        # and: against the checkpoint a witness holds (copied out of the database by the
        # service): the one the receipt names verifies, another one is not it
        [held] = [c for c in read_checkpoints(served.witness) if c == full.checkpoint]
        assert app.verify_receipt(made.receipt, public_key=pinned, checkpoint=held).valid
        other_root = held.model_copy(update={"root_hash": "ab" * 32})
        stale = app.verify_receipt(made.receipt, public_key=pinned, checkpoint=other_root)
        assert not stale.valid and "is not the one given" in stale.reason

        # and: a changed proof, another key, or another entry's receipt do not verify
        assert full.proof
        bent = full.model_copy(update={"proof": ["00" * 32, *full.proof[1:]]})
        assert not app.verify_receipt(bent, public_key=pinned).valid
        other_key = generate_key(tmp_path / "other.key").public_key_pem()
        wrong = app.verify_receipt(made.receipt, public_key=other_key)
        assert not wrong.valid and "log" in wrong.reason
        other = app.decide(USE_CASE, served.features())
        assert other.receipt is not None
        swapped = app.verify_receipt(
            made.receipt.model_copy(update={"entry_hash": other.receipt.entry_hash})
        )
        assert not swapped.valid and "the write answered" in swapped.reason

    # and: the independent verifier (no Docket code) agrees
    receipt_file = tmp_path / "receipt.json"
    receipt_file.write_text(full.model_dump_json())
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "tools" / "verify_receipt.py"),
            str(receipt_file),
            "--public-key",
            str(served.public_key_file),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


def test_refusals_are_typed_and_name_the_field(served: Served) -> None:
    with served.client("app") as app, served.client("A") as a, served.client("B") as b:
        # a bad feature value: 400 naming the field, what is allowed and what was sent
        with pytest.raises(InvalidRequest) as bad:
            app.decide(USE_CASE, served.features(income="lots"))
        assert bad.value.status_code == 400
        assert "features.income" in bad.value.fields
        [problem] = [p for p in bad.value.problems if p.loc == ["features", "income"]]
        assert problem.input == "lots" and "number" in problem.msg
        assert isinstance(bad.value.body, dict) and "error" in bad.value.body

        with pytest.raises(NotFound) as unknown:
            app.get_decision("no-such-decision")
        assert unknown.value.status_code == 404 and "no-such-decision" in unknown.value.message

        # an API key cannot act on cases; another reviewer cannot take a held case
        made = app.decide(USE_CASE, served.features(debt=HIGH_DEBT))
        assert made.case_id is not None
        with pytest.raises(Forbidden):
            app.claim(made.case_id)
        a.claim(made.case_id)
        with pytest.raises(Conflict) as held:
            b.claim(made.case_id)
        assert "claimed by Reviewer A" in held.value.message

    with DocketClient(served.url, "dk_unknown_secret") as stranger, pytest.raises(Unauthorized):
        stranger.cases()


class DropsFirstAnswer(TcpProxy):
    """Forwards like :class:`TcpProxy`, except that the first connection's answer is
    thrown away once the server starts sending it: the server did the work, the client
    sees the connection close with no answer."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.dropped: list[bytes] = []
        self._drop_next = True
        self._drop_lock = threading.Lock()
        super().__init__(upstream_host, upstream_port)

    def _pump(self, pair: tuple[socket.socket, socket.socket]) -> None:
        with self._drop_lock:
            drop, self._drop_next = self._drop_next, False
        if not drop:
            super()._pump(pair)
            return
        _, server = pair
        with selectors.DefaultSelector() as selector:
            try:
                for s in pair:
                    selector.register(s, selectors.EVENT_READ)
                while not self.dropped:
                    for key, _ in selector.select(timeout=30):
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        if key.fileobj is server:
                            self.dropped.append(data)
                            break
                        server.sendall(data)
            except OSError:
                return
            finally:
                for s in pair:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                    s.close()


def test_a_decide_whose_answer_is_lost_is_retried_and_recorded_once(served: Served) -> None:
    # given: the service behind a proxy that loses the first answer
    host, port = served.url.removeprefix("http://").split(":")
    features = served.features()
    before = decision_entries(served)
    sleeps: list[float] = []
    proxy = DropsFirstAnswer(host, int(port))
    with proxy:
        through = DocketClient(
            f"http://127.0.0.1:{proxy.port}",
            served.tokens["app"],
            retry=RetryPolicy(attempts=3),
            sleep=sleeps.append,
        )
        # when
        with through:
            made = through.decide(USE_CASE, features)
        carried = proxy.carried

    # then: the server answered the first attempt (the proxy threw it away) and the
    # retry got that decision again; the ledger holds it once
    assert proxy.dropped and proxy.dropped[0].startswith(b"HTTP/1.1 200")
    assert carried == 2 and len(sleeps) == 1
    after = decision_entries(served)
    assert after[: len(before)] == before
    assert after[len(before) :] == [made.decision_id]
    with served.client("app") as app:
        read = app.get_decision(made.decision_id)
    assert read.decision.model_dump(include=RECORD_FIELDS) == made.model_dump(include=RECORD_FIELDS)


def test_the_async_client_decides_reads_back_and_raises_typed_errors(served: Served) -> None:
    features = served.features()

    async def run() -> tuple[DecisionView, Any, InvalidRequest]:
        async with AsyncDocketClient(served.url, served.tokens["app"]) as app:
            made = await app.decide(USE_CASE, features)
            read = await app.get_decision(made.decision_id)
            try:
                await app.decide(USE_CASE, {**features, "debt": "a lot"})
            except InvalidRequest as error:
                return made, read, error
            raise AssertionError("a bad feature value was decided")

    made, read, error = asyncio.run(run())
    assert read.decision.model_dump(include=RECORD_FIELDS) == made.model_dump(include=RECORD_FIELDS)
    assert error.status_code == 400 and "features.debt" in error.fields
    assert json.dumps(error.body).count("a lot") >= 1


def test_the_readme_example_runs(served: Served) -> None:
    # the README's "Python client" example, with this module's server, tokens and use case
    url, app_key, reviewer_token = served.url, served.tokens["app"], served.tokens["A"]
    features = served.features(debt=HIGH_DEBT)
    use_case = USE_CASE
    public_key_pem = served.public_key_file.read_text()

    # --- as in the README ---
    with DocketClient(url, token=app_key) as app:  # an application's API key, dk_...
        made = app.decide(use_case, features, application_ref="A-1")
        print(made.outcome, made.case_id, [r.code for r in made.reasons])
        read = app.get_decision(made.decision_id)  # read.status, read.final.outcome
        try:
            app.decide(use_case, {**features, "income": "lots"})
        except InvalidRequest as error:
            refused = error.fields  # ['features.income'] (error.problems: msg, input, allowed)

    with DocketClient(url, token=reviewer_token) as reviewer:  # a person's own token, dp_...
        queue = reviewer.cases(status=["open"])  # oldest deadline first
        case = next(c for c in queue if c.decision_id == made.decision_id)
        reviewer.claim(case.case_id)
        opened = reviewer.open_case(case.case_id)  # the person's data; the read is logged
        time.sleep(MIN_REVIEW_SECONDS + 0.2)  # the spec's min_review_seconds
        done = reviewer.resolve(case.case_id, "approved", "income_verified", note="Payslips seen.")

    with DocketClient(url, token=app_key) as app:
        check = app.verify_receipt(done.receipt, public_key=public_key_pem)
        print(check.valid, check.reason)  # False until a signed checkpoint covers it
    # --- end of the example ---

    assert made.outcome == "referred" and case.case_id == made.case_id
    assert read.status == "pending_review" and opened.case.case_id == made.case_id
    assert refused == ["features.income"]
    assert done.case.status == "resolved"
    # the app reads the receipt of a review action on its own decision; it verifies once covered
    with DocketClient(url, token=app_key) as app:
        for _ in range(POLL_ATTEMPTS):
            if check.valid:
                break
            assert "not covered" in check.reason, check.reason
            time.sleep(0.5)
            check = app.verify_receipt(done.receipt, public_key=public_key_pem)
    assert check.valid, check.reason
