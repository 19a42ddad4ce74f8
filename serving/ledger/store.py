"""The decision log: an append-only, hash-chained record of what Docket did.

Each entry's ``entry_hash`` is ``sha256(canonical_json({seq, entry_id, kind,
use_case, subject_id, recorded_at, digest, payload_hash, prev_hash}))`` and its
``prev_hash`` is the previous entry's ``entry_hash`` (64 zeros for seq 1), so
editing, deleting or reordering any entry breaks the chain at that entry.

What verification can and cannot see
------------------------------------
* An edited field, a deleted or inserted entry, swapped ``seq`` values: the
  chain breaks at the first affected entry.
* Deleted *last* entries: the chain alone cannot show them, so the
  ``chain_head`` row (seq and hash of the last entry, written in the same
  transaction as each append) is compared with the last entry found.
* A changed payload: its salted hash no longer matches ``payload_hash``.
  Erased payloads verify, provided the erasure itself is in the chain (erasing
  through :meth:`DecisionLog.erase_payload` appends an ``admin`` entry).
* Someone able to rewrite *every* row from the edit onwards, and ``chain_head``
  too, can forge a consistent log: publish :meth:`DecisionLog.head` somewhere
  else (a report, another system) from time to time to anchor it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import URL, Connection, Engine, func, insert, select, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from models.canonical import canonical_json_and_value
from serving.ledger.chain import (
    entry_hash_prefix,
    finish_entry_hash,
    payload_hash_of_text,
)
from serving.ledger.engine import create_log_engine, is_postgres, normalise_url, writer
from serving.ledger.entries import (
    ERASURE_ACTION,
    ChainHead,
    EntryNotFoundError,
    LogEntry,
    LogKind,
    LogReadError,
    LogWriteError,
    NewEntry,
    StoredPayload,
)
from serving.ledger.group_commit import (
    Check,
    ConnectionCheck,
    GroupCommitSettings,
    GroupCommitter,
    PendingAppend,
    Take,
)
from serving.ledger.migrate import migrate as _migrate
from serving.ledger.schema import ChainHeadRow, LogEntryRow, PayloadRow
from serving.ledger.times import stamp, utc_now
from serving.ledger.verify import VerifyResult, verify_chain

if TYPE_CHECKING:
    from hashlib import _Hash

__all__ = ["APPEND_LOCK_KEY", "DecisionLog", "LogTransaction"]

#: ``pg_advisory_xact_lock`` key every writer takes before reading the head ("DocketLg").
APPEND_LOCK_KEY = 0x446F636B65744C67
MAX_TEXT_LENGTH = 200
_SALT_BYTES = 16

_MESSAGE_BAD_KIND = (
    "The 'kind' of a decision-log entry must be one of {allowed}; got {value!r} instead."
)
_MESSAGE_BAD_TEXT = (
    "The {name!r} of a decision-log entry must be a non-empty str of at most "
    f"{MAX_TEXT_LENGTH} characters; got {{value!r}} instead."
)
_MESSAGE_BAD_MAPPING = (
    "The {name!r} of a decision-log entry must be a mapping of JSON values; got {type} instead."
)
_MESSAGE_BAD_REASON = "An erasure needs a non-empty 'reason' str; got {value!r} instead."
_MESSAGE_NAIVE_CLOCK = "The decision-log clock must return timezone-aware datetimes; got {value!r}."
_MESSAGE_WRITE_FAILED = "Could not write to the decision log at {url} ({action}): {error}"
_MESSAGE_READ_FAILED = "Could not read the decision log at {url} ({action}): {error}"
_MESSAGE_HEAD_ROW_MISSING = (
    "The decision log has no chain_head row: it was never migrated (call migrate()) "
    "or the row was deleted (run verify())."
)
_MESSAGE_NO_ENTRY = "No decision-log entry has entry_id {entry_id!r}."
_MESSAGE_NO_PAYLOAD = "The decision-log entry {entry_id!r} has no personal payload."
_MESSAGE_BAD_ENTRIES = "append_many takes a sequence (e.g. a list) of NewEntry; got {type} instead."
_MESSAGE_BAD_NEW_ENTRY = (
    "append_many takes NewEntry items (serving.ledger.NewEntry); entries[{index}] is a {type}."
)


def _timestamp(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError(_MESSAGE_NAIVE_CLOCK.format(value=moment))
    return stamp(moment)


def _check_kind(kind: LogKind | str) -> LogKind:
    try:
        return LogKind(kind)
    except ValueError:
        allowed = [str(member) for member in LogKind]
        raise ValueError(_MESSAGE_BAD_KIND.format(allowed=allowed, value=kind)) from None


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT_LENGTH:
        raise ValueError(_MESSAGE_BAD_TEXT.format(name=name, value=value))
    return value


def _normalised_json(name: str, value: object) -> tuple[Any, str]:
    """Return ``value`` as read back from its canonical JSON, and that JSON."""
    if not isinstance(value, Mapping):
        raise TypeError(_MESSAGE_BAD_MAPPING.format(name=name, type=type(value).__name__))
    # the canonical check decodes the text anyway: its read-back is the value
    text, decoded = canonical_json_and_value(value)
    return decoded, text


# Entry ids and payload salts come from os.urandom in batches: a call per entry (uuid4,
# secrets.token_hex) lets go of the GIL twice per append, and with many writer threads
# each such call waits for the GIL again. The bytes are the same system randomness.
_RANDOM_BATCH = 256
_random_chunks: deque[bytes] = deque()
_fork_hook: list[bool] = []


def _random16() -> bytes:
    """16 bytes from os.urandom, never handed out twice (in this or a forked process)."""
    try:
        return _random_chunks.popleft()  # atomic: threads never share a chunk
    except IndexError:
        if not _fork_hook:
            _fork_hook.append(True)
            # a forked child must not reuse its parent's unused chunks
            os.register_at_fork(after_in_child=_random_chunks.clear)
        block = os.urandom(16 * _RANDOM_BATCH)
        _random_chunks.extend(block[i : i + 16] for i in range(16, len(block), 16))
        return block[:16]


def _new_entry_id() -> str:
    """A random (version 4) UUID, as uuid.uuid4() gives it."""
    return str(uuid.UUID(bytes=_random16(), version=4))


def _new_salt() -> str:
    """The salt of a payload hash (as secrets.token_hex(16) gives it)."""
    return _random16().hex()


def _entry_from_row(row: LogEntryRow) -> LogEntry:
    return LogEntry(
        seq=row.seq,
        entry_id=row.entry_id,
        kind=LogKind(row.kind),
        use_case=row.use_case,
        subject_id=row.subject_id,
        recorded_at=row.recorded_at,
        digest=json.loads(row.digest),
        payload_hash=row.payload_hash,
        prev_hash=row.prev_hash,
        entry_hash=row.entry_hash,
    )


@dataclass(frozen=True, slots=True)
class _Prepared:
    """An entry checked, serialised and half hashed, ready to be chained.

    Everything but seq, prev_hash, recorded_at and the end of the hash is done here,
    before the writer lock: what is done under it, every waiting writer waits for.
    """

    kind: LogKind
    use_case: str
    subject_id: str | None
    digest: dict[str, Any]
    digest_text: str
    payload_text: str | None
    salt: str | None
    payload_hash: str | None
    entry_id: str
    hash_prefix: _Hash


def _prepare(
    kind: LogKind | str,
    use_case: str,
    digest: Mapping[str, Any],
    payload: Mapping[str, Any] | None,
    subject_id: str | None,
) -> _Prepared:
    # checked before any transaction starts, so a bad entry never holds the writer lock
    log_kind = _check_kind(kind)
    _check_text("use_case", use_case)
    if subject_id is not None:
        _check_text("subject_id", subject_id)
    digest_value, digest_text = _normalised_json("digest", digest)
    payload_text = salt = payload_hash = None
    if payload is not None:
        _, payload_text = _normalised_json("payload", payload)
        salt = _new_salt()
        payload_hash = payload_hash_of_text(payload_text, salt)
    entry_id = _new_entry_id()
    return _Prepared(
        kind=log_kind,
        use_case=use_case,
        subject_id=subject_id,
        digest=digest_value,
        digest_text=digest_text,
        payload_text=payload_text,
        salt=salt,
        payload_hash=payload_hash,
        entry_id=entry_id,
        hash_prefix=entry_hash_prefix(digest_text, entry_id, log_kind.value, payload_hash),
    )


# One statement for a group's entries, their payloads and the new head: every round
# trip to the server is paid while the writer lock is held, by every writer waiting.
# (Foreign keys are checked at the end of the statement, after both inserts.)
_POSTGRES_GROUP = text(
    """
    WITH entries AS (
        INSERT INTO log_entries (seq, entry_id, kind, use_case, subject_id, recorded_at,
                                 digest, payload_hash, prev_hash, entry_hash)
        SELECT r.seq, r.entry_id, r.kind, r.use_case, r.subject_id, r.recorded_at,
               r.digest, r.payload_hash, r.prev_hash, r.entry_hash
        FROM jsonb_to_recordset(CAST(:entries AS jsonb)) AS r(
            seq bigint, entry_id text, kind text, use_case text, subject_id text,
            recorded_at text, digest text, payload_hash text, prev_hash text, entry_hash text)
        RETURNING 1
    ), payloads AS (
        INSERT INTO payloads (entry_id, payload, salt)
        SELECT r.entry_id, r.payload, r.salt
        FROM jsonb_to_recordset(CAST(:payloads AS jsonb)) AS r(
            entry_id text, payload text, salt text)
        RETURNING 1
    )
    UPDATE chain_head SET seq = :seq, entry_hash = :entry_hash
    WHERE id = 1 AND :move_head
      AND (SELECT count(*) FROM entries) >= 0 AND (SELECT count(*) FROM payloads) >= 0
    """
)


# The writer lock and the head in one statement (see DecisionLog._lock_and_read_head).
_POSTGRES_LOCK_AND_HEAD = text(
    """
    SELECT seq, entry_hash FROM chain_head
    WHERE id = 1 AND pg_advisory_xact_lock(:key) IS NOT NULL
    FOR UPDATE
    """
)


def _flush_postgres(
    connection: Connection,
    entry_rows: list[dict[str, Any]],
    payload_rows: list[dict[str, Any]],
    head: tuple[int, str] | None,
) -> None:
    """Insert ``entry_rows`` and ``payload_rows`` and move the head to ``head``, at once."""
    if not entry_rows and head is None:
        return
    connection.execute(
        _POSTGRES_GROUP,
        {
            "entries": json.dumps(entry_rows),
            "payloads": json.dumps(payload_rows),
            "seq": 0 if head is None else head[0],
            "entry_hash": "" if head is None else head[1],
            "move_head": head is not None,
        },
    )


_ENTRY_COLUMNS = (
    "seq, entry_id, kind, use_case, subject_id, recorded_at, digest, payload_hash, prev_hash,"
    " entry_hash"
)
# SQLite's statements in its own SQL (qmark parameters, rows as tuples): they skip
# SQLAlchemy's compiled-statement lookup and parameter processing, which took more
# Python per decision than SQLite takes to run them.
_ENTRY_KEYS = tuple(_ENTRY_COLUMNS.replace(" ", "").split(","))
_PAYLOAD_KEYS = ("entry_id", "payload", "salt", "erased_at", "erasure_reason")
_SQLITE_INSERT_ENTRIES = (
    f"INSERT INTO log_entries ({_ENTRY_COLUMNS}) VALUES ({', '.join('?' * len(_ENTRY_KEYS))})"
)
_SQLITE_INSERT_PAYLOADS = (
    f"INSERT INTO payloads ({', '.join(_PAYLOAD_KEYS)})"
    f" VALUES ({', '.join('?' * len(_PAYLOAD_KEYS))})"
)
_SQLITE_MOVE_HEAD = "UPDATE chain_head SET seq = ?, entry_hash = ? WHERE id = 1"
_SQLITE_READ_HEAD = "SELECT seq, entry_hash FROM chain_head WHERE id = 1"
_entry_values = itemgetter(*_ENTRY_KEYS)
_payload_values = itemgetter(*_PAYLOAD_KEYS)


def _sqlite(connection: Connection, sql: str, params: Any = (), *, many: bool = False) -> Any:
    """Run one of the statements above on SQLite's own cursor; return the cursor.

    Even ``exec_driver_sql`` cost ~22 us of Python per statement (its execution
    context and result), several times SQLite's own work for these rows; the group
    leader runs four per decision. A driver error is raised as SQLAlchemy's own
    (``OperationalError``, ``IntegrityError``, ...), as ``exec_driver_sql`` raises it,
    parameters hidden as the engine hides them.
    """
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if many:
            cursor.executemany(sql, params)
        else:
            cursor.execute(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(
            sql, params, exc, sqlite3.Error, hide_parameters=True, dialect=connection.dialect
        ) from exc
    return cursor


def _flush_rows(
    connection: Connection,
    postgres: bool,
    entry_rows: list[dict[str, Any]],
    payload_rows: list[dict[str, Any]],
    head: tuple[int, str] | None,
) -> None:
    """Insert the rows (one statement each, or one in all on PostgreSQL); move the head."""
    if postgres:
        _flush_postgres(connection, entry_rows, payload_rows, head)
        return
    # plain statements: the ORM's bulk insert cost more Python per append than SQLite
    # takes to write the rows
    if entry_rows:
        rows = [_entry_values(r) for r in entry_rows]
        _sqlite(connection, _SQLITE_INSERT_ENTRIES, rows, many=True)
    if payload_rows:
        rows = [_payload_values(r) for r in payload_rows]
        _sqlite(connection, _SQLITE_INSERT_PAYLOADS, rows, many=True)
    if head is not None:
        _sqlite(connection, _SQLITE_MOVE_HEAD, head)


def _prepare_many(entries: Sequence[NewEntry]) -> list[_Prepared]:
    """Check every entry of ``entries`` (before anything is written); name the bad one."""
    if isinstance(entries, str | bytes) or not isinstance(entries, Sequence):
        raise TypeError(_MESSAGE_BAD_ENTRIES.format(type=type(entries).__name__))
    prepared: list[_Prepared] = []
    for index, new in enumerate(entries):
        if not isinstance(new, NewEntry):
            raise TypeError(_MESSAGE_BAD_NEW_ENTRY.format(index=index, type=type(new).__name__))
        try:
            prepared.append(
                _prepare(new.kind, new.use_case, new.digest, new.payload, new.subject_id)
            )
        except (ValueError, TypeError) as error:
            # the message stays the one append gives; the note says which entry it was
            error.add_note(f"(in entries[{index}] of append_many)")
            raise
    return prepared


class LogTransaction:
    """An open write transaction of a :class:`DecisionLog` (see :meth:`DecisionLog.transaction`).

    ``session`` reads and writes the service's other tables in the same
    transaction; :meth:`append` chains entries in it.
    """

    def __init__(self, log: DecisionLog, session: Session) -> None:
        self._log = log
        self.session = session

    def append(
        self,
        kind: LogKind | str,
        use_case: str,
        digest: Mapping[str, Any],
        payload: Mapping[str, Any] | None = None,
        subject_id: str | None = None,
    ) -> LogEntry:
        """Chain one entry (and its personal ``payload``) in this transaction.

        Raises ``ValueError`` for the same bad values as :meth:`DecisionLog.append`.
        """
        prepared = _prepare(kind, use_case, digest, payload, subject_id)
        return self._log._write_prepared(self.session, prepared)

    def append_many(self, entries: Sequence[NewEntry]) -> list[LogEntry]:
        """Chain ``entries`` in this transaction, in order, after whatever it appended before.

        Every entry is checked first, as :meth:`append` checks it: one bad entry
        refuses the whole call and nothing of it is written. The entries go in one
        multi-row insert, their payloads in another (one statement for both on
        PostgreSQL), and the head moves once.

        Raises
        ------
        TypeError
            ``entries`` is not a sequence of :class:`~serving.ledger.entries.NewEntry`.
        ValueError
            A bad entry (the same errors as :meth:`DecisionLog.append`; a note names
            its index).
        """
        prepared = _prepare_many(entries)
        if not prepared:
            return []
        return self._log._write_many_locked(self.session, prepared)


class DecisionLog:
    """The decision log at ``url`` (``sqlite:///…/decisions.db`` or ``postgresql+psycopg://…``).

    Every write is one transaction; several processes may append at once.
    Create the schema first with :meth:`migrate`.

    Parameters
    ----------
    url : str or sqlalchemy.URL
        Database URL.
    clock : callable, optional
        Returns the current timezone-aware time (tests pass a fixed clock).
    engine_options : mapping, optional
        Extra keyword arguments for ``sqlalchemy.create_engine``.
    group_commit : GroupCommitSettings, optional
        How :meth:`append` groups the appends of this process's threads into one
        transaction (:mod:`serving.ledger.group_commit`); from the environment
        (``DOCKET_LEDGER_GROUP_COMMIT``, on by default, with no waiting window) if
        not given. ``GroupCommitSettings(enabled=False)``: one transaction per append.
    """

    def __init__(
        self,
        url: str | URL,
        *,
        clock: Callable[[], datetime] | None = None,
        engine_options: Mapping[str, Any] | None = None,
        group_commit: GroupCommitSettings | None = None,
    ) -> None:
        self.url = normalise_url(url)
        self._shown_url = self.url.render_as_string(hide_password=True)
        self._clock = clock or utc_now
        self._engine = create_log_engine(self.url, **dict(engine_options or {}))
        self._writer = writer(self._engine)
        self._snapshot = (
            self._engine.execution_options(isolation_level="REPEATABLE READ")
            if is_postgres(self._engine)
            else self._engine
        )
        settings = GroupCommitSettings.from_env() if group_commit is None else group_commit
        self._group: GroupCommitter[_Prepared] | None = (
            GroupCommitter(settings, self._write_group) if settings.enabled else None
        )
        self._group_conn: Connection | None = None
        self._group_sess: Session | None = None
        #: whether an ``also`` hook or a plain check was given the group's session
        self._group_sess_shown = False

    @property
    def group_committer(self) -> GroupCommitter[_Prepared] | None:
        """The group committer of :meth:`append` (``None`` when appends are not grouped)."""
        return self._group

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for migrations and tests)."""
        return self._engine

    def migrate(self) -> str | None:
        """Create or upgrade the schema (idempotent); returns the revision reached."""
        return _migrate(self._engine)

    def close(self) -> None:
        """Release the database connections."""
        session, self._group_sess = self._group_sess, None
        if session is not None:
            session.close()
        connection, self._group_conn = self._group_conn, None
        if connection is not None:
            connection.close()
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DecisionLog({self._shown_url!r})"

    # -- writing -----------------------------------------------------------------------

    def append(
        self,
        kind: LogKind | str,
        use_case: str,
        digest: Mapping[str, Any],
        payload: Mapping[str, Any] | None = None,
        subject_id: str | None = None,
        *,
        check: Check | None = None,
        also: Callable[[Session, LogEntry], None] | None = None,
    ) -> LogEntry:
        """Append one entry (and its personal ``payload``, kept apart) in one transaction.

        ``digest`` holds the non-personal facts (for a decision: model, policy,
        explainer and catalogue versions, input hash, score, outcome, reasons,
        rationale); ``payload`` the personal data, which can be erased later.
        ``also(session, entry)``, if given, runs inside the same transaction
        after the entry is added (e.g. to open the review case of a referred
        decision): if it raises, neither the entry nor its rows are written.
        ``check(session)``, if given, runs in that transaction too, under the
        writer lock, before the entry is chained; it must only read (e.g. confirm
        that the use case's stop switch is off): if it raises, the entry is not
        written and the exception is raised here. Unlike ``also`` it needs no
        savepoint, so prefer it whenever nothing has to be written with the entry;
        a :class:`~serving.ledger.group_commit.ConnectionCheck` is given the
        transaction's connection instead of a session, and a group of such appends
        (no ``also``) is written without handing a session to anyone.

        Returns once the entry is committed. With group commit (the default, see
        :mod:`serving.ledger.group_commit`) the transaction may hold other
        threads' appends too, ``check`` and ``also`` (in a savepoint of it) run on
        the thread writing the group, and they may run again if the group is
        rolled back and its appends written one by one: keep the effects of
        ``also`` outside ``session`` repeatable.

        Raises
        ------
        ValueError
            A bad ``kind``, ``use_case`` or ``subject_id``, or a value that is not
            canonical JSON (:class:`~serving.ledger.chain.CanonicalJSONError`).
        LogWriteError
            The database refused or could not be reached; nothing was written.
        Exception
            Whatever ``check`` or ``also`` raised (other than a database error);
            nothing was written.
        """
        prepared = _prepare(kind, use_case, digest, payload, subject_id)
        if self._group is not None:
            return self._group.submit(prepared, also, check)
        return self._append_alone(prepared, also, check)

    def _append_alone(
        self,
        prepared: _Prepared,
        also: Callable[[Session, LogEntry], None] | None,
        check: Check | None = None,
    ) -> LogEntry:
        """One entry in a transaction of its own (the path without group commit)."""
        try:
            with Session(self._writer) as session, session.begin():
                self._lock(session)
                if check is not None:
                    check(session)
                entry = self._write_prepared(session, prepared)
                if also is not None:
                    also(session, entry)
        except SQLAlchemyError as error:
            raise self._write_error(f"append {prepared.kind}", error) from error
        return entry

    def _write_group(self, take: Take[_Prepared]) -> None:
        """Write the appends ``take()`` returns in one transaction; set each one's ``entry``.

        ``take`` is called once the writer lock is held. A database error before
        the commit rolls the group back and writes each append alone (one refused
        entry then fails only its caller); a failed commit fails them all, as a
        failed commit of one append did; so does a failure to connect or lock.

        The session only begins and commits the transaction; the statements and the
        :class:`~serving.ledger.group_commit.ConnectionCheck` checks of the common
        decision go to its connection directly (through the session each paid its
        transaction bookkeeping and events again), and the session is handed only to
        ``also`` hooks and plain checks. One no append ever saw is kept for the next
        group (its setup costs more than SQLite's writing of a decision's rows).
        """
        group: list[PendingAppend[_Prepared]] | None = None
        committing = False
        written: list[tuple[PendingAppend[_Prepared], LogEntry]] = []
        try:
            session = self._group_session()
            try:
                with session.begin():
                    head = self._lock_and_read_head(session)
                    group = take()
                    written = self._write_group_locked(session, group, head)
                    committing = True
            finally:
                if self._group_sess_shown:
                    # a hook or check saw it (its info, its objects): the next group
                    # gets a fresh one, as every group did
                    self._group_sess = None
                    self._group_sess_shown = False
                    session.close()
        except SQLAlchemyError as error:
            self._drop_group_connection()
            if group is None or committing or len(group) == 1:
                group = take()
                action = (
                    f"append {group[0].prepared.kind}"
                    if len(group) == 1
                    else f"append a group of {len(group)}"
                )
                failure = self._write_error(action, error)
                for pending in group:
                    if pending.error is None:
                        pending.error = failure
                return
            for pending in group:
                pending.error = None
                try:
                    pending.entry = self._append_alone(
                        pending.prepared, pending.also, pending.check
                    )
                except Exception as alone_error:
                    pending.error = alone_error
            return
        for pending, entry in written:
            pending.entry = entry

    def _group_session(self) -> Session:
        """The session group leaders write through, on a connection kept between groups.

        Only the leader uses them (one at a time). Kept, the connection saves the pool's
        check-out ping, a round trip paid while other writers wait, and the session its
        setup; a failed group drops both. The session only begins and commits the
        transaction (and serves ``also`` hooks and plain checks): the group's own
        statements go to its connection directly (see :meth:`_write_group_locked`).
        """
        if self._group_conn is None:
            self._group_conn = self._writer.connect()
        if self._group_sess is None:
            self._group_sess = Session(bind=self._group_conn)
        return self._group_sess

    def _drop_group_connection(self) -> None:
        session, self._group_sess = self._group_sess, None
        if session is not None:
            session.close()
        connection, self._group_conn = self._group_conn, None
        if connection is not None:
            try:
                connection.invalidate()
                connection.close()
            except SQLAlchemyError:
                pass  # already broken: nothing left to release

    def _lock_and_read_head(self, session: Session | Connection) -> tuple[int, str]:
        """Take the writer lock and read the head: one round trip on PostgreSQL.

        The lock is taken in the row filter and the row read ``FOR UPDATE``: the
        statement's snapshot predates the lock, but in READ COMMITTED a row locked
        ``FOR UPDATE`` is the newest committed version (re-read if a writer that held
        the lock moved the head meanwhile), so it is the head as of the lock.
        """
        connection = session if isinstance(session, Connection) else session.connection()
        if is_postgres(self._engine):
            found = connection.execute(_POSTGRES_LOCK_AND_HEAD, {"key": APPEND_LOCK_KEY}).first()
        else:
            # SQLite holds the write lock already (BEGIN IMMEDIATE)
            found = _sqlite(connection, _SQLITE_READ_HEAD).fetchone()
        if found is None:
            raise LogWriteError(_MESSAGE_HEAD_ROW_MISSING)
        return int(found[0]), str(found[1])

    def _write_group_locked(
        self,
        session: Session,
        group: list[PendingAppend[_Prepared]],
        head: tuple[int, str],
    ) -> list[tuple[PendingAppend[_Prepared], LogEntry]]:
        """Chain ``group`` from the head in one insert (a savepoint per hook); the lock is held.

        Returns the appends written and their entries; an append whose check or hook
        raised gets that error, its entry is not written (or rolled back to the hook's
        savepoint), and the next takes its seq.
        """
        seq, prev_hash = head
        written: list[tuple[PendingAppend[_Prepared], LogEntry]] = []
        entry_rows: list[dict[str, Any]] = []
        payload_rows: list[dict[str, Any]] = []
        postgres = is_postgres(self._engine)
        # statements and connection checks go to the connection itself: through the
        # session each would pay its transaction bookkeeping and events again
        connection = session.connection()

        def flush(head: tuple[int, str] | None = None) -> None:
            _flush_rows(connection, postgres, entry_rows, payload_rows, head)
            entry_rows.clear()
            payload_rows.clear()

        for pending in group:
            check = pending.check
            if check is not None:
                try:
                    if isinstance(check, ConnectionCheck):
                        check.run(connection)
                    else:
                        self._group_sess_shown = True
                        check(session)
                except SQLAlchemyError:
                    raise  # the transaction may be unusable: the group goes one by one
                except Exception as error:
                    # nothing of this append was written yet: no savepoint to roll back
                    pending.error = error
                    continue
            entry, entry_row, payload_row = self._chained(pending.prepared, seq, prev_hash)
            if pending.also is None:
                entry_rows.append(entry_row)
                if payload_row is not None:
                    payload_rows.append(payload_row)
            else:
                flush()
                self._group_sess_shown = True
                savepoint = session.begin_nested()
                try:
                    session.execute(insert(LogEntryRow), [entry_row])
                    if payload_row is not None:
                        session.execute(insert(PayloadRow), [payload_row])
                    pending.also(session, entry)
                    session.flush()  # the hook's rows fail here, in its savepoint, if they do
                except Exception as error:
                    savepoint.rollback()  # if this fails, the whole group fails
                    pending.error = (
                        self._write_error(f"append {pending.prepared.kind}", error)
                        if isinstance(error, SQLAlchemyError)
                        else error
                    )
                    continue
                savepoint.commit()
            written.append((pending, entry))
            seq, prev_hash = entry.seq, entry.entry_hash
        flush((seq, prev_hash))
        return written

    def _write_many_locked(self, session: Session, prepared: list[_Prepared]) -> list[LogEntry]:
        """Chain ``prepared`` from the head in one insert; the caller holds the writer lock."""
        # a plain append of this transaction may have moved the head in the ORM only
        session.flush()
        found = session.execute(
            select(ChainHeadRow.seq, ChainHeadRow.entry_hash).where(ChainHeadRow.id == 1)
        ).first()
        if found is None:
            raise LogWriteError(_MESSAGE_HEAD_ROW_MISSING)
        seq, prev_hash = found.seq, found.entry_hash
        entries: list[LogEntry] = []
        entry_rows: list[dict[str, Any]] = []
        payload_rows: list[dict[str, Any]] = []
        for one in prepared:
            entry, entry_row, payload_row = self._chained(one, seq, prev_hash)
            entries.append(entry)
            entry_rows.append(entry_row)
            if payload_row is not None:
                payload_rows.append(payload_row)
            seq, prev_hash = entry.seq, entry.entry_hash
        _flush_rows(
            session.connection(),
            is_postgres(self._engine),
            entry_rows,
            payload_rows,
            (seq, prev_hash),
        )
        # the head went round the ORM: a head it loaded earlier (a plain append of this
        # transaction) must show the new one, or the next plain append would fork the chain
        loaded = session.identity_map.get(Session.identity_key(ChainHeadRow, 1))
        if loaded is not None:
            set_committed_value(loaded, "seq", seq)
            set_committed_value(loaded, "entry_hash", prev_hash)
        return entries

    def _chained(
        self, prepared: _Prepared, prev_seq: int, prev_hash: str
    ) -> tuple[LogEntry, dict[str, Any], dict[str, Any] | None]:
        """``prepared`` as the entry after (``prev_seq``, ``prev_hash``), and its rows."""
        seq = prev_seq + 1
        recorded_at = _timestamp(self._clock())
        entry = LogEntry(
            seq=seq,
            entry_id=prepared.entry_id,
            kind=prepared.kind,
            use_case=prepared.use_case,
            subject_id=prepared.subject_id,
            recorded_at=recorded_at,
            digest=prepared.digest,
            payload_hash=prepared.payload_hash,
            prev_hash=prev_hash,
            entry_hash=finish_entry_hash(
                prepared.hash_prefix,
                prev_hash=prev_hash,
                recorded_at=recorded_at,
                seq=seq,
                subject_id=prepared.subject_id,
                use_case=prepared.use_case,
            ),
        )
        entry_row = {
            "seq": entry.seq,
            "entry_id": entry.entry_id,
            "kind": prepared.kind.value,
            "use_case": prepared.use_case,
            "subject_id": prepared.subject_id,
            "recorded_at": entry.recorded_at,
            "digest": prepared.digest_text,
            "payload_hash": prepared.payload_hash,
            "prev_hash": prev_hash,
            "entry_hash": entry.entry_hash,
        }
        payload_row = (
            None
            if prepared.payload_text is None
            else {
                "entry_id": entry.entry_id,
                "payload": prepared.payload_text,
                "salt": prepared.salt,
                "erased_at": None,
                "erasure_reason": None,
            }
        )
        return entry, entry_row, payload_row

    @contextmanager
    def transaction(self) -> Iterator[LogTransaction]:
        """One write transaction for several entries and the rows they go with.

        The writer lock is taken once, at the start, so what the caller reads
        through ``session`` cannot change before it commits (review actions rely
        on it). Everything is committed together when the block ends, or nothing
        if it raises.

        >>> with log.transaction() as tx:  # doctest: +SKIP
        ...     tx.session.execute(update(CaseRow)...)
        ...     tx.append("review_action", "credit-eligibility", {"action": "claimed"})

        Raises
        ------
        LogWriteError
            The database refused or could not be reached; nothing was written.
        """
        try:
            with Session(self._writer) as session, session.begin():
                self._lock(session)
                yield LogTransaction(self, session)
        except SQLAlchemyError as error:
            raise self._write_error("transaction", error) from error

    def _write_prepared(self, session: Session, prepared: _Prepared) -> LogEntry:
        """Add a checked entry and its payload row; the caller holds the writer lock."""
        entry = self._append_locked(session, prepared)
        if prepared.payload_text is not None:
            session.add(
                PayloadRow(
                    entry_id=entry.entry_id, payload=prepared.payload_text, salt=prepared.salt
                )
            )
            session.flush()
        return entry

    def erase_payload(self, entry_id: str, reason: str) -> StoredPayload:
        """Erase the personal payload of ``entry_id``; the chain still verifies.

        The payload and its salt are deleted, ``payload_hash`` stays in the chain,
        and an ``admin`` entry (``{"action": "payload_erased", ...}``, subject the
        erased entry) records the erasure in the same transaction. ``reason``
        (e.g. "retention period ended") is stored in that entry: keep personal
        data out of it. Erasing an erased payload changes nothing.

        Raises
        ------
        EntryNotFoundError
            No such entry, or it has no payload.
        LogWriteError
            The database refused or could not be reached; nothing was erased.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError(_MESSAGE_BAD_REASON.format(value=reason))
        try:
            with Session(self._writer) as session, session.begin():
                self._lock(session)
                entry = session.scalar(select(LogEntryRow).where(LogEntryRow.entry_id == entry_id))
                if entry is None:
                    raise EntryNotFoundError(_MESSAGE_NO_ENTRY.format(entry_id=entry_id))
                stored = session.get(PayloadRow, entry_id)
                if stored is None:
                    raise EntryNotFoundError(_MESSAGE_NO_PAYLOAD.format(entry_id=entry_id))
                if stored.erased_at is None:
                    stored.payload = None
                    stored.salt = None
                    stored.erased_at = _timestamp(self._clock())
                    stored.erasure_reason = reason
                    digest = {
                        "action": ERASURE_ACTION,
                        "entry_id": entry_id,
                        "entry_seq": entry.seq,
                        "reason": reason,
                    }
                    self._append_locked(
                        session,
                        _prepare(LogKind.ADMIN, entry.use_case, digest, None, entry_id),
                    )
                return StoredPayload(
                    entry_id=entry_id,
                    payload=None,
                    erased_at=stored.erased_at,
                    erasure_reason=stored.erasure_reason,
                )
        except SQLAlchemyError as error:
            raise self._write_error("erase payload", error) from error

    def _lock(self, session: Session) -> None:
        """Serialise writers (SQLite already holds the write lock: BEGIN IMMEDIATE)."""
        if is_postgres(self._engine):
            session.execute(select(func.pg_advisory_xact_lock(APPEND_LOCK_KEY)))

    def _append_locked(self, session: Session, prepared: _Prepared) -> LogEntry:
        """Extend the chain from ``chain_head``; the caller holds the writer lock."""
        # read again (after flushing this transaction's ORM changes): append_many moves the
        # head with a plain statement, which the session's copy of the row does not see
        head = session.get(ChainHeadRow, 1, populate_existing=True)
        if head is None:
            raise LogWriteError(_MESSAGE_HEAD_ROW_MISSING)
        entry, entry_row, _ = self._chained(prepared, head.seq, head.entry_hash)
        session.add(LogEntryRow(**entry_row))
        session.flush()
        head.seq = entry.seq
        head.entry_hash = entry.entry_hash
        return entry

    def _write_error(self, action: str, error: SQLAlchemyError) -> LogWriteError:
        return LogWriteError(
            _MESSAGE_WRITE_FAILED.format(url=self._shown_url, action=action, error=error)
        )

    # -- reading -----------------------------------------------------------------------

    def _read_error(self, action: str, error: SQLAlchemyError) -> LogReadError:
        return LogReadError(
            _MESSAGE_READ_FAILED.format(url=self._shown_url, action=action, error=error)
        )

    def head(self) -> ChainHead:
        """The seq and hash of the last entry, as recorded in ``chain_head``."""
        try:
            with Session(self._engine) as session:
                row = session.get(ChainHeadRow, 1)
                if row is None:
                    raise LogReadError(_MESSAGE_HEAD_ROW_MISSING)
                return ChainHead(seq=row.seq, entry_hash=row.entry_hash)
        except SQLAlchemyError as error:
            raise self._read_error("head", error) from error

    def get(self, entry_id: str) -> LogEntry:
        """The entry ``entry_id``; raises :class:`EntryNotFoundError` if there is none."""
        try:
            with Session(self._engine) as session:
                row = session.scalar(select(LogEntryRow).where(LogEntryRow.entry_id == entry_id))
                if row is None:
                    raise EntryNotFoundError(_MESSAGE_NO_ENTRY.format(entry_id=entry_id))
                return _entry_from_row(row)
        except SQLAlchemyError as error:
            raise self._read_error("get", error) from error

    def entries_for(self, subject_id: str) -> list[LogEntry]:
        """The entries concerning ``subject_id`` (e.g. a decision id), oldest first."""
        try:
            with Session(self._engine) as session:
                rows = session.scalars(
                    select(LogEntryRow)
                    .where(LogEntryRow.subject_id == subject_id)
                    .order_by(LogEntryRow.seq)
                )
                return [_entry_from_row(row) for row in rows]
        except SQLAlchemyError as error:
            raise self._read_error("entries_for", error) from error

    def iter_entries(self, *, start_seq: int = 1, batch_size: int = 500) -> Iterator[LogEntry]:
        """All entries from ``start_seq`` on, in seq order, read in pages of ``batch_size``."""
        assert batch_size > 0, "batch_size must be positive"
        after = start_seq - 1
        while True:
            try:
                with Session(self._engine) as session:
                    rows = session.scalars(
                        select(LogEntryRow)
                        .where(LogEntryRow.seq > after)
                        .order_by(LogEntryRow.seq)
                        .limit(batch_size)
                    ).all()
                    page = [_entry_from_row(row) for row in rows]
            except SQLAlchemyError as error:
                raise self._read_error("iter_entries", error) from error
            yield from page
            if len(page) < batch_size:
                return
            after = page[-1].seq

    def get_payload(self, entry_id: str) -> StoredPayload:
        """The personal payload of ``entry_id`` (``payload`` is ``None`` once erased).

        Callers serving people (reviewers, auditors) must log the read and its
        purpose as an ``access`` entry (R17); this method does not.
        """
        try:
            with Session(self._engine) as session:
                row = session.get(PayloadRow, entry_id)
                if row is None:
                    raise EntryNotFoundError(_MESSAGE_NO_PAYLOAD.format(entry_id=entry_id))
                return StoredPayload(
                    entry_id=entry_id,
                    payload=None if row.payload is None else json.loads(row.payload),
                    erased_at=row.erased_at,
                    erasure_reason=row.erasure_reason,
                )
        except SQLAlchemyError as error:
            raise self._read_error("get_payload", error) from error

    def verify(self, *, batch_size: int = 1000) -> VerifyResult:
        """Check the whole chain, its head and the payloads, in one consistent snapshot.

        Returns a :class:`VerifyResult` naming the first broken entry and why.
        """
        assert batch_size > 0, "batch_size must be positive"
        try:
            with (
                self._snapshot.connect() as connection,
                connection.begin(),
                Session(bind=connection) as session,
            ):
                return verify_chain(session, batch_size=batch_size)
        except SQLAlchemyError as error:
            raise self._read_error("verify", error) from error
