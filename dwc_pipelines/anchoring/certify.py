"""Certificate NFTs: one ERC-721 token per anchored document content, minted exactly once.

The mint goes through the same ledger as anchors (signed bytes committed before sending, settled on
the next run), and the contract refuses a second token for the same content hash.
"""

from __future__ import annotations

import json

from dwc_resources.chain import hex0x
from dwc_resources.duck import transaction

from ..shared import utcnow
from .ledger import _set_tx, send_once


def request(
    con, network: str, chain_id: int, content_hash: str, doc_id: str | None, requested_by: str, run_id: str
) -> str | None:
    """Record the request (idempotent). Returns why it cannot be served, or None."""
    proof = con.execute(
        "SELECT root FROM chain.proofs WHERE content_hash = ? AND network = ?", [content_hash, network]
    ).fetchall()
    if not proof:
        return f"not anchored on {network} yet: materialise chain/proofs first"
    with transaction(con):
        if not con.execute(
            "SELECT 1 FROM chain.certificates WHERE content_hash = ? AND network = ?", [content_hash, network]
        ).fetchall():
            con.execute(
                """INSERT INTO chain.certificates (content_hash, network, chain_id, doc_id, root, status,
                           requested_by, requested_at, run_id) VALUES (?, ?, ?, ?, ?, 'requested', ?, ?, ?)""",
                [content_hash, network, chain_id, doc_id, proof[0][0], requested_by, utcnow(), run_id],
            )
    return None


def mint(con, net, content_hash: str, run_id: str, to: str | None = None, log=print) -> dict:
    """Mint the requested certificate of `content_hash` on `net` once; returns the row's outcome."""
    row = con.execute(
        """SELECT c.doc_id, c.root, c.status, c.token_id, p.batch_id FROM chain.certificates c
                         JOIN chain.proofs p USING (content_hash, network) WHERE c.content_hash = ? AND c.network = ?""",
        [content_hash, net.name],
    ).fetchall()
    if not row:
        return {"status": "failed", "error": f"no certificate request for {content_hash} on {net.name}"}
    doc_id, root, status, token_id, batch_id = row[0]
    if status == "minted":
        return {"status": "ok", "token_id": token_id, "network": net.name}
    metadata = json.dumps(
        {"doc_id": doc_id, "batch_id": batch_id, "network": net.name, "chain_id": net.chain_id},
        sort_keys=True,
        separators=(",", ":"),
    )

    def done():
        tid = net.token_of(content_hash)
        return {"status": 1, "tx_hash": None, "blockNumber": None} if tid else None

    receipt = send_once(
        con,
        net,
        f"certify:{net.name}:{content_hash}",
        "certify",
        "DwcCertificate",
        lambda nonce: net.sign_certify(to, content_hash, root, metadata, nonce),
        done,
        run_id,
        log,
    )
    if receipt is None:
        return {"status": "pending", "error": "transaction pending; the next run settles it"}
    token_id = net.token_of(content_hash)
    if not token_id:
        return {
            "status": "failed",
            "error": f"the certificate contract reverted (tx {hex0x(receipt['transactionHash'])})",
        }
    cert = net.contract("DwcCertificate", deploy=False)
    owner = cert.functions.ownerOf(token_id).call()
    tx_hash = hex0x(receipt["transactionHash"]) if "transactionHash" in receipt else None  # None: minted elsewhere
    with transaction(con):
        con.execute(
            """UPDATE chain.certificates SET status = 'minted', token_id = ?, owner_address = ?, contract = ?,
                       tx_hash = coalesce(?, tx_hash), block_number = coalesce(?, block_number), minted_at = ?
                       WHERE content_hash = ? AND network = ?""",
            [token_id, owner, cert.address, tx_hash, receipt.get("blockNumber"), utcnow(), content_hash, net.name],
        )
        if tx_hash:
            _set_tx(con, tx_hash, net.name, "mined", receipt.get("blockNumber"), receipt.get("gasUsed"))
    log(f"{net.name}: certificate #{token_id} for {content_hash[:16]}… minted to {owner}")
    return {"status": "ok", "token_id": token_id, "network": net.name, "tx_hash": tx_hash}


def certify_many(
    con, net, items: list[tuple[str, str | None]], requested_by: str, run_id: str, to: str | None = None, log=print
) -> dict[str, dict]:
    """Request and mint a certificate for each (content_hash, doc_id); outcome per content hash."""
    out = {}
    for content_hash, doc_id in items:
        why = request(con, net.name, net.chain_id, content_hash, doc_id, requested_by, run_id)
        out[content_hash] = {"status": "failed", "error": why} if why else mint(con, net, content_hash, run_id, to, log)
    return out
