"""RFC 9162 Merkle trees against a direct transcription of the RFC's recursive definitions."""

from __future__ import annotations

import hashlib

from hypothesis import given, settings
from hypothesis import strategies as st

from corridor.registry.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_from_leaf_hashes,
    verify_consistency,
    verify_inclusion,
)


def reference_mth(leaves: list[bytes]) -> bytes:
    """MTH(D[n]) exactly as RFC 9162 section 2.1.1 writes it, over leaf data."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:])).digest()


def data(n: int) -> list[bytes]:
    return [f"entry {i}".encode() for i in range(n)]


def test_empty_tree_root_is_hash_of_nothing() -> None:
    assert root_from_leaf_hashes([]) == EMPTY_ROOT == reference_mth([])


def test_known_root_of_rfc_style_seven_leaf_tree_matches_reference() -> None:
    leaves = data(7)
    assert root_from_leaf_hashes([leaf_hash(x) for x in leaves]) == reference_mth(leaves)


@given(st.integers(min_value=1, max_value=70))
def test_root_matches_the_rfc_definition(n: int) -> None:
    leaves = data(n)
    assert root_from_leaf_hashes([leaf_hash(x) for x in leaves]) == reference_mth(leaves)


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_every_inclusion_proof_verifies_and_a_wrong_leaf_fails(n: int, choice: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in data(n)]
    root = root_from_leaf_hashes(hashes)
    index = choice.draw(st.integers(min_value=0, max_value=n - 1))
    proof = inclusion_proof(index, hashes)
    assert verify_inclusion(hashes[index], index, n, proof, root)
    assert not verify_inclusion(leaf_hash(b"forged"), index, n, proof, root)
    if n > 1:
        other = (index + 1) % n
        assert not verify_inclusion(hashes[index], other, n, proof, root)


@settings(max_examples=60)
@given(st.integers(min_value=1, max_value=40), st.data())
def test_consistency_proofs_verify_and_rewritten_history_fails(n: int, choice: st.DataObject) -> None:
    hashes = [leaf_hash(x) for x in data(n)]
    m = choice.draw(st.integers(min_value=1, max_value=n))
    proof = consistency_proof(m, hashes)
    old_root, new_root = root_from_leaf_hashes(hashes[:m]), root_from_leaf_hashes(hashes)
    assert verify_consistency(m, n, old_root, new_root, proof)
    rewritten = list(hashes)
    rewritten[choice.draw(st.integers(min_value=0, max_value=m - 1))] = leaf_hash(b"rewritten")
    forged_old_root = root_from_leaf_hashes(rewritten[:m])
    assert not verify_consistency(m, n, forged_old_root, new_root, proof)
    if m < n:
        assert not verify_consistency(m, n, old_root, root_from_leaf_hashes(rewritten), proof)


def test_proof_with_a_flipped_node_fails() -> None:
    hashes = [leaf_hash(x) for x in data(13)]
    root = root_from_leaf_hashes(hashes)
    proof = inclusion_proof(5, hashes)
    broken = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    assert verify_inclusion(hashes[5], 5, 13, proof, root)
    assert not verify_inclusion(hashes[5], 5, 13, broken, root)


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    # A leaf whose data equals two child hashes must not hash like the inner node over them.
    left, right = leaf_hash(b"a"), leaf_hash(b"b")
    assert leaf_hash(left + right) != root_from_leaf_hashes([left, right])
