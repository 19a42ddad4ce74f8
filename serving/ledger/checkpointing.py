"""The service's side of checkpoints: a periodic signed checkpoint, its status, and receipts.

The service writes a checkpoint every ``DOCKET_CHECKPOINT_SECONDS`` (default 60; 0
turns the periodic writing off) and once more on shutdown, to the witness sinks of
``DOCKET_WITNESS`` (:class:`~serving.ledger.witness.WitnessSinks`). Nothing here may
stop a decision: an unreachable sink is reported in the status and retried by the
sinks; a missing signing key leaves the service serving, with receipts that are never
covered and the status saying how to create the key.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from serving.ledger.checkpoints import CheckpointWriter
from serving.ledger.entries import LogEntry
from serving.ledger.receipts import LedgerTree, Receipt, build_receipt
from serving.ledger.signing import Checkpoint, LedgerKeyError, Signer, load_signer
from serving.ledger.store import DecisionLog
from serving.ledger.witness import WitnessReadError, WitnessSinks, latest_checkpoint

__all__ = [
    "CHECKPOINT_SECONDS_ENV",
    "DEFAULT_CHECKPOINT_SECONDS",
    "NO_KEY_STATUS",
    "Checkpointing",
    "checkpoint_seconds",
]

logger = logging.getLogger("docket.serving")

CHECKPOINT_SECONDS_ENV = "DOCKET_CHECKPOINT_SECONDS"
DEFAULT_CHECKPOINT_SECONDS = 60.0
NO_KEY_STATUS = "no checkpoints: no ledger key (docket ledger keygen)"
_SETTLED_NS = 2_000_000_000

_MESSAGE_BAD_SECONDS = (
    "{env} must be a number of seconds (0 turns periodic checkpoints off); got {value!r}"
)


def checkpoint_seconds(env: Mapping[str, str] | None = None) -> float:
    """The interval of the periodic checkpoint from the environment (``ValueError`` if bad)."""
    raw = (os.environ if env is None else env).get(CHECKPOINT_SECONDS_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_CHECKPOINT_SECONDS
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(
            _MESSAGE_BAD_SECONDS.format(env=CHECKPOINT_SECONDS_ENV, value=raw)
        ) from None
    if seconds != seconds or seconds < 0 or seconds == float("inf"):
        raise ValueError(_MESSAGE_BAD_SECONDS.format(env=CHECKPOINT_SECONDS_ENV, value=raw))
    return seconds


class Checkpointing:
    """Signs and publishes checkpoints of ``log``, and gives receipts against the newest.

    ``signer`` is ``None`` when no key is configured (``unavailable`` says why).
    Safe to share between threads: the periodic writer, the routes, the status page.
    """

    def __init__(
        self,
        log: DecisionLog,
        signer: Signer | None,
        sinks: WitnessSinks,
        *,
        unavailable: str | None = None,
    ) -> None:
        self.log = log
        self.signer = signer
        self.sinks = sinks
        self.unavailable = unavailable
        self.tree = LedgerTree(log)
        self._writer = (
            None if signer is None else CheckpointWriter(log, signer, sinks, self.tree.head)
        )
        self._write_lock = threading.Lock()
        self._last_error: str | None = None
        self._folder_cache: tuple[int, Checkpoint | None] | None = None

    @classmethod
    def from_env(cls, log: DecisionLog, home: Path) -> Checkpointing:
        """The key (``DOCKET_LEDGER_KEY`` or the key file) and sinks (``DOCKET_WITNESS``)."""
        sinks = WitnessSinks.from_env(home)
        try:
            signer = load_signer(home)
        except LedgerKeyError as exc:
            logger.warning("%s: %s", NO_KEY_STATUS, exc)
            return cls(log, None, sinks, unavailable=str(exc))
        return cls(log, signer, sinks)

    # -- writing ---------------------------------------------------------------------

    def write(self, *, force: bool = False) -> Checkpoint | None:
        """Sign and publish a checkpoint if the ledger grew (or ``force``); never raises.

        Returns the new checkpoint, or ``None`` when none was written (no key, nothing
        new, or the ledger could not be read: the reason is kept for :meth:`status`).
        """
        if self._writer is None:
            return None
        with self._write_lock:
            try:
                made, results = self._writer.checkpoint(force=force)
            except Exception as exc:  # the ledger unreadable, say; the next round tries again
                self._last_error = f"{type(exc).__name__}: {exc}"
                logger.exception("checkpoint not written")
                return None
            self._last_error = None
        for result in results:
            if not result.ok:
                logger.warning("witness %s not reached: %s", result.sink, result.error)
        return made

    def run(self, seconds: float, stop: threading.Event) -> None:
        """Write a checkpoint every ``seconds`` until ``stop`` is set (a thread's target)."""
        while not stop.wait(seconds):
            self.write()

    # -- reading ---------------------------------------------------------------------

    @property
    def last(self) -> Checkpoint | None:
        """The newest checkpoint this process wrote."""
        return None if self._writer is None else self._writer.last

    def _from_folder(self) -> Checkpoint | None:
        """The newest checkpoint in the default witness folder that this log's key signed.

        Other workers of the service write there too. Re-read only when the folder
        changed (a new file changes its modification time).
        """
        folder = self.sinks.default_folder
        if folder is None or self.signer is None:
            return None
        try:
            stamp = folder.stat().st_mtime_ns
        except OSError:
            return None
        cached = self._folder_cache
        if cached is not None and cached[0] == stamp:
            return cached[1]
        # a folder changed within the file system's time resolution may change again
        # without its time moving: only a settled folder is cached
        settled = time.time_ns() - stamp > _SETTLED_NS
        try:
            found = latest_checkpoint(folder)
        except (WitnessReadError, OSError) as exc:
            logger.warning("witness folder %s unreadable: %s", folder, exc)
            return None
        if found is not None and not found.verify(self.signer.public_key):
            logger.warning("ignoring a checkpoint in %s not signed by this log's key", folder)
            found = None
        self._folder_cache = (stamp, found) if settled else None
        return found

    def latest(self) -> Checkpoint | None:
        """The newest checkpoint signed with this log's key: this process's or the folder's."""
        candidates = [c for c in (self.last, self._from_folder()) if c is not None]
        return max(candidates, key=lambda c: (c.tree_size, c.timestamp), default=None)

    def receipt(self, entry: LogEntry) -> Receipt:
        """``entry``'s receipt against the newest checkpoint (not covered while none covers it).

        Raises :class:`~serving.ledger.receipts.ReceiptMismatch` when the ledger no
        longer matches the checkpoint's root.
        """
        receipt = build_receipt(entry, self.latest(), self.tree)
        if not receipt.covered and self.signer is None:
            return receipt.model_copy(update={"detail": NO_KEY_STATUS})
        return receipt

    def public_key(self) -> dict[str, Any] | None:
        """The public key (PEM and raw hex) and the log id; ``None`` without a key."""
        if self.signer is None:
            return None
        return {
            "log_id": self.signer.log_id,
            "public_key_pem": self.signer.public_key_pem(),
            "public_key_hex": self.signer.public_key.hex(),
            "algorithm": "Ed25519",
        }

    def status(self) -> dict[str, Any]:
        """For ``/admin/status``: whether checkpoints are written, the last one, each sink."""
        if self.signer is None:
            return {
                "checkpoints": NO_KEY_STATUS,
                "detail": self.unavailable,
                "sinks": self.sinks.status(),
            }
        last = self.latest()
        return {
            "checkpoints": "signed" if self._last_error is None else "failing",
            "log_id": self.signer.log_id,
            "last_checkpoint": None
            if last is None
            else {"tree_size": last.tree_size, "timestamp": last.timestamp},
            "last_error": self._last_error,
            "sinks": self.sinks.status(),
        }
