"""Merkle trees, inclusion and consistency proofs as specified in RFC 9162 section 2.1 (pure, stdlib only).

Leaves are the canonical bytes of registry entries. ``leaf_hash`` and ``node_hash`` use the RFC's 0x00 and
0x01 domain-separation prefixes, so a leaf can never be passed off as an inner node.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()


def root_from_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) from the leaves' hashes; pairing bottom-up and carrying an odd last node up unchanged
    yields exactly the RFC's left-balanced tree."""
    if not hashes:
        return EMPTY_ROOT
    level = list(hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) for leaf ``index`` of the tree over ``hashes``."""
    if not 0 <= index < len(hashes):
        raise ValueError(f"leaf index {index} outside a tree of size {len(hashes)}")
    return _path(index, hashes)


def _path(index: int, hashes: Sequence[bytes]) -> list[bytes]:
    n = len(hashes)
    if n == 1:
        return []
    k = _split(n)
    if index < k:
        return [*_path(index, hashes[:k]), root_from_leaf_hashes(hashes[k:])]
    return [*_path(index - k, hashes[k:]), root_from_leaf_hashes(hashes[:k])]


def consistency_proof(first_size: int, hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(m, D[n]): shows the tree of the first ``first_size`` leaves is a prefix of the whole tree."""
    if not 0 < first_size <= len(hashes):
        raise ValueError(f"first size {first_size} must be in 1..{len(hashes)}")
    return _subproof(first_size, hashes, True)


def _subproof(m: int, hashes: Sequence[bytes], whole_subtree: bool) -> list[bytes]:
    n = len(hashes)
    if m == n:
        return [] if whole_subtree else [root_from_leaf_hashes(hashes)]
    k = _split(n)
    if m <= k:
        return [*_subproof(m, hashes[:k], whole_subtree), root_from_leaf_hashes(hashes[k:])]
    return [*_subproof(m - k, hashes[k:], False), root_from_leaf_hashes(hashes[:k])]


def verify_inclusion(leaf: bytes, index: int, tree_size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does ``leaf`` (a leaf hash) sit at ``index`` in the tree with ``root``?"""
    if index >= tree_size or index < 0:
        return False
    fn, sn, result = index, tree_size - 1, leaf
    for sibling in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            result = node_hash(sibling, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and result == root


def verify_consistency(
    first_size: int, second_size: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 2.1.4.2: is the tree of ``first_size`` leaves a prefix of the tree of ``second_size``?"""
    if first_size <= 0 or first_size > second_size:
        return False
    if first_size == second_size:
        return not proof and first_root == second_root
    path = list(proof)
    if first_size & (first_size - 1) == 0:  # a power of two: the old root is itself a node of the new tree
        path.insert(0, first_root)
    if not path:
        return False
    fn, sn = first_size - 1, second_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first_result = second_result = path[0]
    for node in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            first_result = node_hash(node, first_result)
            second_result = node_hash(node, second_result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second_result = node_hash(second_result, node)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and first_result == first_root and second_result == second_root
