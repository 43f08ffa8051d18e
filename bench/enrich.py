"""bench/enrich: the local provider on ../shared/data/bbc-news (1,249 labelled articles).

    python -m bench.enrich [--repeats 3] [--queries 200]

- throughput: every local task (summary, keywords, topic, entities, sentiment, embedding) per article;
- zero-shot topic accuracy: the `news` taxonomy (hand-written seed terms per section, no training on
  any split) against the labels;
- retrieval: for each of 200 articles, a query made of the first 12 words of its middle sentence; a hit
  when the article (or a word-for-word copy of it: the corpus has some) is among the top 5 documents.
  `dwc search` itself runs: the articles go into a DuckDB warehouse, are chunked (256 tokens),
  embedded and BM25-indexed by the assets' functions, and queried in each mode (hybrid, semantic,
  keyword), beside a TF-IDF nearest-neighbour baseline over whole articles.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
BBC = Path(os.environ.get("DWC_SHARED_DATA") or ROOT.parent / "shared" / "data") / "bbc-news" / "bbc-text.csv"


def build_search_warehouse(texts: list[str]):
    import duckdb

    from dwc_pipelines.enrichment.schema import DDL as AI_DDL
    from dwc_pipelines.enrichment.search import embed_chunks, index_chunk_terms
    from dwc_pipelines.ingestion.derive import build_chunks
    from dwc_pipelines.ingestion.schema import DDL as DOCS_DDL

    con = duckdb.connect()
    con.execute(DOCS_DDL)
    con.execute(AI_DDL)
    rows = [
        (
            str(i),
            f"bbc/{i}.txt",
            hashlib.sha256(t.encode()).hexdigest(),
            t.split(".")[0][:80],
            t,
            1,
            "active",
            True,
            "bench",
        )
        for i, t in enumerate(texts)
    ]
    con.executemany(
        """INSERT INTO docs.documents (doc_id, source_path, content_hash, title, text, version, status,
                       is_current, ingested_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?)""",
        rows,
    )
    quiet = lambda *_: None  # noqa: E731
    t0 = time.perf_counter()
    build_chunks(con, "bench", log=quiet)
    embed_chunks(con, "bench", log=quiet)
    index_chunk_terms(con, "bench", log=quiet)
    n_chunks = con.execute("SELECT count(*) FROM docs.chunks").fetchall()[0][0]
    return con, n_chunks, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer

    from dwc_pipelines.enrichment.search import MODES, search
    from dwc_resources.ai_local import NEWS_TAXONOMY, classify, sentences
    from dwc_resources.ai_providers import LocalProvider

    with open(BBC, newline="") as fh:
        rows = list(csv.DictReader(fh))
    labels, texts = [r["category"] for r in rows], [r["text"] for r in rows]

    times = []
    for _ in range(args.repeats):
        provider = LocalProvider(taxonomy="news")
        t0 = time.perf_counter()
        for i in range(0, len(texts), 200):
            provider.enrich(texts[i : i + 200])
        times.append(time.perf_counter() - t0)
    docs_per_s = len(texts) / statistics.median(times)

    predicted = [classify(t, NEWS_TAXONOMY)[0] for t in texts]
    accuracy = sum(p == y for p, y in zip(predicted, labels)) / len(labels)

    rnd = random.Random(42)
    picks = rnd.sample(range(len(texts)), args.queries)
    queries = []
    for i in picks:
        sents = sentences(texts[i]) or [texts[i]]
        words = sents[len(sents) // 2].split() if len(sents) > 1 else texts[i].split()[40:]
        queries.append(" ".join(words[:12]))

    # Retrieval through the real `dwc search` path: the articles as documents in a DuckDB
    # warehouse, chunked, embedded and indexed by the assets' own functions, queried by search().
    con, n_chunks, index_seconds = build_search_warehouse(texts)
    search_hits, search_seconds = {}, {}
    for mode in MODES:
        t0 = time.perf_counter()
        found = 0
        for query, doc in zip(queries, picks):
            # BBC News repeats some articles word for word: the same text under another id is the same article.
            found += texts[doc] in [texts[int(h[5])] for h in search(con, query, k=5, mode=mode)]
        search_hits[mode] = found / len(picks)
        search_seconds[mode] = (time.perf_counter() - t0) / len(picks)
    con.close()

    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    dm = tfidf.fit_transform(texts)
    bq = tfidf.transform(queries)
    bsims = (bq @ dm.T).toarray()
    base_hits = sum(texts[doc] in [texts[j] for j in np.argsort(-bsims[qi])[:5]] for qi, doc in enumerate(picks))

    result = {
        "local_docs_per_s": round(docs_per_s, 1),
        "zero_shot_accuracy": round(accuracy, 4),
        "search_top5_hit_rate": round(search_hits["hybrid"], 4),
        "semantic_search_top5_hit_rate": round(search_hits["semantic"], 4),
        "keyword_search_top5_hit_rate": round(search_hits["keyword"], 4),
        "search_ms_per_query": {m: round(v * 1000, 2) for m, v in search_seconds.items()},
        "index_seconds": round(index_seconds, 2),
        "baseline_search_top5_hit_rate": round(base_hits / len(picks), 4),
        "articles": len(texts),
        "queries": len(picks),
        "chunks": n_chunks,
        **run_context("enrich", args.repeats),
    }
    table = [
        "| measure | DWC local provider | TF-IDF baseline |",
        "|---|---:|---:|",
        f"| throughput, all local tasks (docs/s, median of {args.repeats}) | {docs_per_s:,.0f} | |",
        f"| zero-shot topic accuracy (5 sections, no training) | {accuracy:.3f} | |",
        f"| `dwc search` (hybrid): source article in top 5 ({len(picks)} queries) | {search_hits['hybrid']:.3f} | "
        f"{base_hits / len(picks):.3f} |",
        f"| `dwc search --mode semantic` (hashed embeddings) | {search_hits['semantic']:.3f} | |",
        f"| `dwc search --mode keyword` (BM25 in SQL) | {search_hits['keyword']:.3f} | |",
        f"| search latency, ms per query (hybrid / semantic / keyword) | "
        f"{' / '.join(f'{search_seconds[m] * 1000:.1f}' for m in MODES)} | |",
    ]
    write_results("enrich", result, f"BBC News, {len(texts)} articles.", table)


if __name__ == "__main__":
    main()
