"""bench/ingest: end-to-end ingestion throughput and memory beside a bare-Python baseline, and PDF
extraction quality against markitdown's expected output (the method of py-pdf/benchmarks).

    python -m bench.ingest [--sizes 10000,100000] [--repeats 3]

Each measurement runs in its own process; peak RSS is the largest sum of the resident memory of
that process and its children (the ingest job uses extraction workers), polled every 50 ms.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".work"
DOCS = Path(os.environ.get("DWC_SHARED_DATA") or ROOT.parent / "shared" / "data") / "documents"


def _read_corpus(corpus: str, sink=None):
    """Walk, read and sha256 every file into an Arrow table (path, content_hash, text, size);
    `sink`, when given, also receives each file's bytes."""
    import pyarrow as pa

    paths, hashes, texts, sizes = [], [], [], []
    for dirpath, _, names in os.walk(corpus):
        for name in names:
            if name.startswith("."):
                continue
            p = os.path.join(dirpath, name)
            with open(p, "rb") as fh:
                data = fh.read()
            if sink is not None:
                sink(data)
            paths.append(os.path.relpath(p, corpus))
            hashes.append(hashlib.sha256(data).hexdigest())
            texts.append(data.decode("utf-8", "replace"))
            sizes.append(len(data))
    return pa.table({"path": paths, "content_hash": hashes, "text": texts, "size": pa.array(sizes, pa.int64())})


def baseline(corpus: str, db: str) -> dict:
    """What any ingester must do at least: list, read, hash and bulk-insert every file."""
    import duckdb

    t0 = time.perf_counter()
    rows = _read_corpus(corpus)
    con = duckdb.connect(db)
    con.execute("CREATE TABLE docs AS SELECT * FROM rows")
    con.close()
    return {"seconds": time.perf_counter() - t0, "docs": rows.num_rows}


def floor(corpus: str, home: str) -> dict:
    """What the warehouse contract costs before any per-document feature: the baseline's list,
    read, hash and insert, plus the original bytes into the project's content-addressed store,
    the text a second time as one chunk per document, and both tables exported to Parquet for
    analysts. No extraction, normalisation, language, MinHash, PII detection or masking, no
    Dagster, one process, each step on its cheapest path."""
    import duckdb

    from dwc_resources.cas import ContentStore

    Path(home).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    store = ContentStore(f"{home}/blobs")
    pending: list[bytes] = []

    def to_store(data: bytes) -> None:
        pending.append(data)
        if len(pending) == 500:
            store.put_many(pending)
            pending.clear()

    rows = _read_corpus(corpus, to_store)
    store.put_many(pending)
    store.close()
    con = duckdb.connect(f"{home}/floor.duckdb")
    con.execute("CREATE TABLE docs AS SELECT * FROM rows")
    # From Arrow too: copying the text out of the fresh `docs` table costs several times more.
    con.execute("CREATE TABLE chunks AS SELECT content_hash AS chunk_id, path, 0 AS chunk_index, text FROM rows")
    for table in ("docs", "chunks"):
        con.execute(
            f"COPY {table} TO '{home}/{table}.parquet' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 16384)"
        )
    con.close()
    return {"seconds": time.perf_counter() - t0, "docs": rows.num_rows}


def dwc(corpus: str, home: str) -> dict:
    """The real ingest job (documents, quarantine, chunks, near-duplicates, checks, snapshot)."""
    import dagster as dg

    from dwc_pipelines import ingestion
    from dwc_resources import BlobStoreResource, LakehouseResource, LandingZoneResource

    Path(home).mkdir(parents=True, exist_ok=True)
    resources = {
        "warehouse": LakehouseResource.local(str(home)),
        "landing": LandingZoneResource(path=corpus),
        "blob_store": BlobStoreResource(root=f"{home}/blobs"),
    }
    defs = dg.Definitions.merge(ingestion.defs, dg.Definitions(resources=resources))
    (Path(home) / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=f"{home}/dagster") as instance:
        t0 = time.perf_counter()
        result = defs.resolve_job_def("ingest_job").execute_in_process(
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": os.environ.get("DWC_BENCH_LOG", "WARNING")}}}},
        )
        seconds = time.perf_counter() - t0
    with resources["warehouse"].reader() as con:
        docs = con.execute("SELECT count(*) FROM docs.documents WHERE is_current").fetchall()[0][0]
    step_rate = next(
        ev.event_specific_data.materialization.metadata["files_per_second"].value
        for ev in result.all_events
        if ev.event_type_value == "ASSET_MATERIALIZATION" and ev.asset_key == dg.AssetKey(["docs", "documents"])
    )
    return {"seconds": seconds, "docs": docs, "success": result.success, "ingest_step_files_per_s": step_rate}


def measured(mode: str, corpus: Path, out: Path) -> dict:
    """Run one mode in a child process and poll the peak RSS of its process tree."""
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    proc = psutil.Popen(
        [sys.executable, "-m", "bench.ingest", "--child", mode, str(corpus), str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak = 0
    while proc.poll() is None:
        try:
            rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
            peak = max(peak, rss)
        except psutil.Error:
            pass
        time.sleep(0.05)
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{stderr[-4000:]}")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_rss_mb"] = peak / 2**20
    return result


def pdf_quality(repeats: int) -> dict:
    from rapidfuzz.distance import Levenshtein

    from dwc_pipelines.ingestion.formats import extract

    def norm(s: str) -> str:
        return " ".join(re.sub(r"[#*|`>-]+", " ", s).split())

    def pypdf_text(data: bytes) -> str:
        import io

        import pypdf

        return "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(data)).pages)

    expected = sorted(glob.glob(str(DOCS / "expected" / "*.md")))
    if not expected:
        return {}
    cases = [((DOCS / (Path(e).stem + ".pdf")).read_bytes(), Path(e).read_text(), Path(e).stem) for e in expected]
    out = {}
    for name, fn in (("dwc", lambda d: extract(d, "x.pdf").text), ("pypdf", pypdf_text)):
        sims = {stem: Levenshtein.normalized_similarity(norm(fn(data)), norm(exp)) for data, exp, stem in cases}
        pages = sum(extract(data, "x.pdf").page_count for data, _, _ in cases)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for data, _, _ in cases:
                fn(data)
            times.append(time.perf_counter() - t0)
        out[name] = {
            "similarity": statistics.mean(sims.values()),
            "per_file": sims,
            "pages_per_s": pages / statistics.median(times),
            "pages": pages,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        mode, corpus, out = args.child
        print(json.dumps({"baseline": baseline, "floor": floor, "dwc": dwc}[mode](corpus, out)))
        return

    from bench.corpus import generate

    sizes = [int(s) for s in args.sizes.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    rows, figures = [], {}
    for n in sizes:
        corpus = generate(WORK / f"corpus-{n}", n)
        runs = {"baseline": [], "floor": [], "dwc": []}
        for rep in range(args.repeats):
            for mode in runs:
                r = measured(mode, corpus, WORK / f"out-{mode}-{n}")
                assert r["docs"] == n, f"{mode} ingested {r['docs']} of {n}"
                runs[mode].append(r)
                print(
                    f"n={n} rep={rep} {mode}: {n / r['seconds']:,.0f} docs/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                    flush=True,
                )
        med = {m: statistics.median(n / r["seconds"] for r in rs) for m, rs in runs.items()}
        rss = {m: statistics.median(r["peak_rss_mb"] for r in rs) for m, rs in runs.items()}
        step = statistics.median(r["ingest_step_files_per_s"] for r in runs["dwc"])
        figures[n] = (med, rss, step)
        rows.append(
            (
                n,
                med["dwc"],
                step,
                med["baseline"],
                med["dwc"] / med["baseline"],
                med["floor"],
                med["floor"] / med["baseline"],
                rss["dwc"],
                rss["baseline"],
            )
        )
        for mode in runs:
            out = WORK / f"out-{mode}-{n}"
            shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)

    big, small = max(sizes), min(sizes)
    pdf = pdf_quality(args.repeats * 2)
    result = {
        "docs_per_s": round(figures[big][0]["dwc"], 1),
        "baseline_docs_per_s": round(figures[big][0]["baseline"], 1),
        "ratio_to_baseline": round(figures[big][0]["dwc"] / figures[big][0]["baseline"], 4),
        "ingest_step_files_per_s": round(figures[big][2], 1),
        "floor_docs_per_s": round(figures[big][0]["floor"], 1),
        "floor_ratio_to_baseline": round(figures[big][0]["floor"] / figures[big][0]["baseline"], 4),
        "corpus_docs": big,
        f"peak_rss_mb_{small // 1000}k": round(figures[small][1]["dwc"], 1),
        f"peak_rss_mb_{big // 1000}k": round(figures[big][1]["dwc"], 1),
        "baseline_peak_rss_mb": round(figures[big][1]["baseline"], 1),
        "pdf_similarity": round(pdf["dwc"]["similarity"], 4) if pdf else None,
        "pdf_pages_per_s": round(pdf["dwc"]["pages_per_s"], 1) if pdf else None,
        "pypdf_similarity": round(pdf["pypdf"]["similarity"], 4) if pdf else None,
        "pypdf_pages_per_s": round(pdf["pypdf"]["pages_per_s"], 1) if pdf else None,
        **run_context("ingest", args.repeats),
    }
    lines = [
        "| documents | DWC ingest job (docs/s) | of which the ingest step (files/s) | bare-Python baseline (docs/s) "
        "| ratio | storage floor (docs/s) | floor / baseline | DWC peak RSS (MB) | baseline peak RSS (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {n:,} | {d:,.0f} | {st:,.0f} | {b:,.0f} | {r:.3f} | {fl:,.0f} | {fr:.3f} | {m:,.0f} | {bm:,.0f} |"
        for n, d, st, b, r, fl, fr, m, bm in rows
    ]
    lines += [
        "",
        "The storage floor keeps the warehouse contract and nothing else: list, read, hash, the bytes into "
        "the content-addressed store, the text into DuckDB as documents and again as chunks, both exported to "
        "Parquet for analysts; no extraction, language, MinHash, PII detection, masking or Dagster.",
    ]
    if pdf:
        lines += [
            "",
            "PDF extraction against markitdown's expected Markdown (normalised Levenshtein similarity, "
            "the py-pdf/benchmarks method), beside pypdf as the anchor:",
            "",
            "| extractor | mean similarity | pages/s | " + " | ".join(pdf["dwc"]["per_file"]) + " |",
            "|---|---:|---:|" + "---:|" * len(pdf["dwc"]["per_file"]),
        ]
        for name in ("dwc", "pypdf"):
            p = pdf[name]
            lines.append(
                f"| {name} | {p['similarity']:.3f} | {p['pages_per_s']:.0f} | "
                + " | ".join(f"{v:.3f}" for v in p["per_file"].values())
                + " |"
            )
    write_results("ingest", result, f"Medians of {args.repeats} runs.", lines)


if __name__ == "__main__":
    main()
