"""Incremental document enrichment over a DuckDB connection (plain Python, no Dagster).

Only content without a row for (content_hash, provider, model, prompt_version) is sent to the
provider, so re-materialising unchanged documents costs no provider call, and changing the
prompt version redoes exactly the content it affects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Protocol

import pyarrow as pa

from dwc_resources.duck import insert_arrow, stream_rows, transaction

from . import local
from .local import EMBEDDING_DIM


class Provider(Protocol):
    name: str
    model: str
    calls: int

    def enrich(self, texts: list[str]) -> list[dict]: ...


@dataclass
class LocalProvider:
    """The embedded default: offline, deterministic, no download."""

    taxonomy: str = "documents"
    places: tuple[str, ...] = ()
    name: str = "local"
    calls: int = 0

    @property
    def model(self) -> str:
        # The taxonomy decides the topics, so it is part of the cache key.
        return f"{local.PROVIDER_VERSION}/{self.taxonomy}"

    def enrich(self, texts: list[str]) -> list[dict]:
        self.calls += 1
        vectors = local.embed(texts)
        topics = local.TAXONOMIES[self.taxonomy]
        out = []
        for text, vec in zip(texts, vectors):
            topic, scores = local.classify(text, topics)
            out.append({
                "summary": local.summarize(text), "keywords": local.keywords(text), "topic": topic,
                "topic_scores": json.dumps(scores), "entities": json.dumps(local.entities(text, self.places)),
                "sentiment": local.sentiment(text), "embedding": vec.tolist(), "status": "ok", "error": None,
            })
        return out


_SCHEMA = pa.schema([
    ("content_hash", pa.string()), ("provider", pa.string()), ("model", pa.string()), ("prompt_version", pa.string()),
    ("summary", pa.string()), ("keywords", pa.list_(pa.string())), ("topic", pa.string()),
    ("topic_scores", pa.string()), ("entities", pa.string()), ("sentiment", pa.float64()),
    ("embedding", pa.list_(pa.float32(), EMBEDDING_DIM)), ("status", pa.string()), ("error", pa.string()),
    ("enriched_at", pa.timestamp("us")), ("run_id", pa.string()),
])


def enrich_documents(con, provider: Provider, prompt_version: str, run_id: str, batch_size: int = 200,
                     log: Callable[[str], None] = print) -> dict:
    """Enrich every distinct current content not yet enriched under this cache key; one transaction."""
    key = [provider.name, provider.model, prompt_version]
    pending = """FROM (SELECT content_hash, any_value(text) AS text FROM docs.documents
                       WHERE is_current AND status = 'active' GROUP BY content_hash) d
                 WHERE NOT EXISTS (SELECT 1 FROM ai.document_enrichment e WHERE e.content_hash = d.content_hash
                                   AND e.provider = ? AND e.model = ? AND e.prompt_version = ?)"""
    total = con.execute(f"SELECT count(*) {pending}", key).fetchall()[0][0]
    current = con.execute(
        "SELECT count(DISTINCT content_hash) FROM docs.documents WHERE is_current AND status = 'active'"
    ).fetchall()[0][0]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    done = 0
    with transaction(con):
        for rows in stream_rows(con, f"SELECT content_hash, text {pending}", key, batch_size):
            results = provider.enrich([text for _, text in rows])
            cols = {name: [] for name in _SCHEMA.names}
            for (content_hash, _), r in zip(rows, results):
                for name, value in (("content_hash", content_hash), ("provider", key[0]), ("model", key[1]),
                                    ("prompt_version", key[2]), ("enriched_at", now), ("run_id", run_id), *r.items()):
                    cols[name].append(value)
            insert_arrow(con, "ai.document_enrichment", pa.table(cols, schema=_SCHEMA))
            done += len(rows)
            log(f"enriched {done:,}/{total:,} distinct contents")
    return {"enriched": done, "cache_hits": current - done, "provider_calls": provider.calls,
            "provider": key[0], "model": key[1], "prompt_version": key[2]}
