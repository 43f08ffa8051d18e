"""AI enrichment (issue 3, in progress): documents -> summaries, keywords, topics, entities, sentiment, embeddings."""

import dagster as dg

from .assets import chunk_embeddings, chunk_terms, document_enrichment

defs = dg.Definitions(assets=[document_enrichment, chunk_embeddings, chunk_terms])
