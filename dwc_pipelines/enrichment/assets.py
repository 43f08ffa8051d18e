from datetime import timedelta

import dagster as dg
from pydantic import Field

from dwc_resources import AIResource, LakehouseResource
from dwc_resources.ai_providers import describe

from ..automation import eager
from ..ingestion.assets import CHUNKS, DOCUMENTS, OWNERS
from ..shared import markdown_table
from .enrich import enrich_documents
from .schema import DDL
from .search import embed_chunks, index_chunk_terms

DOCUMENT_ENRICHMENT = dg.AssetKey(["ai", "document_enrichment"])
CHUNK_EMBEDDINGS = dg.AssetKey(["ai", "chunk_embeddings"])
CHUNK_TERMS = dg.AssetKey(["ai", "chunk_terms"])


class EnrichmentConfig(dg.Config):
    prompt_version: str = Field(default="v1", description="Part of the cache key: change it to redo the enrichment")
    taxonomy: str = Field(default="documents", description="Built-in topic taxonomy: 'documents' or 'news'")


@dg.asset(
    key=DOCUMENT_ENRICHMENT,
    deps=[DOCUMENTS],
    group_name="enrichment",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    automation_condition=eager(),
    # Searches and chains read it: a day without enrichment deserves a look, two an alert.
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=24)),
)
def document_enrichment(
    context: dg.AssetExecutionContext, config: EnrichmentConfig, warehouse: LakehouseResource, ai: AIResource
) -> dg.MaterializeResult:
    """Summary, keywords, topic, entities, sentiment and embedding of every current document's content."""
    provider = ai.provider(config.taxonomy)
    with warehouse.writer(DDL) as con:
        stats = enrich_documents(con, provider, config.prompt_version, context.run.run_id, log=context.log.info)
        total = con.execute("SELECT count(*) FROM ai.document_enrichment").fetchall()[0][0]
        topics = con.execute(
            """SELECT e.topic, count(*) FROM docs.documents d JOIN ai.document_enrichment e USING (content_hash)
               WHERE d.is_current AND d.status = 'active' AND e.provider = ? AND e.model = ? AND e.prompt_version = ?
               GROUP BY 1 ORDER BY 2 DESC, 1""",
            [stats["provider"], stats["model"], stats["prompt_version"]],
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            **stats,
            **describe(provider),
            "topics": dg.MetadataValue.md(markdown_table(["topic", "documents"], topics)),
        }
    )


@dg.asset(
    key=CHUNK_EMBEDDINGS,
    deps=[CHUNKS],
    group_name="enrichment",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    automation_condition=eager(),
)
def chunk_embeddings(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
    """An embedding per chunk, for `dwc search`; only chunks not embedded before are computed."""
    with warehouse.writer(DDL) as con:
        stats = embed_chunks(con, context.run.run_id, log=context.log.info)
        total = con.execute("SELECT count(*) FROM ai.chunk_embeddings").fetchall()[0][0]
    return dg.MaterializeResult(metadata={"dagster/row_count": total, **stats})


@dg.asset(
    key=CHUNK_TERMS,
    deps=[CHUNKS],
    group_name="enrichment",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    automation_condition=eager(),
)
def chunk_terms(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
    """The BM25 keyword index of the chunks, the other half of hybrid `dwc search`."""
    with warehouse.writer(DDL) as con:
        stats = index_chunk_terms(con, context.run.run_id, log=context.log.info)
        terms, chunks = con.execute(
            "SELECT count(DISTINCT term), count(DISTINCT chunk_id) FROM ai.chunk_terms"
        ).fetchall()[0]
    return dg.MaterializeResult(metadata={"dagster/row_count": chunks, "distinct_terms": terms, **stats})
