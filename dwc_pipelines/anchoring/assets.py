import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.chain import ChainResource

from ..automation import eager
from ..ingestion.assets import DOCUMENTS, OWNERS
from ..ingestion.schema import DDL as DOCS_DDL
from ..shared import markdown_table
from . import certify, ledger
from .schema import DDL

PROOFS = dg.AssetKey(["chain", "proofs"])
CERTIFICATES = dg.AssetKey(["chain", "certificates"])


class AnchorConfig(dg.Config):
    max_batch: int = Field(default=10_000, description="Documents per batch (one transaction each) at most")


@dg.asset(
    key=PROOFS,
    deps=[DOCUMENTS],
    group_name="anchoring",
    kinds={"duckdb", "ethereum"},
    owners=OWNERS,
    automation_condition=eager(),
)
def proofs(
    context: dg.AssetExecutionContext, config: AnchorConfig, warehouse: LakehouseResource, chain: ChainResource
) -> dg.MaterializeResult:
    """Merkle proofs of every document's content hash, anchored one transaction per batch on each chain."""
    outcomes = []
    with warehouse.writer(f"{DOCS_DDL};{DDL}") as con:
        for name in chain.names():
            with chain.network(name) as net:
                context.log.info(f"{name}: chain id {net.chain_id}, signer {net.address}")
                for o in ledger.anchor_pending(con, net, context.run.run_id, config.max_batch, log=context.log.info):
                    outcomes.append({**o, "network": name})
        per_network = con.execute(
            """SELECT network, any_value(chain_id), count(*), count(DISTINCT batch_id), max(block_number)
               FROM chain.proofs GROUP BY 1 ORDER BY 1"""
        ).fetchall()
        pending = con.execute("SELECT count(*) FROM chain.batches WHERE status = 'planned'").fetchall()[0][0]
        unanchored = {n: len(ledger.unanchored(con, n)) for n in chain.names()}
        latest = con.execute(
            """SELECT network, left(batch_id, 12), document_count, gas_used, block_number, tx_hash FROM chain.batches
               WHERE status = 'anchored' ORDER BY anchored_at DESC LIMIT 10"""
        ).fetchall()
        total = con.execute("SELECT count(*) FROM chain.proofs").fetchall()[0][0]
    anchored = [o for o in outcomes if o["status"] == "anchored"]
    gas = [o["gas_used"] for o in anchored if o.get("gas_used")]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "batches_anchored_this_run": len(anchored),
            "documents_anchored_this_run": sum(o["documents"] for o in anchored),
            "batches_pending": pending,
            "gas_per_batch_max": max(gas) if gas else 0,
            "gas_per_document_this_run": round(sum(gas) / max(1, sum(o["documents"] for o in anchored)), 1)
            if gas
            else 0,
            "unanchored_documents": dg.MetadataValue.json(unanchored),
            "networks": dg.MetadataValue.md(
                markdown_table(["network", "chain id", "proofs", "batches", "latest block"], per_network)
            ),
            "latest_batches": dg.MetadataValue.md(
                markdown_table(["network", "batch", "documents", "gas", "block", "tx"], latest, 70)
            ),
        }
    )


class CertifyConfig(dg.Config):
    doc_ids: list[str] = Field(default_factory=list, description="Documents (current versions) to certify")
    content_hashes: list[str] = Field(default_factory=list, description="Or content hashes to certify")
    network: str | None = Field(default=None, description="Chain to mint on (default: the first configured)")
    recipient: str | None = Field(default=None, description="Address that receives the token (default: the signer)")


@dg.asset(
    key=CERTIFICATES,
    deps=[PROOFS],
    group_name="anchoring",
    kinds={"duckdb", "ethereum"},
    owners=OWNERS,
)
def certificates(
    context: dg.AssetExecutionContext, config: CertifyConfig, warehouse: LakehouseResource, chain: ChainResource
) -> dg.MaterializeResult:
    """ERC-721 certificates minted on request, one token per anchored document content."""
    network = config.network or chain.names()[0]
    with warehouse.writer(f"{DOCS_DDL};{DDL}") as con:
        items = [(h.lower().removeprefix("0x"), None) for h in config.content_hashes]
        if config.doc_ids:
            found = dict(
                con.execute(
                    "SELECT doc_id, content_hash FROM docs.documents WHERE is_current AND doc_id IN (SELECT unnest(?))",
                    [config.doc_ids],
                ).fetchall()
            )
            missing = sorted(set(config.doc_ids) - set(found))
            if missing:
                raise dg.Failure(f"no current document with doc_id {', '.join(missing)}")
            items += [(h, d) for d, h in found.items()]
        with chain.network(network) as net:
            outcome = certify.certify_many(
                con, net, items, f"run {context.run.run_id}", context.run.run_id, config.recipient, log=context.log.info
            )
        rows = con.execute(
            """SELECT network, token_id, left(content_hash, 16), doc_id, status, tx_hash FROM chain.certificates
               ORDER BY requested_at DESC LIMIT 10"""
        ).fetchall()
        total = con.execute("SELECT count(*) FROM chain.certificates WHERE status = 'minted'").fetchall()[0][0]
    failed = {h: o["error"] for h, o in outcome.items() if o["status"] != "ok"}
    if failed:
        raise dg.Failure(
            f"{len(failed)} certificate(s) not minted", metadata={"reasons": dg.MetadataValue.json(failed)}
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "minted_this_run": len(outcome),
            "token_ids": dg.MetadataValue.json({h: o["token_id"] for h, o in outcome.items()}),
            "latest": dg.MetadataValue.md(
                markdown_table(["network", "token", "content", "doc_id", "status", "tx"], rows, 70)
            ),
        }
    )


anchoring_assets = [proofs, certificates]
