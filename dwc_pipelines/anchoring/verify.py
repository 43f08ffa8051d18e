"""Portable proofs and their verification: anyone with the file, the proof and an RPC endpoint can check it.

The proof format (`dwc-proof/1`, JSON, in the spirit of Chainpoint):

    {
      "format": "dwc-proof/1",
      "content_hash": "<sha256 of the file's bytes, hex>",
      "doc_id": "<DWC's id of the source, informative>",
      "tree": {"hash": "sha256", "leaf": "sha256(0x00 || content_hash)", "node": "sha256(0x01 || left || right)",
               "leaf_index": 3, "document_count": 60},
      "path": [{"right": "<hex>"}, {"left": "<hex>"}, ...],     # siblings from the leaf up
      "merkle_root": "<hex>",
      "batch_id": "<hex>",
      "anchor": {"type": "evm", "network": "embedded", "chain_id": 31337, "contract": "0x…",
                 "call": "anchorOf(bytes32) -> (blockNumber, timestamp, documentCount)",
                 "tx_hash": "0x…", "block_number": 12, "block_timestamp": "2026-12-02T06:40:07Z"}
    }

To verify by hand: hash the file with sha256; fold the path (`left` sibling: H(0x01||sibling||current),
`right`: H(0x01||current||sibling)) starting from H(0x00||content_hash); compare with merkle_root; call
anchorOf(merkle_root) on the contract: a non-zero block number is the anchor.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

from dwc_resources.chain import artifact

from . import merkle
from .ledger import TREE

FORMAT = "dwc-proof/1"


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _iso(ts: datetime) -> str:
    return ts.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def export(row: dict, doc_id: str | None = None) -> dict:
    """A `chain.proofs` row (as a dict) as a portable proof."""
    return {
        "format": FORMAT,
        "content_hash": row["content_hash"],
        "doc_id": doc_id,
        "tree": {
            "hash": "sha256",
            "leaf": "sha256(0x00 || content_hash)",
            "node": "sha256(0x01 || left || right)",
            "rules": TREE,
            "leaf_index": row["leaf_index"],
            "document_count": row["document_count"],
        },
        "path": json.loads(row["proof"]) if isinstance(row["proof"], str) else row["proof"],
        "merkle_root": row["root"],
        "batch_id": row["batch_id"],
        "anchor": {
            "type": "evm",
            "network": row["network"],
            "chain_id": int(row["chain_id"]),
            "contract": row["contract"],
            "call": "anchorOf(bytes32) -> (blockNumber, timestamp, documentCount)",
            "tx_hash": row["tx_hash"],
            "block_number": int(row["block_number"]),
            "block_timestamp": _iso(row["block_timestamp"]),
        },
    }


@dataclass
class Verdict:
    ok: bool
    reasons: list[str] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


def check_offline(content_hash: str, proof: dict) -> Verdict:
    """What can be checked without a chain: the format, the file's hash, the Merkle path."""
    if not isinstance(proof, dict) or proof.get("format") != FORMAT:
        return Verdict(
            False,
            [
                f"not a {FORMAT} proof (format: {proof.get('format') if isinstance(proof, dict) else type(proof).__name__})"
            ],
        )
    for key in ("content_hash", "path", "merkle_root", "anchor"):
        if key not in proof:
            return Verdict(False, [f"the proof has no '{key}'"])
    claimed = str(proof["content_hash"]).lower().removeprefix("0x")
    if claimed != content_hash:
        return Verdict(
            False,
            [
                f"the file does not match the proof: its sha256 is {content_hash}, the proof is for "
                f"{claimed} (the file was modified, or this is another file's proof)"
            ],
        )
    if not isinstance(proof["path"], list) or not merkle.verify(content_hash, proof["path"], proof["merkle_root"]):
        return Verdict(
            False,
            [
                f"the Merkle path does not lead from the file's hash to the root {proof['merkle_root']}: "
                "the proof is forged or corrupt"
            ],
        )
    return Verdict(True, facts={"content_hash": content_hash, "root": proof["merkle_root"]})


def check_on_chain(proof: dict, net) -> Verdict:
    """Is the proof's root anchored on `net`, in the contract and block the proof names?"""
    anchor = proof["anchor"]
    if int(anchor.get("chain_id", -1)) != net.chain_id:
        return Verdict(
            False,
            [f"the proof names chain id {anchor.get('chain_id')}, the node for {net.name} answers {net.chain_id}"],
        )
    address = str(anchor.get("contract") or "")
    if not net.w3.is_address(address) or len(net.w3.eth.get_code(net.w3.to_checksum_address(address))) == 0:
        return Verdict(
            False, [f"no registry contract at {address or '(none)'} on {net.name} (chain id {net.chain_id})"]
        )
    registry = net.w3.eth.contract(address=net.w3.to_checksum_address(address), abi=artifact("AnchorRegistry")["abi"])
    block, stamp, count = registry.functions.anchorOf(bytes.fromhex(proof["merkle_root"].removeprefix("0x"))).call()
    if block == 0:
        return Verdict(
            False,
            [
                f"the root {proof['merkle_root']} is not anchored in {registry.address} on {net.name} "
                f"(chain id {net.chain_id})"
            ],
        )
    reasons = []
    if anchor.get("block_number") is not None and int(anchor["block_number"]) != block:
        reasons.append(f"the proof says block {anchor['block_number']}, the chain says {block}")
    when = datetime.fromtimestamp(stamp, UTC)
    return Verdict(
        not reasons,
        reasons,
        {
            "network": net.name,
            "chain_id": net.chain_id,
            "contract": registry.address,
            "block_number": block,
            "anchored_at": when.isoformat().replace("+00:00", "Z"),
            "document_count": count,
            "tx_hash": anchor.get("tx_hash"),
            "explorer": net.explorer_link(anchor["tx_hash"]) if anchor.get("tx_hash") else None,
        },
    )
