"""AI enrichment: documents -> summaries, keywords, topics, entities, sentiment, embeddings."""

import dagster as dg

from .assets import chunk_embeddings, chunk_terms, document_enrichment, semantic_duplicates

enrich_job = dg.define_asset_job(
    "enrich_job",
    selection=dg.AssetSelection.assets(document_enrichment, chunk_embeddings, chunk_terms, semantic_duplicates),
    description="Enrich the current documents and index their chunks (what the automation sensor does eagerly).",
)

defs = dg.Definitions(
    assets=[document_enrichment, chunk_embeddings, chunk_terms, semantic_duplicates], jobs=[enrich_job]
)
