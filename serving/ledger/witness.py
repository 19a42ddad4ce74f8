"""Witness sinks: where signed checkpoints are kept, outside the database.

``DOCKET_WITNESS`` lists them, comma-separated:

- a folder (the default is ``<home>/checkpoints``): each checkpoint is a new file
  ``checkpoint-<tree_size>-<time>.json``, never overwritten, and beside it a
  *segment* ``leaves-<first>-<last>.txt`` holding the entry hashes (hex, one a line)
  of the entries added since the previous segment, so a verifier can name the
  exact entry a rewritten database differs at;
- a file ending in ``.jsonl``: one checkpoint per line, appended;
- an ``http://`` or ``https://`` URL: the checkpoint JSON is POSTed to it.

A sink that fails is reported (:class:`SinkResult`, :meth:`WitnessSinks.status`)
and its checkpoints stay queued: they are retried on the next publish and by
:meth:`WitnessSinks.retry_due` with exponential backoff. Publishing never raises
for a sink, so a witness that is down never blocks decisions.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from serving.ledger.signing import Checkpoint

__all__ = [
    "WITNESS_ENV",
    "SegmentSource",
    "SinkResult",
    "WitnessSinks",
    "latest_checkpoint",
    "read_checkpoints",
    "read_witnessed_leaves",
]

WITNESS_ENV = "DOCKET_WITNESS"
DEFAULT_FOLDER = "checkpoints"
POST_TIMEOUT_SECONDS = 5.0
MAX_PENDING = 1000
BACKOFF_START_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 300.0

#: ``(first_seq, last_seq) -> entry hashes (hex) of those entries, in seq order``.
SegmentSource = Callable[[int, int], Sequence[str]]

_CHECKPOINT_GLOB = "checkpoint-*.json"
_SEGMENT_NAME = re.compile(r"^leaves-(\d+)-(\d+)\.txt$")
_MESSAGE_BAD_CHECKPOINT = "{source}: not a docket checkpoint ({error})"
_MESSAGE_NO_WITNESS = "{path} is neither a checkpoint folder nor a .jsonl checkpoint file"


class WitnessReadError(ValueError):
    """A witness file or folder cannot be read as checkpoints."""


@dataclass(frozen=True, slots=True)
class SinkResult:
    """What happened when publishing to one sink."""

    sink: str
    ok: bool
    error: str | None = None


def _parse(text: str, source: str) -> Checkpoint:
    try:
        return Checkpoint.model_validate_json(text)
    except ValidationError as error:
        raise WitnessReadError(_MESSAGE_BAD_CHECKPOINT.format(source=source, error=error)) from None


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """The checkpoints in a witness folder or ``.jsonl`` file, by tree size then time."""
    path = Path(path)
    found: list[Checkpoint] = []
    if path.is_dir():
        for item in path.glob(_CHECKPOINT_GLOB):
            found.append(_parse(item.read_text(encoding="utf-8"), str(item)))
    elif path.is_file():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                found.append(_parse(line, f"{path}:{number}"))
    else:
        raise WitnessReadError(_MESSAGE_NO_WITNESS.format(path=path))
    return sorted(found, key=lambda c: (c.tree_size, c.timestamp))


def latest_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint with the largest tree size (then the latest), or ``None``."""
    path = Path(path)
    if not path.exists():
        return None
    found = read_checkpoints(path)
    return found[-1] if found else None


def _segments(folder: Path) -> list[tuple[int, int, Path]]:
    spans = []
    for item in folder.glob("leaves-*.txt"):
        match = _SEGMENT_NAME.match(item.name)
        if match:
            spans.append((int(match[1]), int(match[2]), item))
    return sorted(spans)


def read_witnessed_leaves(folder: Path) -> list[str]:
    """Entry hashes for seq 1, 2, … from a witness folder's segments, up to the first gap.

    Where segments overlap and disagree, the list stops before the disagreement
    (the checkpoints' roots decide which copy, if any, is right).
    """
    folder = Path(folder)
    leaves: list[str] = []
    if not folder.is_dir():
        return leaves
    for first, last, item in _segments(folder):
        if first > len(leaves) + 1:
            break
        hashes = item.read_text(encoding="ascii").split()
        if len(hashes) != last - first + 1:
            break
        overlap = len(leaves) - first + 1
        if hashes[:overlap] != leaves[first - 1 :]:
            break
        leaves.extend(hashes[overlap:])
    return leaves


def _create(path: Path, text: str) -> Path:
    """Write a new file, never replacing one (a suffix is added when the name is taken)."""
    candidate, attempt = path, 1
    while True:
        try:
            descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
            break
        except FileExistsError:
            attempt += 1
            candidate = path.with_name(f"{path.stem}.{attempt}{path.suffix}")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(text)
    return candidate


@dataclass
class _Sink:
    target: str
    pending: deque[Checkpoint] = field(default_factory=deque)
    last_ok: str | None = None
    last_error: str | None = None
    failures: int = 0
    next_attempt: float = 0.0
    dropped: int = 0

    @property
    def kind(self) -> str:
        if self.target.startswith(("http://", "https://")):
            return "url"
        return "file" if self.target.endswith(".jsonl") else "folder"

    def deliver(self, checkpoint: Checkpoint, segments: SegmentSource | None) -> None:
        if self.kind == "url":
            import httpx

            response = httpx.post(
                self.target,
                content=checkpoint.to_json(),
                headers={"content-type": "application/json"},
                timeout=POST_TIMEOUT_SECONDS,
            )
            if response.status_code >= 300:
                raise OSError(f"HTTP {response.status_code} from {self.target}")
            return
        path = Path(self.target)
        if self.kind == "file":
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(checkpoint.to_json() + "\n")
            return
        path.mkdir(parents=True, exist_ok=True)
        if segments is not None:
            spans = _segments(path)
            covered = spans[-1][1] if spans else 0
            if covered < checkpoint.tree_size:
                first, last = covered + 1, checkpoint.tree_size
                hashes = list(segments(first, last))
                if len(hashes) == last - first + 1:
                    _create(
                        path / f"leaves-{first:012d}-{last:012d}.txt",
                        "".join(h + "\n" for h in hashes),
                    )
        stamp = checkpoint.timestamp.replace("-", "").replace(":", "").split(".")[0]
        _create(
            path / f"checkpoint-{checkpoint.tree_size:012d}-{stamp.rstrip('Z')}Z.json",
            checkpoint.to_json() + "\n",
        )


def _now_text() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class WitnessSinks:
    """Publishes each checkpoint to every sink; failures are queued, reported and retried.

    Safe to share between threads (the service's checkpoint thread and its status page).
    """

    def __init__(self, targets: Sequence[str | Path]) -> None:
        self._sinks = [_Sink(str(target)) for target in targets]
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, home: Path) -> WitnessSinks:
        """The sinks in ``$DOCKET_WITNESS``; by default the folder ``home/checkpoints``."""
        configured = os.environ.get(WITNESS_ENV, "")
        targets = [item.strip() for item in configured.split(",") if item.strip()]
        return cls(targets or [Path(home) / DEFAULT_FOLDER])

    @property
    def targets(self) -> list[str]:
        return [sink.target for sink in self._sinks]

    @property
    def default_folder(self) -> Path | None:
        """The first folder sink (where :func:`latest_checkpoint` reads)."""
        for sink in self._sinks:
            if sink.kind == "folder":
                return Path(sink.target)
        return None

    def publish(
        self, checkpoint: Checkpoint, segments: SegmentSource | None = None
    ) -> list[SinkResult]:
        """Queue ``checkpoint`` on every sink and deliver everything queued; never raises.

        ``segments`` lets folder sinks write the entry hashes since their last segment.
        """
        with self._lock:
            results = []
            for sink in self._sinks:
                sink.pending.append(checkpoint)
                while len(sink.pending) > MAX_PENDING:
                    sink.pending.popleft()
                    sink.dropped += 1
                results.append(self._flush(sink, segments))
            return results

    def retry_due(self, segments: SegmentSource | None = None) -> list[SinkResult]:
        """Retry the sinks with queued checkpoints whose backoff has run out."""
        with self._lock:
            now = time.monotonic()
            return [
                self._flush(sink, segments)
                for sink in self._sinks
                if sink.pending and sink.next_attempt <= now
            ]

    def _flush(self, sink: _Sink, segments: SegmentSource | None) -> SinkResult:
        while sink.pending:
            try:
                sink.deliver(sink.pending[0], segments)
            except Exception as error:  # any failure of a sink is reported, never raised
                sink.failures += 1
                sink.last_error = f"{type(error).__name__}: {error}"
                delay = min(BACKOFF_MAX_SECONDS, BACKOFF_START_SECONDS * 2 ** (sink.failures - 1))
                sink.next_attempt = time.monotonic() + delay
                waiting = len(sink.pending)
                return SinkResult(
                    sink.target, False, f"{sink.last_error} ({waiting} checkpoint(s) queued)"
                )
            sink.pending.popleft()
        sink.failures = 0
        sink.next_attempt = 0.0
        sink.last_ok = _now_text()
        return SinkResult(sink.target, True)

    def status(self) -> list[dict[str, Any]]:
        """Each sink: kind, last success, last error, checkpoints queued (and dropped)."""
        with self._lock:
            return [
                {
                    "sink": sink.target,
                    "kind": sink.kind,
                    "last_ok": sink.last_ok,
                    "last_error": sink.last_error,
                    "pending": len(sink.pending),
                    "dropped": sink.dropped,
                }
                for sink in self._sinks
            ]
