import json

import dagster as dg

from dwc_resources import LakehouseResource
from dwc_resources.chain import ChainResource

from . import merkle
from .assets import PROOFS


@dg.asset_check(
    asset=PROOFS, blocking=True, description="Every stored Merkle path leads from its content hash to its root"
)
def proofs_verify(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    bad, checked = [], 0
    with warehouse.reader() as con:
        for content_hash, root, proof, network in con.execute(
            "SELECT content_hash, root, proof, network FROM chain.proofs"
        ).fetchall():
            checked += 1
            if not merkle.verify(content_hash, json.loads(proof), root):
                bad.append(f"{network}:{content_hash[:16]}")
    return dg.AssetCheckResult(
        passed=not bad, metadata={"checked": checked, "failing": len(bad), "sample": str(bad[:5])}
    )


@dg.asset_check(
    asset=PROOFS,
    blocking=True,
    description="Every anchored batch's root is held by the registry on its chain, with its document count",
)
def roots_on_chain(warehouse: LakehouseResource, chain: ChainResource) -> dg.AssetCheckResult:
    with warehouse.reader() as con:
        batches = con.execute(
            "SELECT network, root, document_count, block_number FROM chain.batches "
            "WHERE status = 'anchored' ORDER BY network"
        ).fetchall()
    missing, checked = [], 0
    for name in sorted({b[0] for b in batches} & set(chain.names())):
        with chain.network(name, read_only=True) as net:
            for _network, root, count, block in (b for b in batches if b[0] == name):
                checked += 1
                on_block, _, on_count = net.anchor_of(root)
                if on_block != block or on_count != count:
                    missing.append(f"{name}:{root[:16]} (chain says block {on_block}, {on_count} documents)")
    return dg.AssetCheckResult(
        passed=not missing, metadata={"checked": checked, "not_on_chain": len(missing), "sample": str(missing[:5])}
    )


@dg.asset_check(
    asset=PROOFS, blocking=False, description="No batch is left pending (a transaction whose fate is unknown)"
)
def no_pending_batches(warehouse: LakehouseResource) -> dg.AssetCheckResult:
    with warehouse.reader() as con:
        pending = con.execute("SELECT count(*) FROM chain.batches WHERE status = 'planned'").fetchall()[0][0]
    return dg.AssetCheckResult(passed=pending == 0, severity=dg.AssetCheckSeverity.WARN, metadata={"pending": pending})


anchoring_checks = [proofs_verify, roots_on_chain, no_pending_batches]
