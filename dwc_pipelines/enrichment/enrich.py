"""Incremental document enrichment over a DuckDB connection (plain Python, no Dagster).

Only content without a row for (content_hash, provider, model, prompt_version) is sent to the
provider, so re-materialising unchanged documents costs no provider call, and changing the
prompt version redoes exactly the content it affects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pyarrow as pa

from dwc_resources.ai_providers import Provider
from dwc_resources.duck import insert_arrow, stream_rows, transaction

_SCHEMA = pa.schema(
    [
        ("content_hash", pa.string()),
        ("provider", pa.string()),
        ("model", pa.string()),
        ("prompt_version", pa.string()),
        ("summary", pa.string()),
        ("keywords", pa.list_(pa.string())),
        ("topic", pa.string()),
        ("topic_scores", pa.string()),
        ("entities", pa.string()),
        ("sentiment", pa.float64()),
        ("embedding", pa.list_(pa.float32())),
        ("status", pa.string()),
        ("error", pa.string()),
        ("enriched_at", pa.timestamp("us")),
        ("run_id", pa.string()),
        ("embedding_model", pa.string()),
        ("embedding_dim", pa.int32()),
    ]
)


def enrich_documents(
    con, provider: Provider, prompt_version: str, run_id: str, batch_size: int = 200, log: Callable[[str], None] = print
) -> dict:
    """Enrich every distinct current content not yet enriched under this cache key; one transaction."""
    key = [provider.name, provider.model, prompt_version]
    pending = """FROM (SELECT content_hash, any_value(text) AS text FROM docs.documents
                       WHERE is_current AND status = 'active' GROUP BY content_hash) d
                 WHERE NOT EXISTS (SELECT 1 FROM ai.document_enrichment e WHERE e.content_hash = d.content_hash
                                   AND e.provider = ? AND e.model = ? AND e.prompt_version = ?
                                   AND e.status = 'ok')"""
    total = con.execute(f"SELECT count(*) {pending}", key).fetchall()[0][0]
    current = con.execute(
        "SELECT count(DISTINCT content_hash) FROM docs.documents WHERE is_current AND status = 'active'"
    ).fetchall()[0][0]
    now = datetime.now(UTC).replace(tzinfo=None)
    done = failures = 0
    with transaction(con):
        # Failed or skipped answers are asked again: their rows make way for the new ones.
        con.execute(
            """DELETE FROM ai.document_enrichment WHERE status <> 'ok'
                       AND provider = ? AND model = ? AND prompt_version = ?""",
            key,
        )
        for rows in stream_rows(con, f"SELECT content_hash, text {pending}", key, batch_size):
            results = provider.enrich([text for _, text in rows])
            cols = {name: [] for name in _SCHEMA.names}
            for (content_hash, _), r in zip(rows, results):
                for name, value in (
                    ("content_hash", content_hash),
                    ("provider", key[0]),
                    ("model", key[1]),
                    ("prompt_version", key[2]),
                    ("enriched_at", now),
                    ("run_id", run_id),
                    *r.items(),
                ):
                    cols[name].append(value)
            insert_arrow(con, "ai.document_enrichment", pa.table(cols, schema=_SCHEMA))
            done += len(rows)
            failures += sum(r["status"] != "ok" for r in results)
            log(f"enriched {done:,}/{total:,} distinct contents")
    return {
        "enriched": done,
        "cache_hits": current - done,
        "failed": failures,
        "provider_calls": provider.usage().get("calls", 0),
        "provider": key[0],
        "model": key[1],
        "prompt_version": key[2],
    }
