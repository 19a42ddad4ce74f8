"""The decision log: append-only, hash-chained, with erasable personal payloads.

>>> from serving.ledger import DecisionLog
>>> log = DecisionLog("sqlite:////tmp/docket/decisions.db")  # doctest: +SKIP
>>> log.migrate()  # doctest: +SKIP
'0001'
>>> entry = log.append("decision", "credit-eligibility", {"outcome": "approved"})  # doctest: +SKIP
>>> log.verify().ok  # doctest: +SKIP
True
"""

from serving.ledger.chain import (
    GENESIS_HASH,
    CanonicalJSONError,
    canonical_json,
    compute_entry_hash,
    compute_payload_hash,
)

# after the store: checkpoints read the ledger through DecisionLog
from serving.ledger.checkpoints import (
    CHECKPOINT_FORMAT,
    Checkpoint,
    CheckpointVerifyResult,
    CheckpointWriter,
    LedgerKeyError,
    Signer,
    SinkResult,
    WitnessSinks,
    generate_key,
    latest_checkpoint,
    ledger_tree,
    load_signer,
    make_checkpoint,
    publish_checkpoint,
    read_checkpoints,
    verify_checkpoints,
)
from serving.ledger.engine import create_log_engine
from serving.ledger.entries import (
    ChainHead,
    EntryNotFoundError,
    LogEntry,
    LogError,
    LogKind,
    LogReadError,
    LogWriteError,
    NewEntry,
    StoredPayload,
)
from serving.ledger.group_commit import GroupCommitSettings
from serving.ledger.migrate import current_revision, head_revision, migrate
from serving.ledger.store import DecisionLog
from serving.ledger.verify import Problem, VerifyResult

__all__ = [
    "CHECKPOINT_FORMAT",
    "GENESIS_HASH",
    "CanonicalJSONError",
    "ChainHead",
    "Checkpoint",
    "CheckpointVerifyResult",
    "CheckpointWriter",
    "DecisionLog",
    "EntryNotFoundError",
    "GroupCommitSettings",
    "LedgerKeyError",
    "LogEntry",
    "LogError",
    "LogKind",
    "LogReadError",
    "LogWriteError",
    "NewEntry",
    "Problem",
    "Signer",
    "SinkResult",
    "StoredPayload",
    "VerifyResult",
    "WitnessSinks",
    "canonical_json",
    "compute_entry_hash",
    "compute_payload_hash",
    "create_log_engine",
    "current_revision",
    "generate_key",
    "head_revision",
    "latest_checkpoint",
    "ledger_tree",
    "load_signer",
    "make_checkpoint",
    "migrate",
    "publish_checkpoint",
    "read_checkpoints",
    "verify_checkpoints",
]
