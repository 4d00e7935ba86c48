"""What a regulator runs: verify an entry against a published root with nothing but the proof.

Standard library only (with :mod:`canonical`, :mod:`model` and :mod:`merkle`, which are too), so it can be
used without Corridor's database or services. A proof bundle is plain JSON::

    {"entry": {...seven fields and "hash"...}, "leaf_index": 41, "tree_size": 100,
     "inclusion_proof": ["hex", ...], "root": "hex"}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corridor.registry.merkle import leaf_hash, verify_consistency, verify_inclusion
from corridor.registry.model import entry_bytes_from_dict, hash_entry_bytes


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    reason: str


def verify_entry_inclusion(
    entry: dict[str, Any], leaf_index: int, tree_size: int, proof_hex: list[str], root_hex: str
) -> Verdict:
    """Is ``entry`` unaltered, and is it leaf ``leaf_index`` of the tree whose root is ``root_hex``?"""
    data = entry_bytes_from_dict(entry)
    if "hash" in entry and hash_entry_bytes(data) != entry["hash"]:
        return Verdict(False, "entry hash does not match its content")
    if entry.get("seq") != leaf_index + 1:
        return Verdict(False, "entry seq does not match the leaf index (seq = index + 1)")
    proof = [bytes.fromhex(item) for item in proof_hex]
    if not verify_inclusion(leaf_hash(data), leaf_index, tree_size, proof, bytes.fromhex(root_hex)):
        return Verdict(False, "inclusion proof does not lead to the root")
    return Verdict(True, "entry is included in the tree")


def verify_bundle(bundle: dict[str, Any]) -> Verdict:
    return verify_entry_inclusion(
        bundle["entry"], bundle["leaf_index"], bundle["tree_size"], bundle["inclusion_proof"], bundle["root"]
    )


def verify_tree_consistency(
    first_size: int, first_root_hex: str, second_size: int, second_root_hex: str, proof_hex: list[str]
) -> Verdict:
    """Is the later published tree an append-only extension of the earlier one?"""
    proof = [bytes.fromhex(item) for item in proof_hex]
    if verify_consistency(
        first_size, second_size, bytes.fromhex(first_root_hex), bytes.fromhex(second_root_hex), proof
    ):
        return Verdict(True, "the second tree extends the first")
    return Verdict(False, "consistency proof does not hold: history was rewritten or the proof is wrong")
