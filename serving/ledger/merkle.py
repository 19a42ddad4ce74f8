"""The ledger's Merkle tree: RFC 6962 / RFC 9162 hashing, inclusion and consistency proofs.

The leaves are the ledger's entries in ``seq`` order; the data of leaf ``i`` is the
32 raw bytes of entry ``i + 1``'s entry hash (:func:`serving.ledger.chain.compute_entry_hash`).
As in Certificate Transparency (RFC 9162, section 2.1):

- ``MTH({}) = SHA-256()``;
- ``MTH({d}) = SHA-256(0x00 || d)`` (a leaf);
- ``MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))`` with ``k`` the largest
  power of two smaller than ``n`` (a node).

The 0x00 / 0x01 prefixes keep a leaf from ever being read as a node. Proofs are lists
of 32-byte hashes; the verifiers here follow RFC 9162 sections 2.1.3.2 and 2.1.4.2 and
need nothing but the proof, the sizes and the hashes (``tools/verify_receipt.py`` holds
a copy that imports no Docket code).

:class:`MerkleTree` keeps the hash of every complete, aligned power-of-two subtree it
has computed, so after the first root every further root, inclusion proof or
consistency proof over the same leaves costs O(log^2 n) hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

__all__ = [
    "EMPTY_ROOT",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """The tree over a list of leaf data (each the 32 bytes of an entry hash).

    Parameters
    ----------
    leaves : sequence of bytes
        Leaf data in order; more can be appended with :meth:`append`.

    Examples
    --------
    >>> tree = MerkleTree([bytes(32), bytes([1]) * 32, bytes([2]) * 32])
    >>> proof = tree.inclusion_proof(1, 3)
    >>> verify_inclusion(bytes([1]) * 32, 1, 3, proof, tree.root(3))
    True
    """

    def __init__(self, leaves: Sequence[bytes] = ()) -> None:
        self._leaves: list[bytes] = []
        # hash of the complete subtree of 2**level leaves starting at start: (start, level)
        self._complete: dict[tuple[int, int], bytes] = {}
        for data in leaves:
            self.append(data)

    def __len__(self) -> int:
        return len(self._leaves)

    def append(self, data: bytes) -> int:
        """Add a leaf; returns its index."""
        if len(data) != 32:
            raise ValueError(f"a leaf is the 32 bytes of an entry hash; got {len(data)} bytes")
        self._leaves.append(data)
        return len(self._leaves) - 1

    def _mth(self, start: int, n: int) -> bytes:
        """MTH of leaves ``start .. start + n``."""
        if n == 0:
            return EMPTY_ROOT
        if n == 1:
            return leaf_hash(self._leaves[start])
        complete = n & (n - 1) == 0 and start % n == 0
        key = (start, n.bit_length() - 1)
        if complete and key in self._complete:
            return self._complete[key]
        k = _split(n)
        value = node_hash(self._mth(start, k), self._mth(start + k, n - k))
        if complete:
            self._complete[key] = value
        return value

    def _check_size(self, size: int) -> None:
        if not 0 <= size <= len(self._leaves):
            raise ValueError(f"tree size must be in [0, {len(self._leaves)}]; got {size}")

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (default: all)."""
        size = len(self._leaves) if size is None else size
        self._check_size(size)
        return self._mth(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """RFC 9162 ``PATH(index, D[size])``: the audit path of leaf ``index``."""
        size = len(self._leaves) if size is None else size
        self._check_size(size)
        if not 0 <= index < size:
            raise ValueError(f"leaf index must be in [0, {size}); got {index}")
        return self._path(index, 0, size)

    def _path(self, m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return [*self._path(m, start, k), self._mth(start + k, n - k)]
        return [*self._path(m - k, start + k, n - k), self._mth(start, k)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 9162 ``PROOF(old_size, D[new_size])``: the old tree is a prefix of the new one."""
        new_size = len(self._leaves) if new_size is None else new_size
        self._check_size(new_size)
        if not 0 < old_size <= new_size:
            raise ValueError(f"old size must be in [1, {new_size}]; got {old_size}")
        return self._subproof(old_size, 0, new_size, True)

    def _subproof(self, m: int, start: int, n: int, whole: bool) -> list[bytes]:
        if m == n:
            return [] if whole else [self._mth(start, n)]
        k = _split(n)
        if m <= k:
            return [*self._subproof(m, start, k, whole), self._mth(start + k, n - k)]
        return [*self._subproof(m - k, start + k, n - k, False), self._mth(start, k)]


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> bytes:
    """The root a leaf and its audit path lead to (RFC 9162 section 2.1.3.2).

    Raises ``ValueError`` when the proof has the wrong length for ``index`` and ``size``.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index must be in [0, {size}); got {index}")
    fn, sn = index, size - 1
    r = leaf_hash(leaf)
    for p in proof:
        if sn == 0:
            raise ValueError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("the inclusion proof is shorter than the tree is deep")
    return r


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``leaf`` is leaf ``index`` of the tree of ``size`` leaves with ``root``."""
    try:
        return root_from_inclusion(leaf, index, size, proof) == root
    except ValueError:
        return False


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """Whether the tree of ``old_size`` leaves is a prefix of the one of ``new_size`` leaves.

    RFC 9162 section 2.1.4.2.
    """
    if not 0 < old_size <= new_size:
        return False
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # a power of two: the old root starts the path
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
