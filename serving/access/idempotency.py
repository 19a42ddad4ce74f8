"""``Idempotency-Key``: a retried POST gets the first answer again and writes nothing twice.

The rules (Stripe's idempotency keys, as built here):

- A caller may send ``Idempotency-Key: <1 to 255 visible ASCII characters>`` on
  any API ``POST`` (not under ``/console``); anything else in the header is a 400
  naming it. Without the header nothing changes.
- A key belongs to the caller (the API key's id, or ``person:<id>`` for a
  personal token), the method and the path: two callers, or two routes, never
  share a key.
- The request's *fingerprint* is the SHA-256 of its method, path, query string
  and exact body bytes (not a canonical form of the JSON: a retry resends the
  same bytes). The same key with another fingerprint is a 409.
- The first request with a key claims it (the table's primary key decides
  among concurrent ones) and runs. Its answer is stored if its status is below
  500 (2xx and 4xx); a 5xx, an exception or a dropped response releases the
  claim, so a retry really runs again.
- A request whose key is answered gets the stored status, content type and
  body, with ``Idempotent-Replayed: true``; the route does not run.
- A request whose key is claimed but not answered waits (polling, up to
  ``wait_seconds``, 10 s) for the answer; still none: 409, retry later. A claim
  older than the service's request timeout (30 s) with no answer was left by a
  process that died or timed out: the next request with the key takes it over.
- Keys expire ``DOCKET_IDEMPOTENCY_HOURS`` (default 24) after they were claimed;
  expired rows are deleted lazily (when a request meets one, and at most once a
  minute per process for all of them).

Where the answer is stored, and what a crash leaves behind:

- ``POST /decide`` stores its answer in the ledger transaction that records the
  decision (:meth:`HeldKey.record`, called from the engine's ``also`` hook): a
  decision never exists without its stored answer, nor an answer without its
  decision. The update only succeeds while the request still holds the claim,
  so a request that lost it (its claim taken over or released after a timeout)
  cannot commit a second decision: it rolls back with :class:`ClaimLost`.
- Every other route's answer is stored after the route returned, in a separate
  transaction, just before the last byte of the answer is sent. If the process
  dies in between, the action was done but the key shows no answer; 30 s later
  a retry takes the claim over and runs the action again. The review state
  machine refuses a repeated resolve, second review, release or appeal as a
  409 conflict (and that 409 becomes the key's answer), so nothing is written
  twice; a repeated *claim* by the same reviewer is not refused: it renews the
  lease (a second ``claim_renewed`` entry). Admin POSTs (stop, resume, reload,
  waiver approval) were not checked for this: a repeated stop or resume is
  another switch entry.
- A request cancelled while it runs (the service's 30 s timeout) releases its
  claim; if even that fails, the claim is taken over after 30 s as above.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import anyio
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.settings import Settings, positive_from_env
from serving.access.bodies import read_body, replay_body
from serving.access.console_gate import CONSOLE_PREFIX
from serving.access.errors import ErrorKind, ServiceError
from serving.access.keys import Principal
from serving.access.middleware import MAX_BODY_BYTES
from serving.access.schema import IdempotencyKeyRow
from serving.ledger import create_log_engine
from serving.ledger.engine import writer
from serving.ledger.times import Clock, stamp, utc_now

__all__ = [
    "HEADER",
    "REPLAYED_HEADER",
    "Answer",
    "BadIdempotencyKey",
    "Busy",
    "Claim",
    "ClaimLost",
    "HeldKey",
    "IdempotencyLayer",
    "IdempotencyStore",
    "KeyedRequest",
    "Mismatch",
    "Replay",
    "check_key",
    "fingerprint",
    "idempotency_hours",
]

logger = logging.getLogger("docket.idempotency")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
DEFAULT_HOURS = 24.0
#: the service's request timeout: a claim this old with no answer was abandoned
TAKEOVER_SECONDS = 30.0
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
_PURGE_EVERY_S = 60.0
_SHOWN = 40  # characters of a bad header value echoed back

_IN_PROGRESS = "in_progress"
_DONE = "done"

_MESSAGE_BAD_KEY = (
    "header 'Idempotency-Key' must be 1 to 255 visible ASCII characters (no spaces or"
    " control characters); got {shown} ({length} characters)"
)
_MESSAGE_TWO_KEYS = "send one 'Idempotency-Key' header; got {count}"
_MESSAGE_MISMATCH = (
    "header 'Idempotency-Key' {key!r} was already used by this caller for a different"
    " request to {method} {path} (another body or query); use a new key for a new request"
)
_MESSAGE_BUSY = "a request with this Idempotency-Key is still in progress; retry later"
_MESSAGE_LOST = (
    "this request's Idempotency-Key was taken over by a retry while it ran; nothing was"
    " recorded by it: retry to get the answer"
)


# -- the rules on the header --------------------------------------------------------------


class BadIdempotencyKey(ServiceError):
    """The ``Idempotency-Key`` header is not 1 to 255 visible ASCII characters."""

    kind: ErrorKind = "invalid"


class ClaimLost(ServiceError):
    """The request no longer holds its key's claim, so it must not record anything."""

    kind: ErrorKind = "conflict"


def idempotency_hours() -> float:
    """How long a key is kept (``DOCKET_IDEMPOTENCY_HOURS``, default 24)."""
    return positive_from_env("DOCKET_IDEMPOTENCY_HOURS", DEFAULT_HOURS, "hours")


def check_key(values: list[bytes]) -> str:
    """The one header value as a key, or :class:`BadIdempotencyKey` saying what is wrong."""
    if len(values) != 1:
        raise BadIdempotencyKey(_MESSAGE_TWO_KEYS.format(count=len(values)))
    raw = values[0]
    if 1 <= len(raw) <= MAX_KEY_LENGTH and all(0x21 <= b <= 0x7E for b in raw):
        return raw.decode("ascii")
    text = raw.decode("latin-1")
    shown = repr(text[:_SHOWN]) + ("…" if len(text) > _SHOWN else "")
    raise BadIdempotencyKey(_MESSAGE_BAD_KEY.format(shown=shown, length=len(text)))


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    """SHA-256 of the request: method, path, query string, exact body bytes (length-framed)."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


# -- the store ----------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyedRequest:
    """A request that carries a key: whose, where, which key, and its fingerprint."""

    caller: str
    method: str
    path: str
    key: str
    fingerprint: str

    @property
    def slot(self) -> str:
        """The row's id: SHA-256 of caller, method, path and key (length-framed)."""
        digest = hashlib.sha256()
        for part in (self.caller, self.method, self.path, self.key):
            data = part.encode()
            digest.update(len(data).to_bytes(8, "big"))
            digest.update(data)
        return digest.hexdigest()


@dataclass(frozen=True)
class Answer:
    """A stored answer: what a replay sends back."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Claim:
    """This request holds the key (``token`` proves it): it runs, then stores or releases."""

    slot: str
    token: str
    taken_over: bool = False


@dataclass(frozen=True)
class Replay:
    """The key was answered: send this again."""

    answer: Answer


@dataclass(frozen=True)
class Mismatch:
    """The key was used by this caller for a request with another fingerprint."""


@dataclass(frozen=True)
class Busy:
    """Another request holds the key and has not answered yet."""


Outcome = Claim | Replay | Mismatch | Busy


class IdempotencyStore:
    """Claims, answers and releases of keys in ``access_idempotency_keys``.

    Every method is one short transaction of its own except :meth:`record`,
    which writes in the caller's transaction.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        hours: float | None = None,
        takeover_seconds: float = TAKEOVER_SECONDS,
        clock: Clock = utc_now,
    ) -> None:
        self._engine = engine
        self._writer = writer(engine)
        self.hours = idempotency_hours() if hours is None else hours
        self.takeover_seconds = takeover_seconds
        self._clock = clock
        self._purged_at: float | None = None

    def _expired_before(self, now: datetime) -> str:
        return stamp(now - timedelta(hours=self.hours))

    def begin(self, request: KeyedRequest) -> Outcome:
        """Claim the key for ``request``, or say why not (answered, mismatch, busy).

        Reads first, so a replay or a wait writes nothing; only a free,
        expired or abandoned key is written to.
        """
        slot = request.slot
        self._purge_if_due()
        # a few rounds: a row can be deleted or taken over between the read and the write
        for _ in range(4):
            now = self._clock()
            row = self._read(slot)
            if row is None:
                claim = Claim(slot, secrets.token_hex(16))
                if self._insert(request, claim, now):
                    return claim
                continue  # another request claimed it first: look at its row
            if row.created_at < self._expired_before(now):
                self._delete(slot, row.token)
                continue
            if row.fingerprint != request.fingerprint:
                return Mismatch()
            if row.state == _DONE:
                assert row.status is not None and row.body is not None
                return Replay(Answer(row.status, row.body, row.content_type or ""))
            if row.created_at < stamp(now - timedelta(seconds=self.takeover_seconds)):
                claim = Claim(slot, secrets.token_hex(16), taken_over=True)
                if self._take_over(slot, row.token, claim.token, now):
                    logger.warning(
                        "idempotency key of %s taken over: no answer after %ss",
                        request.caller,
                        self.takeover_seconds,
                    )
                    return claim
                continue
            return Busy()
        return Busy()

    def record(self, session: Session, claim: Claim, answer: Answer) -> None:
        """Store ``answer`` in the caller's transaction; :class:`ClaimLost` if no longer held."""
        statement = (
            update(IdempotencyKeyRow)
            .where(
                IdempotencyKeyRow.slot == claim.slot,
                IdempotencyKeyRow.token == claim.token,
                IdempotencyKeyRow.state == _IN_PROGRESS,
            )
            .values(
                state=_DONE,
                status=answer.status,
                body=answer.body,
                content_type=answer.content_type,
                finished_at=stamp(self._clock()),
            )
        )
        if session.connection().execute(statement).rowcount != 1:
            raise ClaimLost(_MESSAGE_LOST)

    def finish(self, claim: Claim, answer: Answer) -> bool:
        """Store ``answer`` in a transaction of its own; False if the claim was lost."""
        try:
            with Session(self._writer) as session, session.begin():
                self.record(session, claim, answer)
        except ClaimLost:
            return False
        return True

    def release(self, claim: Claim) -> None:
        """Give the key up unanswered (a 5xx, an error): the next request with it runs."""
        with Session(self._writer) as session, session.begin():
            session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.slot == claim.slot,
                    IdempotencyKeyRow.token == claim.token,
                    IdempotencyKeyRow.state == _IN_PROGRESS,  # an answer stays
                )
            )

    def purge(self) -> int:
        """Delete every expired key; how many."""
        cutoff = self._expired_before(self._clock())
        with Session(self._writer) as session, session.begin():
            result = session.connection().execute(
                delete(IdempotencyKeyRow).where(IdempotencyKeyRow.created_at < cutoff)
            )
            return int(result.rowcount)

    def _purge_if_due(self) -> None:
        now = time.monotonic()
        if self._purged_at is not None and now - self._purged_at < _PURGE_EVERY_S:
            return
        self._purged_at = now
        try:
            self.purge()
        except Exception:  # purging is housekeeping: the request goes on
            logger.exception("purging expired idempotency keys failed")

    def _read(self, slot: str) -> IdempotencyKeyRow | None:
        with Session(self._engine) as session:
            row = session.scalars(
                select(IdempotencyKeyRow).where(IdempotencyKeyRow.slot == slot)
            ).one_or_none()
            if row is not None:
                session.expunge(row)
            return row

    def _insert(self, request: KeyedRequest, claim: Claim, now: datetime) -> bool:
        try:
            with Session(self._writer) as session, session.begin():
                session.add(
                    IdempotencyKeyRow(
                        slot=claim.slot,
                        caller=request.caller,
                        method=request.method,
                        path=request.path,
                        idempotency_key=request.key,
                        fingerprint=request.fingerprint,
                        token=claim.token,
                        state=_IN_PROGRESS,
                        status=None,
                        content_type=None,
                        body=None,
                        created_at=stamp(now),
                        finished_at=None,
                    )
                )
        except IntegrityError:
            return False
        return True

    def _delete(self, slot: str, token: str) -> None:
        with Session(self._writer) as session, session.begin():
            session.execute(
                delete(IdempotencyKeyRow).where(
                    IdempotencyKeyRow.slot == slot, IdempotencyKeyRow.token == token
                )
            )

    def _take_over(self, slot: str, old: str, new: str, now: datetime) -> bool:
        with Session(self._writer) as session, session.begin():
            result = session.connection().execute(
                update(IdempotencyKeyRow)
                .where(
                    IdempotencyKeyRow.slot == slot,
                    IdempotencyKeyRow.token == old,
                    IdempotencyKeyRow.state == _IN_PROGRESS,
                )
                .values(token=new, created_at=stamp(now))
            )
            return bool(result.rowcount == 1)


# -- the ASGI layer -----------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: where the layer leaves the held key for a route that stores its answer itself
STATE_KEY = "idempotency"


@dataclass
class HeldKey:
    """The claim of the running request, for a route that stores its answer in its own
    transaction (``POST /decide``): :meth:`record` there, and the layer stores nothing after."""

    store: IdempotencyStore
    claim: Claim
    recorded: bool = field(default=False)

    def record(self, session: Session, answer: Answer) -> None:
        """Store ``answer`` in ``session``'s transaction (:class:`ClaimLost` if not held)."""
        self.store.record(session, self.claim, answer)
        # if that transaction rolls back, the route answers 5xx and the layer releases the claim
        self.recorded = True


async def _reply(
    send: Send, status: int, body: bytes, content_type: str, replayed: bool = False
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    if replayed:
        headers.append((REPLAYED_HEADER.lower().encode(), b"true"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _error(send: Send, status: int, message: str) -> None:
    await _reply(send, status, json.dumps({"error": message}).encode(), "application/json")


class IdempotencyLayer:
    """ASGI middleware honouring ``Idempotency-Key`` on API POSTs (see the module docstring).

    It must run inside :class:`~serving.access.Gatekeeper`: it scopes keys by the
    principal the gatekeeper put in ``scope["state"]`` and reads the body the
    gatekeeper replays. Register it after the gatekeeper.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        engine: Engine | None = None,
        store: IdempotencyStore | None = None,
        wait_seconds: float = WAIT_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.app = app
        self._engine = engine
        self._store = store
        # read now: a bad DOCKET_IDEMPOTENCY_HOURS stops the service at start, not a request
        self._hours = idempotency_hours()
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds

    @property
    def store(self) -> IdempotencyStore:
        if self._store is None:
            # the service passes none: the database is found from the environment when first needed
            engine = self._engine or create_log_engine(Settings.from_env().database_url)
            self._store = IdempotencyStore(engine, hours=self._hours)
        return self._store

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        values = [v for n, v in scope.get("headers", []) if n == b"idempotency-key"]
        principal = scope.get("state", {}).get("principal")
        console = path == CONSOLE_PREFIX or path.startswith(f"{CONSOLE_PREFIX}/")
        if not values or console or not isinstance(principal, Principal):
            # no key, the console (sessions, CSRF), or an open route with nobody to scope by
            await self.app(scope, receive, send)
            return
        try:
            key = check_key(values)
        except BadIdempotencyKey as exc:
            await _error(send, 400, str(exc))
            return
        body = await read_body(receive, MAX_BODY_BYTES)
        if body is None:
            await _error(send, 413, f"request body is over the limit of {MAX_BODY_BYTES} bytes")
            return
        request = KeyedRequest(
            caller=principal.key_id,
            method="POST",
            path=path,
            key=key,
            fingerprint=fingerprint("POST", path, scope.get("query_string", b""), body),
        )
        outcome = await self._begin(request)
        if isinstance(outcome, Replay):
            answer = outcome.answer
            await _reply(send, answer.status, answer.body, answer.content_type, replayed=True)
        elif isinstance(outcome, Mismatch):
            await _error(send, 409, _MESSAGE_MISMATCH.format(key=key, method="POST", path=path))
        elif isinstance(outcome, Busy):
            await _error(send, 409, _MESSAGE_BUSY)
        else:
            await self._run(scope, replay_body(body, receive), send, outcome)

    async def _begin(self, request: KeyedRequest) -> Outcome:
        """Claim, or wait (polling) while another request holds the key, within the limit."""
        deadline = time.monotonic() + self.wait_seconds
        while True:
            outcome = await anyio.to_thread.run_sync(self.store.begin, request)
            if not isinstance(outcome, Busy) or time.monotonic() >= deadline:
                return outcome
            await anyio.sleep(self.poll_seconds)

    async def _run(self, scope: Scope, receive: Receive, send: Send, claim: Claim) -> None:
        held = HeldKey(self.store, claim)
        scope.setdefault("state", {})[STATE_KEY] = held
        status = 0
        content_type = ""
        chunks: list[bytes] = []
        settled = False

        async def capture(message: Message) -> None:
            nonlocal status, content_type, settled
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False) and not settled:
                    # stored before the last byte goes out: whoever has the answer can replay it
                    settled = True
                    await self._settle(held, Answer(status, b"".join(chunks), content_type))
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            if not settled:
                settled = True
                await anyio.to_thread.run_sync(self.store.release, claim)
            raise
        if not settled:  # the app returned without a whole answer
            await anyio.to_thread.run_sync(self.store.release, claim)

    async def _settle(self, held: HeldKey, answer: Answer) -> None:
        try:
            if answer.status >= 500:
                # not kept: a retry after a 503 must really try again
                await anyio.to_thread.run_sync(self.store.release, held.claim)
            elif not held.recorded:
                stored = await anyio.to_thread.run_sync(self.store.finish, held.claim, answer)
                if not stored:
                    logger.warning("an idempotency key's claim was taken over before its answer")
        except Exception:
            # the action is done and its answer goes out; the claim, left in progress,
            # is taken over by a retry after TAKEOVER_SECONDS (see the module docstring)
            logger.exception("storing an idempotency key's answer failed")
