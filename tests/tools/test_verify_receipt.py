"""tools/verify_receipt.py: verifies receipts and checkpoints with no Docket code."""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from serving.ledger.merkle import MerkleTree
from serving.ledger.signing import Signer

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "verify_receipt.py"
VECTORS = json.loads((ROOT / "docs" / "ledger-test-vectors.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_receipt", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: isolated mode, so neither the checkout nor PYTHONPATH can lend it Docket's code
    return subprocess.run(
        [sys.executable, "-I", str(TOOL), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def _write(tmp_path: Path, name: str, value: Any) -> str:
    path = tmp_path / name
    path.write_text(value if isinstance(value, str) else json.dumps(value), encoding="utf-8")
    return str(path)


@pytest.fixture
def key_file(tmp_path: Path) -> str:
    return _write(tmp_path, "ledger.pub", VECTORS["public_key_pem"])


def test_it_imports_only_the_standard_library_and_cryptography() -> None:
    tree = ast.parse(TOOL.read_text(encoding="utf-8"))
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names]
            if isinstance(node, ast.Import)
            else [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else []
        )
    }
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_the_published_receipt_is_valid(tmp_path: Path, key_file: str) -> None:
    receipt = _write(tmp_path, "receipt.json", VECTORS["receipt"])

    out = _run(tmp_path, receipt, "--public-key", key_file)

    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("valid: entry")


def test_the_entry_fields_can_be_checked_against_the_receipt(tmp_path: Path, key_file: str) -> None:
    receipt = _write(tmp_path, "receipt.json", VECTORS["receipt"])
    fields = VECTORS["entries"][2]["fields"]
    good = _write(tmp_path, "entry.json", fields)
    bad = _write(tmp_path, "bad.json", {**fields, "use_case": "other"})

    assert _run(tmp_path, receipt, "--public-key", key_file, "--entry", good).returncode == 0
    out = _run(tmp_path, receipt, "--public-key", key_file, "--entry", bad)
    assert out.returncode == 1 and "not the receipt's entry_hash" in out.stderr


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"entry_hash": "00" * 32}, "not the signed root"),
        ({"leaf_index": 3}, "not the signed root"),
        ({"tree_size": 4}, "checkpoint signs 5"),
        ({"proof": ["00" * 32, "11" * 32, "22" * 32]}, "not the signed root"),
        ({"proof": []}, "shorter than the tree is deep"),
        ({"leaf_index": 5}, "outside a tree of 5"),
        ({"covered": False}, "not covered"),
    ],
)
def test_a_changed_receipt_is_invalid(
    tmp_path: Path, key_file: str, change: dict[str, Any], reason: str
) -> None:
    receipt = _write(tmp_path, "receipt.json", {**VECTORS["receipt"], **change})

    out = _run(tmp_path, receipt, "--public-key", key_file)

    assert out.returncode == 1
    assert reason in out.stderr


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"tree_size": 6}, "signature does not verify"),
        ({"root_hash": "00" * 32}, "signature does not verify"),
        ({"timestamp": "2027-01-01T00:00:10Z"}, "signature does not verify"),
        ({"log_id": "00" * 32}, "is not this public key's"),
        ({"format": "other/1"}, "format must be"),
    ],
)
def test_a_changed_checkpoint_is_invalid(
    tmp_path: Path, key_file: str, change: dict[str, Any], reason: str
) -> None:
    valid = _write(tmp_path, "ok.json", VECTORS["checkpoint"])
    changed = _write(tmp_path, "cp.json", {**VECTORS["checkpoint"], **change})

    assert _run(tmp_path, "--checkpoint", valid, "--public-key", key_file).returncode == 0
    out = _run(tmp_path, "--checkpoint", changed, "--public-key", key_file)
    assert out.returncode == 1 and reason in out.stderr


def test_another_public_key_is_refused(tmp_path: Path) -> None:
    receipt = _write(tmp_path, "receipt.json", VECTORS["receipt"])
    other = _write(tmp_path, "other.pub", Signer.from_raw(bytes(32)).public_key_pem())

    out = _run(tmp_path, receipt, "--public-key", other)

    assert out.returncode == 1 and "log_id" in out.stderr


def test_unreadable_input_exits_2(tmp_path: Path, key_file: str) -> None:
    out = _run(tmp_path, str(tmp_path / "missing.json"), "--public-key", key_file)

    assert out.returncode == 2 and "missing.json" in out.stderr


def test_every_leaf_of_every_size_verifies_and_its_neighbour_does_not(tool: ModuleType) -> None:
    signer = Signer.from_raw(bytes(range(32)))
    leaves = [bytes([i]) * 32 for i in range(1, 10)]
    tree = MerkleTree(leaves)
    for size in range(1, len(leaves) + 1):
        checkpoint = signer.sign_checkpoint(size, tree.root(size).hex()).model_dump()
        for index in range(size):
            receipt = {
                "entry_hash": leaves[index].hex(),
                "leaf_index": index,
                "tree_size": size,
                "proof": [p.hex() for p in tree.inclusion_proof(index, size)],
                "checkpoint": checkpoint,
            }
            tool.verify_receipt(receipt, signer.public_key)
            if size > 1:
                wrong = {**receipt, "entry_hash": leaves[(index + 1) % size].hex()}
                with pytest.raises(tool.Invalid):
                    tool.verify_receipt(wrong, signer.public_key)


def test_the_raw_and_hex_key_forms_are_accepted(tool: ModuleType) -> None:
    raw = bytes.fromhex(VECTORS["public_key_hex"])

    assert tool.parse_public_key(raw) == raw
    assert tool.parse_public_key(VECTORS["public_key_hex"].encode()) == raw
    assert tool.parse_public_key(VECTORS["public_key_pem"].encode()) == raw
