from datetime import timedelta

import dagster as dg
from pydantic import Field

from dwc_resources import AIResource, LakehouseResource
from dwc_resources.ai_providers import describe

from ..automation import eager
from ..ingestion.assets import CHUNKS, DOCUMENTS, OWNERS
from ..shared import markdown_table
from . import vector_index
from .enrich import enrich_documents
from .schema import DDL
from .search import embed_chunks, find_semantic_duplicates, index_chunk_terms

DOCUMENT_ENRICHMENT = dg.AssetKey(["ai", "document_enrichment"])
CHUNK_EMBEDDINGS = dg.AssetKey(["ai", "chunk_embeddings"])
CHUNK_TERMS = dg.AssetKey(["ai", "chunk_terms"])


class EnrichmentConfig(dg.Config):
    prompt_version: str = Field(default="v1", description="Part of the cache key: change it to redo the enrichment")
    taxonomy: str = Field(
        default="documents",
        description="Topic labels: a built-in taxonomy ('documents', 'news') or the path of a YAML file of labels",
    )
    use_descriptions: bool = Field(
        default=True, description="Zero-shot topics from label names and their one-line descriptions (else names only)"
    )


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
    provider = ai.provider(config.taxonomy, descriptions=config.use_descriptions)
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
def chunk_embeddings(
    context: dg.AssetExecutionContext, warehouse: LakehouseResource, ai: AIResource
) -> dg.MaterializeResult:
    """An embedding per chunk and the ANN index over them, for `dwc search`; only new chunks are computed."""
    embedder = ai.embedder()
    with warehouse.writer(DDL) as con:
        stats = embed_chunks(con, embedder, context.run.run_id, log=context.log.info)
        stats |= vector_index.update(
            con,
            vector_index.index_dir(warehouse.work_dir),
            embedder.model,
            context.log.info,
            run_id=context.run.run_id,
        )
        models = con.execute(
            "SELECT model, any_value(dim), count(*) FROM ai.chunk_embeddings GROUP BY 1 ORDER BY 1"
        ).fetchall()
    rows = sum(n for *_, n in models)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            **{k: v for k, v in stats.items() if v is not None},
            "models": dg.MetadataValue.md(markdown_table(["model", "dim", "chunks"], models)),
        }
    )


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


SEMANTIC_DUPLICATES = dg.AssetKey(["ai", "semantic_duplicates"])


class SemanticDuplicatesConfig(dg.Config):
    threshold: float = Field(
        default=0.85,
        description="Cosine of two documents' embeddings at or above which they are near-duplicates by meaning "
        "(WordLlama: a one-sentence paraphrase scores about 0.8, two articles on one topic 0.5-0.6)",
    )


@dg.asset(
    key=SEMANTIC_DUPLICATES,
    deps=[DOCUMENT_ENRICHMENT],
    group_name="enrichment",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    automation_condition=eager(),
)
def semantic_duplicates(
    context: dg.AssetExecutionContext, config: SemanticDuplicatesConfig, warehouse: LakehouseResource, ai: AIResource
) -> dg.MaterializeResult:
    """Pairs of current documents that say the same in other words (paraphrases), beside MinHash twins."""
    model = ai.embedder().model
    with warehouse.writer(DDL) as con:
        stats = find_semantic_duplicates(con, model, config.threshold, context.run.run_id)
        preview = con.execute(
            """SELECT coalesce(a.title, a.source_path), coalesce(b.title, b.source_path), s.similarity, s.minhash_twin
               FROM ai.semantic_duplicates s
               JOIN docs.documents a ON a.doc_id = s.doc_id AND a.is_current
               JOIN docs.documents b ON b.doc_id = s.twin_doc_id AND b.is_current
               ORDER BY s.similarity DESC LIMIT 10"""
        ).fetchall()
    context.log.info(f"{stats['pairs']} near-duplicate pairs by meaning among {stats['documents']} documents")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": stats["pairs"],
            **stats,
            "preview": dg.MetadataValue.md(markdown_table(["document", "twin", "cosine", "also MinHash"], preview)),
        }
    )
