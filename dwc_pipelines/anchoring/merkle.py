"""Merkle trees over document content hashes, with domain separation (pure Python).

leaf = sha256(0x00 || content_hash), node = sha256(0x01 || left || right), as in RFC 6962: a leaf
can never be taken for an inner node, so no proof can pass an inner node off as a document (the
second-preimage trick). Leaves are the distinct content hashes in ascending order, so the same set
of documents always gives the same root. A node without a sibling moves up unchanged (no
duplication, which would let two different batches share a root).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

LEAF, NODE = b"\x00", b"\x01"


def _bytes32(value: str | bytes) -> bytes:
    raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else value
    if len(raw) != 32:
        raise ValueError(f"a content hash is 32 bytes (64 hex digits), not {len(raw)}")
    return raw


def leaf_hash(content_hash: str | bytes) -> bytes:
    return hashlib.sha256(LEAF + _bytes32(content_hash)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(NODE + left + right).digest()


@dataclass(frozen=True)
class Step:
    side: str  # "left" | "right": where the sibling sits
    hash: str  # hex, no 0x

    def as_dict(self) -> dict:
        return {self.side: self.hash}


@dataclass
class Tree:
    leaves: list[str]  # content hashes (hex), sorted and distinct
    levels: list[list[bytes]]  # levels[0]: leaf hashes; levels[-1]: [root]
    _index: dict | None = None

    @property
    def root(self) -> str:
        return self.levels[-1][0].hex()

    def index_of(self, content_hash: str) -> int:
        if self._index is None:
            self._index = {h: i for i, h in enumerate(self.leaves)}
        return self._index[content_hash.lower().removeprefix("0x")]

    def proof(self, content_hash: str) -> list[Step]:
        return self.proof_at(self.index_of(content_hash))

    def proof_at(self, index: int) -> list[Step]:
        steps = []
        for level in self.levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                steps.append(Step("left" if sibling < index else "right", level[sibling].hex()))
            index //= 2
        return steps


def build(content_hashes) -> Tree:
    leaves = sorted({h.lower().removeprefix("0x") for h in content_hashes})
    if not leaves:
        raise ValueError("a Merkle tree needs at least one content hash")
    level = [leaf_hash(h) for h in leaves]
    levels = [level]
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) if i + 1 < len(level) else level[i] for i in range(0, len(level), 2)]
        levels.append(level)
    return Tree(leaves, levels)


def verify(content_hash: str | bytes, proof: list, root: str | bytes) -> bool:
    """Does `proof` (Steps or {"left"|"right": hex} dicts) lead from the content hash to `root`?"""
    try:
        current = leaf_hash(content_hash)
        for step in proof:
            side, value = (step.side, step.hash) if isinstance(step, Step) else next(iter(step.items()))
            sibling = _bytes32(value)
            if side == "left":
                current = node_hash(sibling, current)
            elif side == "right":
                current = node_hash(current, sibling)
            else:
                return False
        return current == _bytes32(root)
    except (ValueError, StopIteration, AttributeError, TypeError):
        return False


def batch_id(chain_id: int, root: str) -> str:
    """Deterministic per chain and batch content: a retry after a crash names the same batch."""
    return hashlib.sha256(b"dwc-batch-v1\x00" + chain_id.to_bytes(32, "big") + _bytes32(root)).hexdigest()
