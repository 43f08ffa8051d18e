"""bench/enrich: the local provider on ../shared/data/bbc-news (1,249 labelled articles).

    python -m bench.enrich [--repeats 3] [--queries 200]

- throughput: every local task (summary, keywords, topic, entities, sentiment, embedding) per article;
- zero-shot topic accuracy: the `news` taxonomy (hand-written seed terms per section, no training on
  any split) against the labels;
- retrieval: for each of 200 articles, a query made of the first 12 words of its middle sentence; a hit
  when the article is among the top 5 results. DWC search (chunks of 256 tokens, hashed embeddings,
  best chunk per article) beside a TF-IDF nearest-neighbour baseline over whole articles.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
BBC = Path(os.environ.get("DWC_SHARED_DATA") or ROOT.parent / "shared" / "data") / "bbc-news" / "bbc-text.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer

    from dwc_pipelines.enrichment.providers import LocalProvider
    from dwc_pipelines.enrichment.local import NEWS_TAXONOMY, classify, embed, sentences
    from dwc_pipelines.ingestion.chunking import chunk_text

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

    chunk_doc, chunk_texts = [], []
    for d, t in enumerate(texts):
        for ch in chunk_text(t, str(d)):
            chunk_doc.append(d)
            chunk_texts.append(ch.text)
    chunk_doc = np.array(chunk_doc)
    t0 = time.perf_counter()
    cv = embed(chunk_texts)
    qv = embed(queries)
    sims = qv @ cv.T
    hits = 0
    for qi, doc in enumerate(picks):
        order = np.argsort(-sims[qi])
        top_docs: list[int] = []
        for c in order:
            if chunk_doc[c] not in top_docs:
                top_docs.append(int(chunk_doc[c]))
            if len(top_docs) == 5:
                break
        hits += doc in top_docs
    search_seconds = time.perf_counter() - t0

    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    dm = tfidf.fit_transform(texts)
    bq = tfidf.transform(queries)
    bsims = (bq @ dm.T).toarray()
    base_hits = sum(doc in np.argsort(-bsims[qi])[:5] for qi, doc in enumerate(picks))

    result = {
        "local_docs_per_s": round(docs_per_s, 1),
        "zero_shot_accuracy": round(accuracy, 4),
        "search_top5_hit_rate": round(hits / len(picks), 4),
        "baseline_search_top5_hit_rate": round(base_hits / len(picks), 4),
        "articles": len(texts),
        "queries": len(picks),
        "chunks": len(chunk_texts),
        "search_seconds": round(search_seconds, 2),
        **run_context("enrich", args.repeats),
    }
    table = [
        "| measure | DWC local provider | TF-IDF baseline |", "|---|---:|---:|",
        f"| throughput, all local tasks (docs/s, median of {args.repeats}) | {docs_per_s:,.0f} | |",
        f"| zero-shot topic accuracy (5 sections, no training) | {accuracy:.3f} | |",
        f"| search: source article in top 5 ({len(picks)} queries) | {hits / len(picks):.3f} | "
        f"{base_hits / len(picks):.3f} |",
    ]
    write_results("enrich", result, f"BBC News, {len(texts)} articles.", table)


if __name__ == "__main__":
    main()
