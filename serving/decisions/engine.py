"""The decision engine: served champions, one decision at a time, each with its durable record.

One decision: validate → encode → score → policy → rationale (+ recourse) →
append to the ledger → respond (:mod:`serving.decisions.evaluate` holds the
steps before the record). If the record cannot be written the caller gets
:class:`RecordFailed` and no decision. Each decision holds one reference to a
served model, so a reload never mixes two versions. Only versions whose
promotion is on record are served (:mod:`serving.decisions.served`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from mlflow.exceptions import MlflowException
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from models import registry
from models.canonical import JSONDump
from models.settings import Settings
from serving.access import Principal, check_decision_read, check_personal_read
from serving.decisions.errors import (
    DecisionNotFound,
    NotServed,
    RecordFailed,
    RegistryUnavailable,
    UnknownUseCase,
)
from serving.decisions.notice import notice_for
from serving.decisions.prepare import prepare_decision
from serving.decisions.record import (
    DecisionRecord,
    DecisionView,
    HistoryItem,
)
from serving.decisions.served import ServedModel, last_promotion, load_served
from serving.decisions.switches import StopSwitches, SwitchChanged
from serving.decisions.validation import DecideRequest
from serving.ledger import DecisionLog, LogEntry, LogError
from serving.ledger.group_commit import ConnectionCheck
from serving.ledger.receipts import pending_receipt

logger = logging.getLogger("docket.serving")

__all__ = ["DecisionEngine", "bound_registry_calls", "check_registry"]

#: How often one request decides again because the stop switch flipped meanwhile.
SWITCH_RETRIES = 3

#: MLflow's own defaults retry a dead registry server for about four minutes (measured:
#: 7 retries with exponential backoff) while a reload holds its lock and an admin waits,
#: longer than the service's 30 s request timeout. Unless the operator set them, a
#: registry call makes 3 tries of at most 5 s each with about 2 s of backoff between
#: them: about 3 s when the server refuses, at most about 18 s when it never answers.
REGISTRY_HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",  # MLflow reads an integer
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "5",
}


def bound_registry_calls() -> None:
    """Bound how long a registry call may take (MLflow reads these at every request)."""
    for name, value in REGISTRY_HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)


def shown_uri(uri: str) -> str:
    """``uri`` without a password, for messages and the status page."""
    parts = urlsplit(uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _unreadable(settings: Settings, exc: Exception) -> str:
    detail = " ".join(str(exc).split())[:500] or type(exc).__name__
    return (
        f"the model registry at {shown_uri(settings.tracking_uri)} could not be read"
        f" ({type(exc).__name__}: {detail})"
    )


def check_registry(settings: Settings) -> None:
    """Raise :class:`RegistryUnavailable` with a clear message unless the registry answers.

    ``docket serve`` calls this before starting any worker, so a missing registry
    is one message and exit code, not workers failing and being restarted.
    """
    bound_registry_calls()
    try:
        registry.connect(settings).search_registered_models(max_results=1)
    except Exception as exc:  # whatever the store raised, the service cannot start
        raise RegistryUnavailable(_cannot_start(_unreadable(settings, exc))) from None


def _cannot_start(why: str) -> str:
    return (
        f"cannot start: {why}; the service loads its champions from it. Check"
        " MLFLOW_TRACKING_URI (or DOCKET_HOME for the local registry) and that the registry is up."
    )


class DecisionEngine:
    """Serves the champion of every registered use case and records every decision."""

    def __init__(
        self,
        settings: Settings,
        log: DecisionLog | None = None,
        *,
        on_referred: Callable[[Session, DecisionRecord], None] | None = None,
    ) -> None:
        """``on_referred`` runs in the transaction that records a referred decision, so the
        review case it opens (``serving.review.open_referral_case``, wired by the service)
        exists exactly when the decision does."""
        self.settings = settings
        self.log = log or DecisionLog(settings.database_url)
        self.on_referred = on_referred
        self.switches = StopSwitches(self.log)
        self._served: dict[str, ServedModel] = {}
        self._unserved: dict[str, str] = {}
        self._refused: dict[str, str] = {}
        self._reload_lock = threading.Lock()
        # the last reload, shown by status(): a failed one leaves the champions as they were
        self._reload_at: str | None = None
        self._reload_ok: bool | None = None
        self._reload_success_at: str | None = None
        self._reload_error: dict[str, str] | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """Migrate the ledger and load the champions; :class:`RegistryUnavailable` says why not."""
        self.settings.ensure()
        bound_registry_calls()
        self.log.migrate()
        try:
            return self.reload()
        except RegistryUnavailable as exc:
            why = self._reload_error["error"] if self._reload_error else str(exc)
            raise RegistryUnavailable(_cannot_start(why)) from None

    def close(self) -> None:
        self.log.close()

    def reload(self) -> dict[str, Any]:
        """Load each use case's current champion; unchanged versions are kept as they are.

        A champion whose promotion is not on record is refused (reason in
        :meth:`status` and the ledger); the last recorded promotion keeps serving.
        If the registry cannot be read, nothing changes: the loaded champions keep
        serving, :meth:`status` shows the failure, and :class:`RegistryUnavailable`
        (503) says so.
        """
        with self._reload_lock:
            self._reload_at = datetime.now(UTC).isoformat()
            try:
                found = self._read_registry()
            except Exception as exc:  # fail safe: whatever broke, keep what is loaded
                why = _unreadable(self.settings, exc)
                self._reload_ok = False
                self._reload_error = {"at": self._reload_at, "error": why}
                logger.warning("reload failed, still serving %s: %s", self.served_versions(), why)
                raise RegistryUnavailable(
                    f"reload failed: {why}; still serving the loaded champions"
                    f" {self.served_versions() or '(none)'}"
                ) from None
            served, unserved, refused, changed = found
            newly_refused = {k: v for k, v in refused.items() if self._refused.get(k) != v}
            self._served, self._unserved, self._refused = served, unserved, refused
            self._reload_ok, self._reload_success_at = True, self._reload_at
        for name, why in newly_refused.items():
            self.log.append(
                "admin",
                name,
                {
                    "action": "refuse_to_serve",
                    "reason": why,
                    "serving_instead": served[name].version if name in served else None,
                    "pid": os.getpid(),
                },
                subject_id=f"serving:{name}",
            )
            logger.warning("refused to serve the champion of %s: %s", name, why)
        for name, version in changed.items():
            # the chain records which version served from when (one entry per worker)
            self.log.append(
                "admin",
                name,
                {
                    "action": "serve",
                    "version": version,
                    "pid": os.getpid(),
                    "at": served[name].loaded_at,
                },
                subject_id=f"serving:{name}",
            )
        return {
            "served": self.served_versions(),
            "unserved": unserved,
            "refused": refused,
            "changed": changed,
        }

    def _read_registry(
        self,
    ) -> tuple[dict[str, ServedModel], dict[str, str], dict[str, str], dict[str, str]]:
        """What to serve now: (served, unserved, refused, changed); changes nothing itself."""
        client = registry.connect(self.settings)
        served = dict(self._served)
        unserved: dict[str, str] = {}
        refused: dict[str, str] = {}
        changed: dict[str, str] = {}
        for rm in client.search_registered_models():
            name = rm.name
            alias = registry.alias_version(client, name, registry.CHAMPION)
            if alias is None:
                served.pop(name, None)
                unserved[name] = "no champion: no version has passed the gate and been promoted"
                continue
            last = last_promotion(client, name)
            wanted = [alias]
            if last is not None and last.version != alias:
                wanted.append(last.version)  # the previous valid champion
            for version in wanted:
                if name in served and served[name].version == version and version != alias:
                    break  # keep serving it as it is
                try:
                    model = (
                        served[name]
                        if name in served and served[name].version == version
                        else load_served(client, name, version, require_promotion=last)
                    )
                except (NotServed, MlflowException, OSError) as exc:
                    if version == alias:
                        refused[name] = str(exc)
                    continue
                if name not in served or served[name].version != model.version:
                    changed[name] = model.version
                served[name] = model
                break
            else:
                served.pop(name, None)
                unserved[name] = refused.get(name, "no version may be served")
        return served, unserved, refused, changed

    def served_versions(self) -> dict[str, str]:
        return {k: v.version for k, v in sorted(self._served.items())}

    def status(self) -> dict[str, Any]:
        try:
            stopped: dict[str, bool] | str = self.switches.all()
        except SQLAlchemyError:  # the status page is most needed when the database is away
            stopped = "unknown: the ledger database cannot be reached"
        return {
            "served": self.served_versions(),
            "unserved": dict(self._unserved),
            "refused": dict(self._refused),
            "stopped": stopped,
            "registry": {
                "uri": shown_uri(self.settings.tracking_uri),
                # None until the first reload; False: the last reload could not read it
                "reachable": self._reload_ok,
                "last_reload_at": self._reload_at,
                "last_success_at": self._reload_success_at,
                "last_error": self._reload_error,
            },
        }

    def served(self, use_case: str) -> ServedModel:
        served = self._served.get(use_case)
        if served is not None:
            return served
        if use_case in self._unserved:
            raise NotServed(f"use case {use_case!r} is not served: {self._unserved[use_case]}")
        raise UnknownUseCase(use_case, sorted(self._served), self._unserved)

    # -- stop switch -------------------------------------------------------------
    def set_stopped(self, use_case: str, stopped: bool, by: str, reason: str) -> dict[str, Any]:
        self.served(use_case)  # unknown use cases are refused with the list of served ones
        entry = self.switches.set(use_case, stopped, by, reason)
        return {"use_case": use_case, "stopped": stopped, "log_seq": entry.seq}

    # -- decisions ---------------------------------------------------------------
    def decide(
        self,
        request: DecideRequest,
        principal: Principal,
        *,
        also: Callable[[Session, DecisionView], None] | None = None,
    ) -> DecisionView:
        """Decide and record; ``also(session, view)`` runs in the recording transaction.

        The service passes ``also`` to store an ``Idempotency-Key``'s answer with the
        decision itself: either both are written or neither is.
        """
        t0 = time.perf_counter()
        served = self.served(request.use_case)
        stopped = self.switches.expected(served.spec.name)
        for _ in range(SWITCH_RETRIES):
            try:
                return self._decide_once(served, request, principal, stopped, also, t0)
            except SwitchChanged as changed:
                # flipped since this worker last looked: nothing was written, decide again
                stopped = changed.stopped
        logger.error("the stop switch of %s kept changing while deciding", served.spec.name)
        raise RecordFailed(
            "the use case's stop switch kept changing, so no decision is given; try again"
        )

    def _decide_once(
        self,
        served: ServedModel,
        request: DecideRequest,
        principal: Principal,
        stopped: bool,
        also: Callable[[Session, DecisionView], None] | None,
        t0: float,
    ) -> DecisionView:
        """Prepare and record one decision under ``stopped``; :class:`SwitchChanged` if the
        switch is otherwise when the record is written (then nothing is written)."""
        spec = served.spec
        prepared = prepare_decision(
            served, request, principal, stopped=stopped, now=datetime.now(UTC)
        )
        record, personal, case = prepared.record, prepared.personal, prepared.case
        decision_id, rationale_json = record.decision_id, prepared.rationale
        hook = self.on_referred
        switches = self.switches

        def view_of(entry: LogEntry) -> DecisionView:
            return DecisionView(
                **{**record.__dict__, "rationale": rationale_json},
                case_id=case.case_id if case else None,
                review_deadline=case.deadline if case else None,
                recourse=personal.recourse,
                application_ref=request.application_ref,
                input_hash=entry.payload_hash,
                log_seq=entry.seq,
                recorded_at=entry.recorded_at,
                notice=notice_for(record),
                receipt=pending_receipt(entry),
                latency_ms=round((time.perf_counter() - t0) * 1000, 3),
            )

        def confirm(connection: Connection) -> None:
            # before the entry is chained: the switch as the chain orders it (a read only,
            # so the common decision, with nothing else to write, needs no savepoint, and
            # on the connection alone, so its group is written without an ORM session)
            switches.confirm(connection, spec.name, stopped)

        def in_transaction(session: Session, entry: LogEntry) -> None:
            if hook is not None and case is not None:
                hook(session, record)
            if also is not None:
                also(session, view_of(entry))

        writes = also is not None or (hook is not None and case is not None)
        try:
            entry = self.log.append(
                "decision",
                spec.name,
                # JSON-native as dumped: the ledger need not read its canonical text back
                JSONDump(record.model_dump(mode="json")),
                payload=JSONDump(personal.model_dump(mode="json")),
                subject_id=decision_id,
                check=ConnectionCheck(confirm),
                also=in_transaction if writes else None,
            )
        except (LogError, ValueError) as exc:
            logger.error("decision %s not recorded: %s", decision_id, exc)
            raise RecordFailed(
                "the decision could not be recorded, so no decision is given; try again later"
            ) from None
        return view_of(entry)

    # -- reading back ------------------------------------------------------------
    def get_decision(
        self,
        decision_id: str,
        *,
        principal: Principal,
        purpose: str | None = None,
        personal: bool = False,
    ) -> DecisionView:
        entries = self.log.entries_for(decision_id)
        entry = next((e for e in entries if e.kind == "decision"), None)
        if entry is None:
            raise DecisionNotFound(f"no decision with id {decision_id!r}")
        record = DecisionRecord.model_validate(entry.digest)
        check_decision_read(principal, decision_id, record.requested_by_key)
        personal_data: dict[str, Any] | None = None
        erased: bool | None = None
        if personal:
            own = (
                record.requested_by_key is not None and record.requested_by_key == principal.key_id
            )
            stated = check_personal_read(principal, purpose, own=own)
            self.log.append(
                "access",
                record.use_case,
                {
                    "reader": principal.name,
                    "reader_key": principal.key_id,
                    "roles": sorted(principal.roles),
                    "purpose": stated,
                    "decision_id": decision_id,
                },
                subject_id=decision_id,
            )
            stored = self.log.get_payload(entry.entry_id)
            personal_data, erased = stored.payload, stored.erased
        return DecisionView(
            **{**record.__dict__, "rationale": record.rationale},
            case_id=record.case.case_id if record.case else None,
            review_deadline=record.case.deadline if record.case else None,
            input_hash=entry.payload_hash,
            log_seq=entry.seq,
            recorded_at=entry.recorded_at,
            notice=notice_for(record),
            history=[
                HistoryItem(kind=str(e.kind), seq=e.seq, recorded_at=e.recorded_at, **e.digest)
                for e in entries
                if e.entry_id != entry.entry_id and e.kind != "access"
            ],
            personal=personal_data,
            personal_erased=erased,
            receipt=pending_receipt(entry),
        )
