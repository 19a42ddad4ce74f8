"""A Python client of the decision service: :class:`DocketClient` and :class:`AsyncDocketClient`.

Both speak to a running ``docket serve`` over httpx and answer with the very pydantic
models the service builds its answers from (``DecisionView``, ``Notice``, ``Case``,
``ActionResult``, ``OpenedCase``, ``ReviewerStats``, ``Receipt``), so a field the
service adds or renames shows up here as a validation error, not as a silent drift::

    with DocketClient("http://127.0.0.1:3000", token="dk_...") as docket:
        made = docket.decide("credit-eligibility", {"Income": 150, ...})
        read = docket.get_decision(made.decision_id)

Every request is described once, by :class:`_Calls`, as a :class:`Call` (method, path,
query, the exact body bytes, its ``Idempotency-Key``, how to read the answer); the two
clients differ only in how they send it and wait between attempts.

Retries (:class:`RetryPolicy`) are for requests that are safe to send twice: a ``GET``,
or a ``POST`` carrying an ``Idempotency-Key`` (every API ``POST`` of the service accepts
one: a repeat of the same key and the same bytes gets the stored answer, and nothing is
written twice). One key is made per logical call and sent on each of its attempts.
A connection error, 429, 502, 503 and 504 are retried, with exponential backoff and
full jitter, never less than the answer's ``Retry-After``; no other 4xx ever is.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import cache
from types import TracebackType
from typing import Any, Generic, Literal, Self, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from serving.decisions import DecideRequest, DecisionView, FieldProblem
from serving.decisions.notice import Notice
from serving.http.responses import ErrorBody
from serving.http.routers.appeals import AppealRequest
from serving.http.routers.cases import CaseStatusQuery, Resolution
from serving.ledger.receipts import PendingReceipt, Receipt
from serving.ledger.signing import Checkpoint, LedgerKeyError, log_id_of, parse_public_key
from serving.review import ActionResult, Case, FinalOutcome, OpenedCase, ReviewerStats

__all__ = [
    "AsyncDocketClient",
    "Call",
    "Conflict",
    "DecisionRead",
    "DocketClient",
    "DocketError",
    "Forbidden",
    "InvalidRequest",
    "NotFound",
    "RateLimited",
    "ReceiptCheck",
    "RetryPolicy",
    "Unauthorized",
    "Unavailable",
    "Unreachable",
]

T = TypeVar("T")

IDEMPOTENCY_HEADER = "Idempotency-Key"
TOKEN_PREFIXES = ("dk_", "dp_")
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_CONNECT_TIMEOUT_S = 5.0
#: failures with no answer worth another attempt: the network, a timeout, or a server that
#: hung up mid-answer (not a bad URL or a request httpx itself could not write)
RETRIED_ERRORS = (httpx.NetworkError, httpx.TimeoutException, httpx.RemoteProtocolError)

_MESSAGE_TOKEN = "token must be an API key ('dk_...') or a personal token ('dp_...'); got {what}"
_MESSAGE_URL = "base_url must be an http:// or https:// URL; got {url!r}"


# -- errors --------------------------------------------------------------------------


class DocketError(Exception):
    """The service refused or failed a request; ``status_code`` and ``body`` are its answer.

    ``message`` is the service's ``error`` text; ``problems`` its field-by-field
    ``detail`` (each a :class:`~serving.decisions.FieldProblem`: ``loc``, ``msg``,
    ``input``, ``allowed``) when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None,
        body: Any = None,
        method: str = "",
        path: str = "",
        problems: Sequence[FieldProblem] = (),
        retry_after: float | None = None,
    ) -> None:
        where = f"{method} {path}: " if method else ""
        shown = f"{status_code} " if status_code is not None else ""
        super().__init__(f"{where}{shown}{message}")
        self.message = message
        self.status_code = status_code
        self.body = body
        self.method = method
        self.path = path
        self.problems = list(problems)
        self.retry_after = retry_after

    @property
    def fields(self) -> list[str]:
        """The dotted location of each field problem (``features.income``)."""
        return [".".join(str(part) for part in p.loc) for p in self.problems]


class InvalidRequest(DocketError):
    """400, 413, 415 or 422: the request breaks a rule; ``problems`` names each field."""


class Unauthorized(DocketError):
    """401: no token, or one that is unknown, revoked or of a disabled person."""


class Forbidden(DocketError):
    """403: the caller's roles or task do not allow this."""


class NotFound(DocketError):
    """404: nothing with that id or name."""


class Conflict(DocketError):
    """409: not in a state that allows this (claimed by another, not final, key reused...)."""


class RateLimited(DocketError):
    """429: too many failed authentications from this address; see ``retry_after``."""


class Unavailable(DocketError):
    """502, 503 or 504: the service (or its database, or its ledger key) is unavailable."""


class Unreachable(Unavailable):
    """No answer at all: the connection failed or timed out on every attempt."""


_BY_STATUS: dict[int, type[DocketError]] = {
    400: InvalidRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: InvalidRequest,
    415: InvalidRequest,
    422: InvalidRequest,
    429: RateLimited,
    502: Unavailable,
    503: Unavailable,
    504: Unavailable,
}


@cache
def _adapter(kind: Hashable) -> TypeAdapter[Any]:
    # built on first use, once per type: no schema work at import time or per request
    return TypeAdapter(list[kind])  # type: ignore[valid-type]


def _retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def error_from(response: httpx.Response, method: str, path: str) -> DocketError:
    """The typed error for a refused answer, with the service's message and field detail."""
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    message = response.reason_phrase or "refused"
    problems: list[FieldProblem] = []
    if isinstance(body, dict):
        try:
            known = ErrorBody.model_validate(body)
        except ValidationError:
            known = None
        if known is not None:
            message = known.error
        detail = body.get("detail")
        if isinstance(detail, list):
            # the service's detail items; FastAPI's own (a 422) have the same loc/msg shape
            try:
                problems = _adapter(FieldProblem).validate_python(
                    [{**d, "loc": [str(x) for x in d.get("loc", [])]} for d in detail]
                )
            except (ValidationError, AttributeError, TypeError):
                problems = []
            if known is None and problems:
                message = "; ".join(f"{'.'.join(p.loc)}: {p.msg}" for p in problems)
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    kind = _BY_STATUS.get(response.status_code, DocketError)
    return kind(
        message,
        status_code=response.status_code,
        body=body,
        method=method,
        path=path,
        problems=problems,
        retry_after=_retry_after(response),
    )


# -- retries -------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to wait before sending a safe request again.

    ``attempts`` counts the first one. The wait before retry ``n`` (from 0) is a
    uniform draw in ``[0, min(max_backoff, backoff * 2**n)]`` (full jitter, so many
    clients refused at once do not come back at once), and never less than the
    answer's ``Retry-After``; an answer asking for more than ``max_retry_after``
    seconds is not retried but raised, so a caller is never held for minutes.
    """

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be at least 1; got {self.attempts}")
        for name in ("backoff", "max_backoff", "max_retry_after"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"RetryPolicy.{name} must be a number >= 0; got {value!r}")

    def delay(
        self, call: Call[Any], retry: int, failure: httpx.Response | Exception
    ) -> float | None:
        """Seconds to wait before retry ``retry`` (0 for the first), or None: do not retry."""
        if not call.safe_to_retry or retry + 1 >= self.attempts:
            return None
        wanted = 0.0
        if isinstance(failure, httpx.Response):
            if failure.status_code not in self.statuses:
                return None
            wanted = _retry_after(failure) or 0.0
            if wanted > self.max_retry_after:
                return None
        elif not isinstance(failure, RETRIED_ERRORS):
            return None
        jitter = self.rng.uniform(0.0, min(self.max_backoff, self.backoff * 2**retry))
        return max(wanted, jitter)


# -- requests ------------------------------------------------------------------------


@dataclass(frozen=True)
class Call(Generic[T]):
    """One logical request: what goes on the wire (the same on every attempt) and how its
    answer is read."""

    method: Literal["GET", "POST"]
    path: str
    read: Callable[[httpx.Response], T]
    params: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    idempotency_key: str | None = None

    @property
    def safe_to_retry(self) -> bool:
        # a POST is safe only under its key: the service answers a repeat from its store
        return self.method == "GET" or self.idempotency_key is not None

    def wire(self) -> dict[str, Any]:
        """httpx's arguments besides method and path: the same on every attempt."""
        headers: dict[str, str] = {}
        if self.body is not None:
            headers["Content-Type"] = "application/json"
        if self.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = self.idempotency_key
        return {"params": self.params or None, "content": self.body, "headers": headers}


def _model(kind: type[BaseModel]) -> Callable[[httpx.Response], Any]:
    return lambda response: kind.model_validate_json(response.content)


def _models(kind: type[BaseModel]) -> Callable[[httpx.Response], list[Any]]:
    return lambda response: list(_adapter(kind).validate_json(response.content))


@dataclass(frozen=True)
class DecisionRead:
    """``GET /decisions/{id}``: the decision as recorded and where it stands now.

    The service answers one JSON object: the :class:`DecisionView` fields (its
    ``status`` is the current one; ``outcome`` stays the automated outcome) plus
    ``automated_outcome`` and ``final`` (a :class:`FinalOutcome`). It defines no
    model for that whole, so it is read here as these two of its models.
    """

    decision: DecisionView
    final: FinalOutcome

    @property
    def status(self) -> str:
        return self.final.status

    @property
    def outcome(self) -> str:
        """The effective outcome: the resolution of any review or appeal."""
        return self.final.outcome


def _read_decision(response: httpx.Response) -> DecisionRead:
    shown = response.json()
    if not isinstance(shown, dict):
        raise ValueError(f"GET /decisions answered a {type(shown).__name__}, not an object")
    final = FinalOutcome.model_validate(shown.pop("final"))
    shown.pop("automated_outcome", None)  # the same as the view's own ``outcome``
    return DecisionRead(decision=DecisionView.model_validate(shown), final=final)


def _new_key() -> str:
    return f"docket-client-{uuid.uuid4().hex}"


def _json(model: BaseModel, omit_none: tuple[str, ...] = ()) -> bytes:
    # serialised once: every attempt of the call sends these exact bytes, as the
    # service's idempotency store compares them
    body = model.model_dump(mode="json")
    for name in omit_none:
        if body.get(name) is None:
            body.pop(name, None)
    return json.dumps(body, separators=(",", ":")).encode()


class _Calls:
    """Every route the clients call, described once for both."""

    @staticmethod
    def decide(
        use_case: str,
        features: dict[str, Any],
        *,
        application_ref: str | None,
        automated_decision_consent: bool,
        training_data_consent: bool,
        idempotency_key: str | None,
        audit_attributes: dict[str, Any] | None = None,
    ) -> Call[DecisionView]:
        request = DecideRequest(
            use_case=use_case,
            features=features,
            application_ref=application_ref,
            automated_decision_consent=automated_decision_consent,
            training_data_consent=training_data_consent,
            audit_attributes=audit_attributes,
        )
        return Call(
            "POST",
            "/decide",
            _model(DecisionView),
            # audit attributes are sent only when given (monitoring only; see the README)
            body=_json(request, omit_none=("audit_attributes",)),
            idempotency_key=idempotency_key or _new_key(),
        )

    @staticmethod
    def get_decision(
        decision_id: str, *, personal: bool, purpose: str | None
    ) -> Call[DecisionRead]:
        params: list[tuple[str, str]] = []
        if personal:
            params.append(("personal", "true"))
        if purpose is not None:
            params.append(("purpose", purpose))
        return Call("GET", f"/decisions/{_segment(decision_id)}", _read_decision, tuple(params))

    @staticmethod
    def notice(decision_id: str) -> Call[Notice]:
        return Call("GET", f"/decisions/{_segment(decision_id)}/notice", _model(Notice))

    @staticmethod
    def notice_html(decision_id: str) -> Call[str]:
        return Call(
            "GET",
            f"/decisions/{_segment(decision_id)}/notice",
            lambda r: r.text,
            (("format", "html"),),
        )

    @staticmethod
    def appeal(
        decision_id: str,
        statement: str,
        features: dict[str, Any] | None,
        idempotency_key: str | None,
    ) -> Call[ActionResult]:
        request = AppealRequest(decision_id=decision_id, statement=statement, features=features)
        return Call(
            "POST",
            "/appeals",
            _model(ActionResult),
            body=_json(request),
            idempotency_key=idempotency_key or _new_key(),
        )

    @staticmethod
    def cases(status: Sequence[CaseStatusQuery] | None, use_case: str | None) -> Call[list[Case]]:
        params: list[tuple[str, str]] = [("status", s) for s in status or ()]
        if use_case is not None:
            params.append(("use_case", use_case))
        return Call("GET", "/cases", _models(Case), tuple(params))

    @staticmethod
    def claim(case_id: str, idempotency_key: str | None) -> Call[ActionResult]:
        return Call(
            "POST",
            f"/cases/{_segment(case_id)}/claim",
            _model(ActionResult),
            idempotency_key=idempotency_key or _new_key(),
        )

    @staticmethod
    def open_case(case_id: str) -> Call[OpenedCase]:
        return Call("GET", f"/cases/{_segment(case_id)}", _model(OpenedCase))

    @staticmethod
    def resolve(
        case_id: str,
        outcome: Literal["approved", "declined"],
        reason_code: str,
        note: str | None,
        idempotency_key: str | None,
    ) -> Call[ActionResult]:
        request = Resolution(outcome=outcome, reason_code=reason_code, note=note)
        return Call(
            "POST",
            f"/cases/{_segment(case_id)}/resolve",
            _model(ActionResult),
            body=_json(request),
            idempotency_key=idempotency_key or _new_key(),
        )

    @staticmethod
    def review_stats(use_case: str | None) -> Call[list[ReviewerStats]]:
        params = () if use_case is None else (("use_case", use_case),)
        return Call("GET", "/review/stats", _models(ReviewerStats), params)

    @staticmethod
    def receipt(entry_id: str) -> Call[Receipt]:
        return Call("GET", f"/ledger/receipts/{_segment(entry_id)}", _model(Receipt))

    @staticmethod
    def public_key() -> Call[dict[str, Any]]:
        # the service answers a plain dict here (log_id, public_key_pem, public_key_hex,
        # algorithm): it defines no model for it
        return Call("GET", "/ledger/public-key", lambda r: dict(r.json()))


def _segment(value: str) -> str:
    """An id as one path segment; an id holding '/' or '?' could reach another route."""
    if (
        not isinstance(value, str)
        or not value
        or any(c in value for c in "/?#%")
        or (value in (".", ".."))
    ):
        raise ValueError(
            f"an id must be a non-empty string without '/', '?', '#' or '%'; got {value!r}"
        )
    return value


# -- receipts ------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceiptCheck:
    """What :meth:`DocketClient.verify_receipt` found: ``valid``, and if not, why."""

    valid: bool
    reason: str
    receipt: Receipt
    log_id: str


def check_receipt(
    receipt: Receipt,
    public_key: bytes,
    *,
    expected: PendingReceipt | None = None,
    checkpoint: Checkpoint | None = None,
) -> ReceiptCheck:
    """Verify ``receipt`` offline with the service's own code (:meth:`Receipt.verify`).

    ``expected`` is the receipt the write answered with: the full receipt must be for
    the same entry hash at the same leaf. ``checkpoint`` is one the caller holds (from a
    witness): the receipt's checkpoint must be that one.
    """
    log_id = log_id_of(public_key)

    def found(valid: bool, reason: str) -> ReceiptCheck:
        return ReceiptCheck(valid, reason, receipt, log_id)

    held = (receipt.entry_id, receipt.entry_hash, receipt.leaf_index)
    if expected is not None and held != (
        expected.entry_id,
        expected.entry_hash,
        expected.leaf_index,
    ):
        return found(
            False,
            f"the receipt is for entry {receipt.entry_id!r} hash {receipt.entry_hash} at leaf"
            f" {receipt.leaf_index}; the write answered entry {expected.entry_id!r} hash"
            f" {expected.entry_hash} at leaf {expected.leaf_index}",
        )
    if not receipt.covered or receipt.checkpoint is None:
        return found(False, f"not covered by a signed checkpoint yet: {receipt.detail}")
    if receipt.checkpoint.log_id != log_id:
        return found(
            False,
            f"the checkpoint names log {receipt.checkpoint.log_id}; the public key's is {log_id}",
        )
    if not receipt.checkpoint.verify(public_key):
        return found(False, "the checkpoint's signature does not verify with the public key")
    if checkpoint is not None and (checkpoint.tree_size, checkpoint.root_hash) != (
        receipt.checkpoint.tree_size,
        receipt.checkpoint.root_hash,
    ):
        return found(
            False,
            f"the receipt's checkpoint (size {receipt.checkpoint.tree_size}, root"
            f" {receipt.checkpoint.root_hash}) is not the one given (size"
            f" {checkpoint.tree_size}, root {checkpoint.root_hash})",
        )
    if not receipt.verify(public_key):
        return found(False, "the inclusion proof does not lead to the checkpoint's root")
    return found(True, f"entry {receipt.entry_id} is leaf {receipt.leaf_index} of a signed tree")


def _raw_key(given: bytes | str) -> bytes:
    try:
        return parse_public_key(given.encode() if isinstance(given, str) else given, "public_key")
    except LedgerKeyError as error:
        raise ValueError(str(error)) from None


# -- the clients ---------------------------------------------------------------------


def _headers(token: str) -> dict[str, str]:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIXES):
        # never echo the token: it may be a real secret in the wrong place
        what = (
            f"a {type(token).__name__}"
            if not isinstance(token, str)
            else f"a string of {len(token)} characters starting {token[:3]!r}"
        )
        raise ValueError(_MESSAGE_TOKEN.format(what=what))
    return {"Authorization": f"Bearer {token}", "User-Agent": "docket-client"}


def _timeout(timeout: float | httpx.Timeout) -> httpx.Timeout:
    if isinstance(timeout, httpx.Timeout):
        return timeout
    if not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0; got {timeout!r}")
    return httpx.Timeout(timeout, connect=min(timeout, DEFAULT_CONNECT_TIMEOUT_S))


def _base_url(url: str) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(_MESSAGE_URL.format(url=url))
    return url.rstrip("/")


def _unreachable(call: Call[Any], error: Exception) -> Unreachable:
    return Unreachable(
        f"no answer ({type(error).__name__}: {error})",
        status_code=None,
        method=call.method,
        path=call.path,
    )


def _wait_or_raise(
    policy: RetryPolicy, call: Call[Any], retry: int, failure: httpx.Response | Exception
) -> float:
    """Seconds before the next attempt, or the typed error when there is none."""
    wait = policy.delay(call, retry, failure)
    if wait is not None:
        return wait
    if isinstance(failure, httpx.Response):
        raise error_from(failure, call.method, call.path)
    raise _unreachable(call, failure) from failure


class _Base:
    retry: RetryPolicy

    def _pending(
        self, receipt: PendingReceipt | Receipt | str
    ) -> tuple[str, PendingReceipt | None]:
        if isinstance(receipt, PendingReceipt):
            return receipt.entry_id, receipt
        if isinstance(receipt, Receipt):
            return receipt.entry_id, None
        return receipt, None


class DocketClient(_Base):
    """The decision service over HTTP, blocking. A context manager; or call :meth:`close`.

    ``token`` is an application's API key (``dk_...``) or a person's token (``dp_...``;
    reviewers act on cases with their own). ``timeout`` is seconds per attempt (or an
    ``httpx.Timeout``). ``sleep`` waits between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=_base_url(base_url),
            headers=_headers(token),
            timeout=_timeout(timeout),
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def send(self, call: Call[T]) -> T:
        """Send ``call``, retrying what is safe to retry; its parsed answer or a typed error."""
        for retry in itertools.count():
            failure: httpx.Response | Exception
            try:
                response = self._http.request(call.method, call.path, **call.wire())
            except httpx.TransportError as error:
                failure = error
            else:
                if response.is_success:
                    return call.read(response)
                failure = response
            self._sleep(_wait_or_raise(self.retry, call, retry, failure))
        raise AssertionError("unreachable: the attempts are counted without end")

    def decide(
        self,
        use_case: str,
        features: dict[str, Any],
        *,
        application_ref: str | None = None,
        automated_decision_consent: bool = True,
        training_data_consent: bool = False,
        idempotency_key: str | None = None,
        audit_attributes: dict[str, Any] | None = None,
    ) -> DecisionView:
        """``POST /decide``: one decision (the same ``Idempotency-Key`` on every attempt)."""
        return self.send(
            _Calls.decide(
                use_case,
                features,
                application_ref=application_ref,
                automated_decision_consent=automated_decision_consent,
                training_data_consent=training_data_consent,
                idempotency_key=idempotency_key,
                audit_attributes=audit_attributes,
            )
        )

    def get_decision(
        self, decision_id: str, *, personal: bool = False, purpose: str | None = None
    ) -> DecisionRead:
        """``GET /decisions/{id}``: the decision, its status, final outcome and history."""
        return self.send(_Calls.get_decision(decision_id, personal=personal, purpose=purpose))

    def notice(self, decision_id: str) -> Notice:
        """``GET /decisions/{id}/notice``: what the person is told once the outcome is final."""
        return self.send(_Calls.notice(decision_id))

    def notice_html(self, decision_id: str) -> str:
        """The notice as the plain-language HTML page."""
        return self.send(_Calls.notice_html(decision_id))

    def appeal(
        self,
        decision_id: str,
        statement: str,
        *,
        features: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        """``POST /appeals``: file the person's appeal of a final decision."""
        return self.send(_Calls.appeal(decision_id, statement, features, idempotency_key))

    def cases(
        self, *, status: Sequence[CaseStatusQuery] | None = None, use_case: str | None = None
    ) -> list[Case]:
        """``GET /cases``: the review queue, oldest deadline first."""
        return self.send(_Calls.cases(status, use_case))

    def claim(self, case_id: str, *, idempotency_key: str | None = None) -> ActionResult:
        """``POST /cases/{id}/claim``: hold a case for the spec's lease time."""
        return self.send(_Calls.claim(case_id, idempotency_key))

    def open_case(self, case_id: str) -> OpenedCase:
        """``GET /cases/{id}``: open a claimed case with the person's data (logged)."""
        return self.send(_Calls.open_case(case_id))

    def resolve(
        self,
        case_id: str,
        outcome: Literal["approved", "declined"],
        reason_code: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        """``POST /cases/{id}/resolve``: resolve a claimed, opened case."""
        return self.send(_Calls.resolve(case_id, outcome, reason_code, note, idempotency_key))

    def review_stats(self, *, use_case: str | None = None) -> list[ReviewerStats]:
        """``GET /review/stats``: per reviewer, cases, agreement with the model, overrides."""
        return self.send(_Calls.review_stats(use_case))

    def receipt(self, entry_id: str) -> Receipt:
        """``GET /ledger/receipts/{id}``: the entry's receipt (``covered`` once signed)."""
        return self.send(_Calls.receipt(entry_id))

    def public_key(self) -> dict[str, Any]:
        """``GET /ledger/public-key``: the PEM, the raw hex and the log id (a plain dict)."""
        return self.send(_Calls.public_key())

    def verify_receipt(
        self,
        receipt: PendingReceipt | Receipt | str,
        *,
        public_key: bytes | str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> ReceiptCheck:
        """Fetch ``receipt``'s proof if needed and verify it offline with the service's code.

        Pass the ``public_key`` you got out of band (``docket ledger public-key``): without
        it the key the service publishes is used, which proves inclusion in *that* key's
        signed tree but not that the key is the one you trust.
        """
        entry_id, expected = self._pending(receipt)
        full = receipt if isinstance(receipt, Receipt) else self.receipt(entry_id)
        key = _raw_key(
            public_key if public_key is not None else self.public_key()["public_key_hex"]
        )
        return check_receipt(full, key, expected=expected, checkpoint=checkpoint)


class AsyncDocketClient(_Base):
    """The same client for asyncio: every method of :class:`DocketClient`, awaited."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT_S,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            base_url=_base_url(base_url),
            headers=_headers(token),
            timeout=_timeout(timeout),
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(self, call: Call[T]) -> T:
        """Send ``call``, retrying what is safe to retry; its parsed answer or a typed error."""
        for retry in itertools.count():
            failure: httpx.Response | Exception
            try:
                response = await self._http.request(call.method, call.path, **call.wire())
            except httpx.TransportError as error:
                failure = error
            else:
                if response.is_success:
                    return call.read(response)
                failure = response
            await self._sleep(_wait_or_raise(self.retry, call, retry, failure))
        raise AssertionError("unreachable: the attempts are counted without end")

    async def decide(
        self,
        use_case: str,
        features: dict[str, Any],
        *,
        application_ref: str | None = None,
        automated_decision_consent: bool = True,
        training_data_consent: bool = False,
        idempotency_key: str | None = None,
        audit_attributes: dict[str, Any] | None = None,
    ) -> DecisionView:
        return await self.send(
            _Calls.decide(
                use_case,
                features,
                application_ref=application_ref,
                automated_decision_consent=automated_decision_consent,
                training_data_consent=training_data_consent,
                idempotency_key=idempotency_key,
                audit_attributes=audit_attributes,
            )
        )

    async def get_decision(
        self, decision_id: str, *, personal: bool = False, purpose: str | None = None
    ) -> DecisionRead:
        return await self.send(_Calls.get_decision(decision_id, personal=personal, purpose=purpose))

    async def notice(self, decision_id: str) -> Notice:
        return await self.send(_Calls.notice(decision_id))

    async def notice_html(self, decision_id: str) -> str:
        return await self.send(_Calls.notice_html(decision_id))

    async def appeal(
        self,
        decision_id: str,
        statement: str,
        *,
        features: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        return await self.send(_Calls.appeal(decision_id, statement, features, idempotency_key))

    async def cases(
        self, *, status: Sequence[CaseStatusQuery] | None = None, use_case: str | None = None
    ) -> list[Case]:
        return await self.send(_Calls.cases(status, use_case))

    async def claim(self, case_id: str, *, idempotency_key: str | None = None) -> ActionResult:
        return await self.send(_Calls.claim(case_id, idempotency_key))

    async def open_case(self, case_id: str) -> OpenedCase:
        return await self.send(_Calls.open_case(case_id))

    async def resolve(
        self,
        case_id: str,
        outcome: Literal["approved", "declined"],
        reason_code: str,
        *,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> ActionResult:
        return await self.send(_Calls.resolve(case_id, outcome, reason_code, note, idempotency_key))

    async def review_stats(self, *, use_case: str | None = None) -> list[ReviewerStats]:
        return await self.send(_Calls.review_stats(use_case))

    async def receipt(self, entry_id: str) -> Receipt:
        return await self.send(_Calls.receipt(entry_id))

    async def public_key(self) -> dict[str, Any]:
        return await self.send(_Calls.public_key())

    async def verify_receipt(
        self,
        receipt: PendingReceipt | Receipt | str,
        *,
        public_key: bytes | str | None = None,
        checkpoint: Checkpoint | None = None,
    ) -> ReceiptCheck:
        entry_id, expected = self._pending(receipt)
        full = receipt if isinstance(receipt, Receipt) else await self.receipt(entry_id)
        given = (
            public_key if public_key is not None else (await self.public_key())["public_key_hex"]
        )
        return check_receipt(full, _raw_key(given), expected=expected, checkpoint=checkpoint)
