"""The Merkle tree against RFC 9162's definitions, written out naively here."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from serving.ledger.merkle import MerkleTree, verify_consistency, verify_inclusion


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def mth(d: list[bytes]) -> bytes:
    """RFC 9162 2.1.1, word for word."""
    n = len(d)
    if n == 0:
        return _h(b"")
    if n == 1:
        return _h(b"\x00" + d[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return _h(b"\x01" + mth(d[:k]) + mth(d[k:]))


def path(m: int, d: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1."""
    n = len(d)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*path(m, d[:k]), mth(d[k:])]
    return [*path(m - k, d[k:]), mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    """RFC 9162 2.1.4.1."""
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*subproof(m, d[:k], b), mth(d[k:])]
    return [*subproof(m - k, d[k:], False), mth(d[:k])]


def leaves(n: int) -> list[bytes]:
    return [hashlib.sha256(str(i).encode()).digest() for i in range(n)]


@pytest.mark.parametrize("n", range(1, 34))
def test_roots_and_proofs_are_the_rfc_definitions(n: int) -> None:
    d = leaves(n)
    tree = MerkleTree(d)
    for size in range(1, n + 1):
        assert tree.root(size) == mth(d[:size])
        for m in range(size):
            proof = tree.inclusion_proof(m, size)
            assert proof == path(m, d[:size])
            assert verify_inclusion(d[m], m, size, proof, mth(d[:size]))
        for old in range(1, size + 1):
            proof = tree.consistency_proof(old, size)
            assert proof == subproof(old, d[:size], True)
            assert verify_consistency(old, size, mth(d[:old]), mth(d[:size]), proof)


@settings(max_examples=200, deadline=None)
@given(st.integers(2, 70), st.data())
def test_a_changed_leaf_proof_or_root_never_verifies(n: int, data: st.DataObject) -> None:
    d = leaves(n)
    tree = MerkleTree(d)
    m = data.draw(st.integers(0, n - 1))
    proof = tree.inclusion_proof(m, n)
    root = tree.root(n)
    other = hashlib.sha256(b"forged").digest()
    assert not verify_inclusion(other, m, n, proof, root)
    assert not verify_inclusion(d[m], m, n, proof, other)
    if proof:
        i = data.draw(st.integers(0, len(proof) - 1))
        bad = [*proof[:i], other, *proof[i + 1 :]]
        assert not verify_inclusion(d[m], m, n, bad, root)
        assert not verify_inclusion(d[m], m, n, proof[:-1], root)
    wrong_index = data.draw(st.integers(0, n - 1).filter(lambda j: d[j] != d[m] and j != m))
    assert not verify_inclusion(d[m], wrong_index, n, proof, root)
    old = data.draw(st.integers(1, n - 1))
    consistency = tree.consistency_proof(old, n)
    assert not verify_consistency(old, n, other, root, consistency)
    assert not verify_consistency(old, n, tree.root(old), other, consistency)
    # a rewritten history: the old tree's leaf changed, so the old root is not a prefix
    rewritten = MerkleTree([*d[: old - 1], other, *d[old:]])
    assert not verify_consistency(old, n, rewritten.root(old), root, consistency)


def test_the_empty_tree_and_bad_sizes() -> None:
    assert MerkleTree().root() == hashlib.sha256(b"").digest()
    tree = MerkleTree(leaves(3))
    with pytest.raises(ValueError, match=r"tree size must be in \[0, 3\]; got 4"):
        tree.root(4)
    with pytest.raises(ValueError, match=r"leaf index must be in \[0, 3\); got 3"):
        tree.inclusion_proof(3)
    with pytest.raises(ValueError, match="32 bytes"):
        tree.append(b"short")
