"""bench/enrich: semantic search, zero-shot topics and embedding speed on ../shared/data/bbc-news.

    python -m bench.enrich [--repeats 3] [--ann-chunks 1000000]

Honesty rules (issue 23):
- Queries are never copied from their target. Title queries: each article's headline (its text up to
  the first double space) against a corpus of the article bodies with the headline removed. Paraphrase
  queries: bench/data/bbc_paraphrase_queries.tsv, written by hand, checked here to share no run of four
  words with the target.
- The corpus's 1,249 articles are split once (seed 0) into a dev half and a scored half. The relevance
  cutoff is chosen on dev title queries and the 25 calibration no-hit queries; the zero-shot "unknown"
  percentile was chosen on the dev half with label names only. Every figure below is on the scored half
  (title queries, zero-shot) or on query sets that were not used for choosing anything.
- Peers run in the same process on the same chunks: BM25 alone (`dwc search --mode keyword`), TF-IDF
  cosine over whole bodies, and the old hashed vectors (alone and fused with BM25).
- `search_p95_ms_1m_chunks` and `index_build_s_1m`: an ANN index of 1M synthetic chunk vectors (mixtures of
  two real BBC chunk vectors plus noise, so they cluster like text does), queried with the scored title
  queries' vectors.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
BBC = Path(os.environ.get("DWC_SHARED_DATA") or ROOT.parent / "shared" / "data") / "bbc-news" / "bbc-text.csv"
DATA = ROOT / "bench" / "data"
LABELS = ["business", "entertainment", "politics", "sport", "tech"]


def load_bbc():
    with open(BBC, newline="") as fh:
        rows = list(csv.DictReader(fh))
    titles, bodies = [], []
    for r in rows:
        title, _, body = r["text"].partition("  ")
        titles.append(title.strip())
        bodies.append(body.strip() or r["text"])
    order = list(range(len(rows)))
    random.Random(0).shuffle(order)
    half = len(order) // 2
    return [r["category"] for r in rows], [r["text"] for r in rows], titles, bodies, order[:half], order[half:]


def read_lines(path: Path) -> list[str]:
    return [line.rstrip("\n") for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def no_hit_queries() -> tuple[list[str], list[str]]:
    lines = DATA.joinpath("no_hit_queries.txt").read_text().splitlines()
    cut = lines.index("# --- scored")
    keep = lambda part: [x for x in part if x.strip() and not x.startswith("#")]  # noqa: E731
    return keep(lines[:cut]), keep(lines[cut:])


def paraphrases(texts: list[str]) -> list[tuple[int, str]]:
    out = []
    for line in read_lines(DATA / "bbc_paraphrase_queries.tsv"):
        i, query = line.split("\t")
        words, target = query.lower().replace(",", " ").replace("'", " ").split(), texts[int(i)].split()
        target_grams = {tuple(target[j : j + 4]) for j in range(len(target) - 3)}
        copied = [g for g in (tuple(words[j : j + 4]) for j in range(len(words) - 3)) if g in target_grams]
        if copied:
            raise SystemExit(f"paraphrase query for article {i} copies {' '.join(copied[0])!r} from it")
        out.append((int(i), query))
    return out


def build_search_warehouse(bodies: list[str], embedders, index_root: str):
    import duckdb

    from dwc_pipelines.enrichment import vector_index
    from dwc_pipelines.enrichment.schema import DDL as AI_DDL
    from dwc_pipelines.enrichment.search import embed_chunks, index_chunk_terms
    from dwc_pipelines.ingestion.derive import build_chunks
    from dwc_pipelines.ingestion.schema import DDL as DOCS_DDL

    con = duckdb.connect()
    con.execute(DOCS_DDL)
    con.execute(AI_DDL)
    rows = [
        (str(i), f"bbc/{i}.txt", hashlib.sha256(t.encode()).hexdigest(), None, t, 1, "active", True, "bench")
        for i, t in enumerate(bodies)
    ]
    con.executemany(
        """INSERT INTO docs.documents (doc_id, source_path, content_hash, title, text, version, status,
                       is_current, ingested_at, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, now(), ?)""",
        rows,
    )
    quiet = lambda *_: None  # noqa: E731
    build_chunks(con, "bench", log=quiet)
    index_chunk_terms(con, "bench", log=quiet)
    stats = {}
    for embedder in embedders:
        t0 = time.perf_counter()
        stats[embedder.model] = embed_chunks(con, embedder, "bench", log=quiet)
        stats[embedder.model]["wall_s"] = time.perf_counter() - t0
        vector_index.update(con, index_root, embedder.model, log=quiet)
    n_chunks = con.execute("SELECT count(*) FROM docs.chunks").fetchall()[0][0]
    return con, n_chunks, stats


def rank_of(found_texts: list[str], target: str) -> int | None:
    """1-based rank of the target; BBC repeats some articles word for word, and a copy counts as it."""
    for r, t in enumerate(found_texts, 1):
        if t == target:
            return r
    return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ann-chunks", type=int, default=1_000_000)
    args = ap.parse_args()
    from sklearn.feature_extraction.text import TfidfVectorizer

    from dwc_pipelines.enrichment import vector_index
    from dwc_pipelines.enrichment.search import search
    from dwc_resources.ai_providers import LocalProvider, load_taxonomy
    from dwc_resources.embedding import HashedEmbedder, StaticEmbedder
    from dwc_resources.semantic import ZeroShot

    labels, texts, titles, bodies, dev, scored = load_bbc()
    calibration_nohit, scored_nohit = no_hit_queries()
    para = paraphrases(texts)
    static, hashed = StaticEmbedder(), HashedEmbedder()

    # -- embedding speed: a fresh embedder (empty word cache) over every chunk, through embed_chunks;
    # loading the model files (once per process) is timed apart.
    from dwc_resources.embedding import _wordllama_files

    t0 = time.perf_counter()
    _wordllama_files()
    model_load_s = time.perf_counter() - t0
    index_root = tempfile.mkdtemp(prefix="dwc-bench-index-")
    con, n_chunks, embed_stats = build_search_warehouse(bodies, [static, hashed], index_root)
    embed_chunks_per_s = embed_stats[static.model]["chunks_per_s"]
    chunk_texts = [r[0] for r in con.execute("SELECT text FROM docs.chunks ORDER BY chunk_id").fetchall()]
    warm = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        static.embed(chunk_texts)
        warm.append(time.perf_counter() - t0)
    embed_warm_per_s = len(chunk_texts) / statistics.median(warm)

    def run(query: str, k: int, **kw) -> list[str]:
        return [bodies[int(h.doc_id)] for h in search(con, query, k=k, **kw)]

    configs = {
        "hybrid": dict(mode="hybrid", embedder=static, index_folder=index_root),
        "hybrid_no_cutoff": dict(mode="hybrid", embedder=static, index_folder=index_root, min_similarity=None),
        "semantic": dict(mode="semantic", embedder=static, index_folder=index_root, min_similarity=None),
        "bm25": dict(mode="keyword", embedder=static, min_similarity=None),
        "hashed_semantic": dict(mode="semantic", embedder=hashed, min_similarity=None),
        "hashed_hybrid": dict(mode="hybrid", embedder=hashed, min_similarity=None),
    }

    # -- relevance cutoff, chosen on dev title queries and the calibration no-hit queries only
    def best_similarity(query: str, target: str | None) -> float:
        hits = search(con, query, k=20, mode="hybrid", embedder=static, index_folder=index_root, min_similarity=None)
        sims = [h.similarity or -1.0 for h in hits if target is None or bodies[int(h.doc_id)] == target]
        return max(sims, default=-1.0)

    pos = np.array([best_similarity(titles[i], bodies[i]) for i in dev])
    neg = np.array([best_similarity(q, None) for q in calibration_nohit])
    grid = np.round(np.arange(0.0, 0.6, 0.01), 2)
    balanced = [((pos >= t).mean() + (neg < t).mean()) / 2 for t in grid]
    chosen_cutoff = float(grid[int(np.argmax(balanced))])

    # -- title queries on the scored half: MRR@10, with every config and with TF-IDF
    mrr, latency = {}, {}
    for name, kw in configs.items():
        for i in dev[:20]:  # warm-up: the first queries of a connection pay for DuckDB's caches
            run(titles[i], 10, **kw)
        ranks, times = [], []
        for i in scored:
            t0 = time.perf_counter()
            found = run(titles[i], 10, **kw)
            times.append(time.perf_counter() - t0)
            r = rank_of(found, bodies[i])
            ranks.append(1.0 / r if r else 0.0)
        mrr[name] = float(np.mean(ranks))
        latency[name] = float(np.percentile(times, 95) * 1000)
    tfidf = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    dm = tfidf.fit_transform(bodies)
    sims = (tfidf.transform([titles[i] for i in scored]) @ dm.T).toarray()
    tfidf_rr = []
    for qi, i in enumerate(scored):
        r = rank_of([bodies[j] for j in np.argsort(-sims[qi])[:10]], bodies[i])
        tfidf_rr.append(1.0 / r if r else 0.0)
    mrr["tfidf"] = float(np.mean(tfidf_rr))

    # -- paraphrase queries: recall@5
    recall = {}
    for name, kw in configs.items():
        recall[name] = float(np.mean([rank_of(run(q, 5, **kw), texts_body) is not None
                                      for (i, q), texts_body in zip(para, [bodies[i] for i, _ in para])]))  # fmt: skip
    psims = (tfidf.transform([q for _, q in para]) @ dm.T).toarray()
    recall["tfidf"] = float(
        np.mean(
            [
                rank_of([bodies[j] for j in np.argsort(-psims[qi])[:5]], bodies[i]) is not None
                for qi, (i, _) in enumerate(para)
            ]
        )  # fmt: skip
    )

    # -- no-hit queries (scored set): share that return nothing with the shipped cutoff
    empty = float(np.mean([run(q, 5, **configs["hybrid"]) == [] for q in scored_nohit]))
    empty_calibration = float(np.mean([run(q, 5, **configs["hybrid"]) == [] for q in calibration_nohit]))

    # -- DuckDB's fts extension beside the BM25 SQL, same bodies' chunks, same scored title queries
    fts = fts_comparison(con, [titles[i] for i in scored])
    con.close()

    # -- zero-shot topics on the scored half: label names only, then with the shipped descriptions
    y = np.array([labels[i] for i in scored])
    zero_shot = {}
    for name, taxonomy in (
        ("names_only", {k: "" for k in LABELS}),
        ("with_descriptions", load_taxonomy("news", descriptions=True)),
    ):
        out = ZeroShot(static, taxonomy).classify([texts[i] for i in scored])
        pred = np.array([label for label, _ in out])
        zero_shot[name] = {"accuracy": float((pred == y).mean()), "unknown_rate": float((pred == "unknown").mean())}
    hashed_zero = ZeroShot(hashed, {k: "" for k in LABELS}).classify([texts[i] for i in scored])
    zero_shot["hashed_names_only"] = {
        "accuracy": float(np.mean([p == t for (p, _), t in zip(hashed_zero, y)])),
        "unknown_rate": float(np.mean([p == "unknown" for p, _ in hashed_zero])),
    }

    # -- whole local enrichment throughput (embedding, topic, summary, key phrases, entities, sentiment)
    times = []
    for _ in range(args.repeats):
        provider = LocalProvider(taxonomy="news", embedder=StaticEmbedder())
        t0 = time.perf_counter()
        for i in range(0, len(texts), 200):
            provider.enrich(texts[i : i + 200])
        times.append(time.perf_counter() - t0)
    docs_per_s = len(texts) / statistics.median(times)

    # -- ANN at 1M chunks
    ann = ann_benchmark(index_root, static, [titles[i] for i in scored], args.ann_chunks)

    result = {
        "title_query_mrr10": round(mrr["hybrid"], 4),
        "title_query_mrr10_bm25": round(mrr["bm25"], 4),
        "title_query_mrr10_tfidf": round(mrr["tfidf"], 4),
        "ratio_to_bm25": round(mrr["hybrid"] / mrr["bm25"], 4),
        "paraphrase_recall5": round(recall["hybrid"], 4),
        "paraphrase_recall5_bm25": round(recall["bm25"], 4),
        "zero_shot_names_only": round(zero_shot["names_only"]["accuracy"], 4),
        "zero_shot_with_descriptions": round(zero_shot["with_descriptions"]["accuracy"], 4),
        "unknown_rate": round(zero_shot["names_only"]["unknown_rate"], 4),
        "unknown_rate_with_descriptions": round(zero_shot["with_descriptions"]["unknown_rate"], 4),
        "embed_chunks_per_s": round(embed_chunks_per_s, 1),
        "embed_chunks_per_s_warm": round(embed_warm_per_s, 1),
        "model_load_s": round(model_load_s, 3),
        "search_p95_ms_1m_chunks": round(ann["p95_ms"], 3),
        "index_build_s_1m": round(ann["build_s"], 1),
        "ann_recall10_1m": round(ann["recall10"], 4),
        "ann_chunks": ann["chunks"],
        "no_hit_query_empty_rate": round(empty, 4),
        "no_hit_query_empty_rate_calibration": round(empty_calibration, 4),
        "min_similarity_chosen_on_dev": chosen_cutoff,
        "title_query_mrr10_all": {k: round(v, 4) for k, v in mrr.items()},
        "paraphrase_recall5_all": {k: round(v, 4) for k, v in recall.items()},
        "search_p95_ms_bbc": {k: round(v, 2) for k, v in latency.items()},
        "zero_shot": {k: {m: round(x, 4) for m, x in v.items()} for k, v in zero_shot.items()},
        "fts_vs_sql_bm25": fts,
        "local_docs_per_s": round(docs_per_s, 1),
        "articles": len(texts),
        "scored_title_queries": len(scored),
        "paraphrase_queries": len(para),
        "no_hit_queries_scored": len(scored_nohit),
        "chunks": n_chunks,
        "embedding_model": static.model,
        **run_context("enrich", args.repeats),
    }
    table = [
        "| measure (scored half / held-out query sets) | hybrid (WordLlama + BM25) | BM25 | TF-IDF | hashed vectors |",
        "|---|---:|---:|---:|---:|",
        f"| title queries, MRR@10 ({len(scored)}) | {mrr['hybrid']:.3f} | {mrr['bm25']:.3f} | {mrr['tfidf']:.3f} | "
        f"{mrr['hashed_semantic']:.3f} |",
        f"| paraphrase queries, recall@5 ({len(para)}) | {recall['hybrid']:.3f} | {recall['bm25']:.3f} | "
        f"{recall['tfidf']:.3f} | {recall['hashed_semantic']:.3f} |",
        f"| zero-shot, label names only (unknown rate) | {zero_shot['names_only']['accuracy']:.3f} "
        f"({zero_shot['names_only']['unknown_rate']:.3f}) | | | {zero_shot['hashed_names_only']['accuracy']:.3f} |",
        f"| zero-shot, names + descriptions (unknown rate) | {zero_shot['with_descriptions']['accuracy']:.3f} "
        f"({zero_shot['with_descriptions']['unknown_rate']:.3f}) | | | |",
        f"| no-hit queries returning nothing ({len(scored_nohit)}) | {empty:.3f} | | | |",
        f"| embedding, chunks/s (cold cache / warm) | {embed_chunks_per_s:,.0f} / {embed_warm_per_s:,.0f} | | | |",
        f"| ANN at {ann['chunks']:,} chunks: build s, p95 ms, recall@10 | {ann['build_s']:.0f}, {ann['p95_ms']:.2f}, "
        f"{ann['recall10']:.3f} | | | |",
        f"| search p95 ms on BBC ({n_chunks:,} chunks) | {latency['hybrid']:.1f} | {latency['bm25']:.1f} | | "
        f"{latency['hashed_semantic']:.1f} |",
        f"| BM25: DuckDB fts vs our SQL, p95 ms | fts {fts['fts_p95_ms']:.1f} | sql {fts['sql_p95_ms']:.1f} | | |",
    ]
    write_results("enrich", result, f"BBC News, {len(texts)} articles, scored half {len(scored)}.", table)
    vector_index._open.clear()


def fts_comparison(con, queries: list[str]) -> dict:
    """DuckDB's fts (BM25 over a built index) against the BM25 SQL over our term tables."""
    import glob
    import importlib.util

    from dwc_pipelines.enrichment.search import keyword_ranking

    spec = importlib.util.find_spec("duckdb_extension_fts")
    if not spec:
        return {"skipped": "pip install duckdb-extension-fts (the bench extra)"}
    path = glob.glob(os.path.join(os.path.dirname(spec.origin), "extensions", "*", "*.duckdb_extension"))[0]
    con.execute(f"LOAD '{path}'")
    con.execute("CREATE TABLE fts_chunks AS SELECT DISTINCT chunk_id, text FROM docs.chunks")
    t0 = time.perf_counter()
    con.execute("PRAGMA create_fts_index('fts_chunks', 'chunk_id', 'text', stemmer='none', stopwords='english')")
    build = time.perf_counter() - t0
    fts_t, sql_t = [], []
    for q in queries:
        t0 = time.perf_counter()
        con.execute(
            "SELECT chunk_id, fts_main_fts_chunks.match_bm25(chunk_id, ?) AS s FROM fts_chunks "
            "WHERE s IS NOT NULL ORDER BY s DESC LIMIT 100",
            [q],
        ).fetchall()
        fts_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        keyword_ranking(con, q, 100)
        sql_t.append(time.perf_counter() - t0)
    return {
        "fts_index_build_s": round(build, 3),
        "fts_p95_ms": round(float(np.percentile(fts_t, 95)) * 1000, 2),
        "sql_p95_ms": round(float(np.percentile(sql_t, 95)) * 1000, 2),
        "fts_median_ms": round(float(np.median(fts_t)) * 1000, 2),
        "sql_median_ms": round(float(np.median(sql_t)) * 1000, 2),
    }


def ann_benchmark(index_root: str, embedder, queries: list[str], n: int) -> dict:
    import duckdb

    from dwc_pipelines.enrichment import vector_index

    con = duckdb.connect()
    # The real chunk vectors of the run above are the seeds of the synthetic ones.
    seeds = vector_index.load(index_root, embedder.model)
    base = np.asarray([seeds.index[int(k)] for k in range(len(seeds.ids))], np.float32)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(base), n), rng.integers(0, len(base), n)
    w = rng.uniform(0.2, 0.8, (n, 1)).astype(np.float32)
    vectors = base[a] * w + base[b] * (1 - w) + rng.normal(0, 0.05, (n, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"synthetic-{i}" for i in range(n)]
    con.execute("CREATE SCHEMA ai")
    con.execute("CREATE TABLE ai.chunk_embeddings (chunk_id VARCHAR, model VARCHAR, embedding FLOAT[])")
    import pyarrow as pa

    con.register(
        "v",
        pa.table(
            {
                "chunk_id": ids,
                "model": [embedder.model] * n,
                "embedding": pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1]),
            }
        ),
    )
    con.execute("INSERT INTO ai.chunk_embeddings SELECT * FROM v")
    con.unregister("v")
    folder = tempfile.mkdtemp(prefix="dwc-bench-ann-")
    t0 = time.perf_counter()
    vector_index.update(con, folder, embedder.model, log=lambda *_: None)
    build = time.perf_counter() - t0
    con.close()
    index = vector_index.load(folder, embedder.model)
    qv = embedder.embed(queries)
    times, recall = [], []
    position = {c: i for i, c in enumerate(ids)}
    for q in qv:
        t0 = time.perf_counter()
        found = index.search(q, 10)
        times.append(time.perf_counter() - t0)
    for q in qv[:100]:
        exact = set(np.argsort(-(vectors @ q))[:10].tolist())
        recall.append(len(exact & {position[c] for c, _ in index.search(q, 10)}) / 10)
    del found
    return {
        "build_s": build,
        "p95_ms": float(np.percentile(times, 95) * 1000),
        "recall10": float(np.mean(recall)),
        "chunks": n,
    }


if __name__ == "__main__":
    main()
