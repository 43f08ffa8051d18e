"""Exactly-once anchoring: plan, sign and record, send, confirm, each step committed before the next.

The warehouse is the ledger. A batch is planned (members, root, deterministic batch id) and
committed before anything is signed; a transaction is signed and its raw bytes committed before it
is sent; the proofs are written with the receipt. Whatever step a crash or an RPC failure
interrupts, the next run picks up from the last commit:

- planned, never signed: sign now (the batch is the same one: its members were committed);
- signed, unknown fate: a receipt settles it; else, if the chain already holds the root (anchored by
  a transaction we lost track of), that anchor is recorded; else, if the sender's nonce moved past
  ours, the signed bytes can never be mined and the batch is signed again; else the very same bytes
  are sent again (same hash, same nonce: a node mines them at most once);
- and the registry refuses a root it holds, the last guard against a double anchor.

Pure Python over a DuckDB connection and a `dwc_resources.chain.Network`; no Dagster here.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa

from dwc_resources.chain import hex0x as _0x
from dwc_resources.duck import insert_arrow, transaction

from ..shared import utcnow
from . import merkle

TREE = "sha256; leaf = H(0x00 || content_hash); node = H(0x01 || left || right); leaves sorted, distinct; odd node promoted"


def _ts(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)


class AnchorFailed(RuntimeError):
    pass


def unanchored(con, network: str, limit: int | None = None) -> list[str]:
    """Content hashes of accepted documents that have no proof and no planned batch on `network`."""
    sql = """
        SELECT d.content_hash FROM docs.documents d
        WHERE d.status = 'active' AND d.content_hash IS NOT NULL
          AND d.content_hash NOT IN (SELECT content_hash FROM chain.proofs WHERE network = $net)
          AND d.content_hash NOT IN (SELECT m.content_hash FROM chain.batch_members m JOIN chain.batches b
                                     USING (batch_id, network) WHERE b.network = $net AND b.status = 'planned')
        GROUP BY 1 ORDER BY min(d.ingested_at), 1"""
    rows = con.execute(sql + (f" LIMIT {int(limit)}" if limit else ""), {"net": network}).fetchall()
    return [r[0] for r in rows]


def manifest(network: str, chain_id: int, root: str, count: int) -> tuple[str, str]:
    """The batch's metadata as canonical JSON, and its sha256 (what the Anchored event carries)."""
    body = json.dumps(
        {
            "format": "dwc-anchor-manifest/1",
            "batch_id": merkle.batch_id(chain_id, root),
            "network": network,
            "chain_id": chain_id,
            "root": root,
            "document_count": count,
            "tree": TREE,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return body, hashlib.sha256(body.encode()).hexdigest()


def plan(con, network: str, chain_id: int, max_batch: int, run_id: str, log=print) -> list[str]:
    """Group the unanchored documents into batches of at most `max_batch`; commit them. Returns their ids."""
    hashes = unanchored(con, network)
    ids = []
    for start in range(0, len(hashes), max_batch):
        group = hashes[start : start + max_batch]
        tree = merkle.build(group)
        bid = merkle.batch_id(chain_id, tree.root)
        body, digest = manifest(network, chain_id, tree.root, len(tree.leaves))
        with transaction(con):
            if con.execute("SELECT 1 FROM chain.batches WHERE batch_id = ? AND network = ?", [bid, network]).fetchall():
                continue  # the same set again (a re-plan after a crash between batches)
            con.execute(
                "INSERT INTO chain.batches (batch_id, network, chain_id, root, document_count, manifest, "
                "manifest_hash, status, planned_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?)",
                [bid, network, chain_id, tree.root, len(tree.leaves), body, digest, utcnow(), run_id],
            )
            insert_arrow(
                con,
                "chain.batch_members",
                pa.table(
                    {
                        "batch_id": [bid] * len(tree.leaves),
                        "network": [network] * len(tree.leaves),
                        "content_hash": tree.leaves,
                        "leaf_index": list(range(len(tree.leaves))),
                    }
                ),
            )
        ids.append(bid)
        log(f"{network}: planned batch {bid[:12]} of {len(tree.leaves)} documents, root {tree.root[:16]}…")
    return ids


def _latest_tx(con, intent_id: str, network: str):
    row = con.execute(
        """SELECT tx_hash, nonce, raw_tx, status FROM chain.transactions WHERE intent_id = ? AND network = ?
           AND status IN ('signed', 'mined') ORDER BY created_at DESC LIMIT 1""",
        [intent_id, network],
    ).fetchall()
    return row[0] if row else None


def _set_tx(con, tx_hash: str, network: str, status: str, block=None, gas=None, error=None):
    con.execute(
        "UPDATE chain.transactions SET status = ?, block_number = coalesce(?, block_number), "
        "gas_used = coalesce(?, gas_used), error = ?, updated_at = ? WHERE tx_hash = ? AND network = ?",
        [status, block, gas, error, utcnow(), tx_hash, network],
    )


def _next_nonce(con, net) -> int:
    # A signed transaction that no node has seen yet still holds its nonce.
    held = con.execute(
        "SELECT max(nonce) FROM chain.transactions WHERE network = ? AND sender = ? AND status = 'signed'",
        [net.name, net.address],
    ).fetchall()[0][0]
    return max(net.nonce("pending"), -1 if held is None else int(held) + 1)


def send_once(
    con,
    net,
    intent_id: str,
    kind: str,
    contract: str,
    sign: Callable[[int], object],
    done: Callable[[], object],
    run_id: str,
    log=print,
) -> dict | None:
    """Make the effect of `sign(nonce)`'s transaction to `contract` happen once. `done()` reports the effect
    when the chain already has it (by any transaction). Returns the receipt (or {"tx_hash": ...} when the
    effect came from elsewhere), or None while the transaction is still pending."""
    prior = _latest_tx(con, intent_id, net.name)
    if prior is not None:
        tx_hash, nonce, raw, status = prior
        receipt = net.receipt(tx_hash)
        if receipt is not None:
            return receipt
        effect = done()
        if effect:
            with transaction(con):
                _set_tx(con, tx_hash, net.name, "dropped", error="the chain holds the effect from another transaction")
            return effect
        if net.nonce("latest") > nonce:
            log(
                f"{net.name}: {tx_hash} can no longer be mined (nonce {nonce} was used by another transaction); signing again"
            )
            with transaction(con):
                _set_tx(con, tx_hash, net.name, "dropped", error=f"nonce {nonce} used by another transaction")
        else:
            log(f"{net.name}: re-sending {tx_hash} (nonce {nonce}), whose fate the last run did not learn")
            net.broadcast(raw)
            return net.wait(tx_hash, net.config.receipt_timeout_s)
    else:
        effect = done()
        if effect:
            return effect
    net.contract(contract)  # deployed first where allowed, so the deployment's nonce comes before ours
    signed = sign(_next_nonce(con, net))
    now = utcnow()
    with transaction(con):
        con.execute(
            "INSERT INTO chain.transactions VALUES (?, ?, ?, ?, 'signed', ?, ?, ?, ?, NULL, NULL, NULL, ?, ?, ?)",
            [
                intent_id,
                net.name,
                net.chain_id,
                kind,
                signed.tx_hash,
                signed.nonce,
                net.address,
                signed.raw,
                now,
                now,
                run_id,
            ],
        )
    net.broadcast(signed.raw)
    log(f"{net.name}: sent {kind} {signed.tx_hash} (nonce {signed.nonce})")
    return net.wait(signed.tx_hash, net.config.receipt_timeout_s)


def anchor_batch(con, net, batch_id: str, run_id: str, log=print) -> dict:
    """Anchor one planned batch exactly once and write its proofs. Returns what happened."""
    bid, root, count, digest = con.execute(
        "SELECT batch_id, root, document_count, manifest_hash FROM chain.batches WHERE batch_id = ? AND network = ?",
        [batch_id, net.name],
    ).fetchall()[0]
    members = [
        r[0]
        for r in con.execute(
            "SELECT content_hash FROM chain.batch_members WHERE batch_id = ? AND network = ? ORDER BY leaf_index",
            [bid, net.name],
        ).fetchall()
    ]
    tree = merkle.build(members)
    if tree.root != root:
        raise AnchorFailed(f"batch {bid}: its members give root {tree.root}, the plan says {root}")

    def done():
        block, _, _ = net.anchor_of(root)
        return {"tx_hash": net.anchor_tx_of(root, block), "status": 1, "blockNumber": block} if block else None

    receipt = send_once(
        con,
        net,
        f"anchor:{bid}",
        "anchor",
        "AnchorRegistry",
        lambda nonce: net.sign_anchor(root, count, digest, nonce),
        done,
        run_id,
        log,
    )
    if receipt is None:
        log(f"{net.name}: batch {bid[:12]} is still pending; the next run settles it")
        return {"batch_id": bid, "status": "pending"}
    if receipt.get("status") != 1:
        with transaction(con):
            _set_tx(
                con,
                _0x(receipt["transactionHash"]),
                net.name,
                "reverted",
                receipt["blockNumber"],
                receipt.get("gasUsed"),
                "the registry reverted the anchor",
            )
        if not done():
            raise AnchorFailed(f"{net.name}: the anchor of batch {bid} reverted (tx {_0x(receipt['transactionHash'])})")
        receipt = done()
    block, stamp, on_chain_count = net.anchor_of(root)
    if not block:
        raise AnchorFailed(f"{net.name}: receipt says mined, but the registry has no anchor for root {root}")
    tx_hash = _0x(receipt.get("transactionHash") or receipt["tx_hash"])
    contract = net.contract("AnchorRegistry", deploy=False).address
    when, now = _ts(stamp), utcnow()
    proofs = [json.dumps([s.as_dict() for s in tree.proof_at(i)]) for i in range(len(tree.leaves))]
    n = len(tree.leaves)
    rows = pa.table(
        {
            "content_hash": tree.leaves,
            "network": [net.name] * n,
            "chain_id": pa.array([net.chain_id] * n, pa.uint64()),
            "batch_id": [bid] * n,
            "root": [root] * n,
            "leaf_index": pa.array(range(n), pa.int32()),
            "document_count": pa.array([n] * n, pa.int32()),
            "proof": proofs,
            "contract": [contract] * n,
            "tx_hash": [tx_hash] * n,
            "block_number": pa.array([block] * n, pa.uint64()),
            "block_timestamp": pa.array([when] * n, pa.timestamp("us")),
            "anchored_at": pa.array([now] * n, pa.timestamp("us")),
            "run_id": [run_id] * n,
        }
    )
    with transaction(con):
        con.execute("DELETE FROM chain.proofs WHERE batch_id = ? AND network = ?", [bid, net.name])
        insert_arrow(con, "chain.proofs", rows)
        con.execute(
            """UPDATE chain.batches SET status = 'anchored', contract = ?, tx_hash = ?, block_number = ?,
                       block_timestamp = ?, gas_used = ?, anchored_at = ? WHERE batch_id = ? AND network = ?""",
            [contract, tx_hash, block, when, receipt.get("gasUsed"), now, bid, net.name],
        )
        _set_tx(con, tx_hash, net.name, "mined", block, receipt.get("gasUsed"))
    log(f"{net.name}: batch {bid[:12]} ({n} documents) anchored in block {block}, tx {tx_hash}")
    return {
        "batch_id": bid,
        "status": "anchored",
        "tx_hash": tx_hash,
        "block_number": block,
        "gas_used": receipt.get("gasUsed"),
        "documents": n,
        "on_chain_count": on_chain_count,
    }


def anchor_pending(con, net, run_id: str, max_batch: int = 10_000, log=print) -> list[dict]:
    """Settle every planned batch on this network (oldest first), after planning the new documents."""
    plan(con, net.name, net.chain_id, max_batch, run_id, log)
    planned = [
        r[0]
        for r in con.execute(
            "SELECT batch_id FROM chain.batches WHERE network = ? AND status = 'planned' ORDER BY planned_at, batch_id",
            [net.name],
        ).fetchall()
    ]
    return [anchor_batch(con, net, bid, run_id, log) for bid in planned]
