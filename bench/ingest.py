"""bench/ingest: end-to-end ingestion throughput and memory beside a bare-Python baseline and a storage
floor; the same-run peer markitdown on mixed office files; peak memory on a huge text file and a
200-page PDF; PDF, office and OCR extraction quality (the method of py-pdf/benchmarks: normalised
Levenshtein similarity to the expected text).

    python -m bench.ingest [--sizes 10000,100000] [--repeats 3] [--mixed 10000]

Each measurement runs in its own process; peak RSS is the largest sum of the resident memory of
that process and its children (the ingest job uses extraction workers), polled every 50 ms.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
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


def _md_init() -> None:
    global _MD
    from markitdown import MarkItDown

    _MD = MarkItDown(enable_plugins=False)


def _md_convert(path: str) -> int:
    from markitdown import StreamInfo

    try:
        with open(path, "rb") as fh:
            _MD.convert_stream(fh, stream_info=StreamInfo(extension=os.path.splitext(path)[1]))
        return 1
    except Exception:
        return 0


def markitdown_child(corpus: str, out: str) -> dict:
    """The peer: markitdown converting every file to Markdown, in one process per core (as many as the
    ingest job's extraction workers), each with its own converter."""
    import concurrent.futures as cf

    files = sorted(
        os.path.join(d, name) for d, _, names in os.walk(corpus) for name in names if not name.startswith(".")
    )
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=os.cpu_count(), initializer=_md_init) as pool:
        converted = sum(pool.map(_md_convert, files, chunksize=25))
    return {"seconds": time.perf_counter() - t0, "docs": converted, "files": len(files)}


# Text the bench typesets and builds office files from: its own sentences, so that what is scored
# was never seen by the code or the tests (which use their own).
KNOWN = [
    "The ferry timetable changes on the first Monday of October, when the winter service begins.",
    "Crews asked for two extra sailings on Fridays because freight volumes keep rising every month.",
    "Harbour fees were frozen for small vessels, while cruise ships pay eight percent more from March.",
    "A new crane arrives in spring; until then, containers are unloaded at the northern quay only.",
    "The safety audit found the mooring lines worn on three berths and ordered their replacement.",
    "Visitors can book guided tours of the lighthouse online, with discounts for school groups.",
]


def _norm(s: str) -> str:
    return " ".join(re.sub(r"<!--.*?-->|[#*|`>]+|-{3,}", " ", s).split())


def office_quality() -> dict:
    """Office files the bench writes from KNOWN, extracted by DWC and by markitdown, each scored against
    the text written into it (normalised Levenshtein similarity; the labels a reader adds, such as
    DWC's 'Sheet:' and 'Slide 1' or markitdown's table pipes, count against it)."""
    from rapidfuzz.distance import Levenshtein

    from dwc_pipelines.ingestion.formats import extract
    from dwc_pipelines.testing import make_docx, make_odf, make_pptx, make_xlsx

    rows = [[f"Item {i + 1}", sentence] for i, sentence in enumerate(KNOWN)]
    slides = [(f"Topic {i + 1}", KNOWN[i], KNOWN[i + 3]) for i in range(3)]
    cases = {
        "docx": (make_docx(KNOWN), "\n".join(KNOWN)),
        "odt": (make_odf("odt", KNOWN), "\n".join(KNOWN)),
        "xlsx": (make_xlsx({"Notices": rows}), "Notices\n" + "\n".join(" ".join(r) for r in rows)),
        "pptx": (make_pptx(slides), "\n".join(f"{t}\n{b}\n{n}" for t, b, n in slides)),
    }
    out = {"dwc": {}, "markitdown": {}}
    _md_init()
    from markitdown import StreamInfo

    for fmt, (data, expected) in cases.items():
        ours = extract(data, f"x.{fmt}").text
        out["dwc"][fmt] = Levenshtein.normalized_similarity(_norm(ours), _norm(expected))
        if fmt != "odt":  # markitdown has no OpenDocument converter
            theirs = _MD.convert_stream(io.BytesIO(data), stream_info=StreamInfo(extension=f".{fmt}")).text_content
            out["markitdown"][fmt] = Levenshtein.normalized_similarity(_norm(theirs), _norm(expected))
    return out


def ocr_quality() -> dict:
    """A scanned two-page letter and a photographed page, typeset by the bench from KNOWN at 300 dpi,
    through DWC's OCR; similarity to the typeset text, and pages per second."""
    from rapidfuzz.distance import Levenshtein

    from dwc_pipelines.ingestion.formats import extract
    from dwc_pipelines.testing import make_scan_image, make_scanned_pdf

    pages = [KNOWN[:3], KNOWN[3:]]
    scan = make_scanned_pdf(pages)
    t0 = time.perf_counter()
    doc = extract(scan, "scan.pdf")
    seconds = time.perf_counter() - t0
    sims = {"pdf": Levenshtein.normalized_similarity(_norm(doc.text), _norm(" ".join(KNOWN)))}
    photo = extract(make_scan_image(KNOWN[:4], "JPEG"), "photo.jpg")
    sims["jpeg"] = Levenshtein.normalized_similarity(_norm(photo.text), _norm(" ".join(KNOWN[:4])))
    return {
        "similarity": statistics.mean(sims.values()),
        "per_file": sims,
        "pages_per_s": len(pages) / seconds,
        "confidence": statistics.mean(p["ocr_confidence"] for p in doc.extra["pages"]),
    }


def large_files() -> dict:
    """Peak RSS of the ingest job (process tree) on a 45 MB text file of one line and on a 200-page PDF."""
    from dwc_pipelines.testing import make_pdf

    out = {}
    word = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
    page = " ".join(KNOWN * 6)
    for name, filename, data in (
        ("large_file", "one-line.txt", lambda: word * (45 * 1024 * 1024 // len(word))),
        ("200_page_pdf", "report.pdf", lambda: make_pdf([page] * 200, title="Two hundred pages")),
    ):
        corpus = WORK / f"large-{name}"
        if not (corpus / filename).exists():
            corpus.mkdir(parents=True, exist_ok=True)
            (corpus / filename).write_bytes(data())
        r = measured("dwc", corpus, WORK / f"out-large-{name}")
        assert r["docs"] == 1 and r["success"], r
        out[name] = {
            "peak_rss_mb": r["peak_rss_mb"],
            "seconds": r["seconds"],
            "size_mb": (corpus / filename).stat().st_size / 2**20,
        }
        shutil.rmtree(WORK / f"out-large-{name}", ignore_errors=True)
    return out


def repeated(modes: tuple[str, ...], corpus: Path, n: int, repeats: int, label: str) -> dict[str, list[dict]]:
    """Each mode on the corpus `repeats` times, interleaved (rep 0 of every mode, then rep 1...), each
    run checked to have handled all n files; outputs removed afterwards."""
    runs: dict[str, list[dict]] = {mode: [] for mode in modes}
    for rep in range(repeats):
        for mode in modes:
            out = WORK / f"out-{label}-{mode}-{n}"
            r = measured(mode, corpus, out)
            assert r["docs"] == n, f"{mode} handled {r['docs']} of {n} {label} files"
            runs[mode].append(r)
            print(
                f"{label} n={n} rep={rep} {mode}: {n / r['seconds']:,.0f} docs/s, peak RSS {r['peak_rss_mb']:.0f} MB",
                flush=True,
            )
            shutil.rmtree(out, ignore_errors=True) if out.is_dir() else out.unlink(missing_ok=True)
    return runs


def mixed_peer(n: int, repeats: int) -> dict:
    """The ingest job and markitdown on the same n mixed office/PDF/HTML files, medians of `repeats`."""
    from bench.corpus import generate_mixed

    corpus = generate_mixed(WORK / f"mixed-{n}", n)
    runs = repeated(("dwc", "markitdown"), corpus, n, repeats, "mixed")
    return {
        m: {
            "docs_per_s": statistics.median(n / r["seconds"] for r in rs),
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in rs),
        }
        for m, rs in runs.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mixed", type=int, default=10000, help="files in the mixed corpus for the markitdown peer")
    ap.add_argument("--mixed-repeats", type=int, help="runs of each on the mixed corpus (default: --repeats)")
    ap.add_argument("--child", nargs=3)
    args = ap.parse_args()
    if args.child:
        mode, corpus, out = args.child
        modes = {"baseline": baseline, "floor": floor, "dwc": dwc, "markitdown": markitdown_child}
        print(json.dumps(modes[mode](corpus, out)))
        return

    from bench.corpus import generate

    sizes = [int(s) for s in args.sizes.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    rows, figures = [], {}
    for n in sizes:
        corpus = generate(WORK / f"corpus-{n}", n)
        runs = repeated(("baseline", "floor", "dwc"), corpus, n, args.repeats, "plain")
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

    big, small = max(sizes), min(sizes)
    pdf = pdf_quality(args.repeats * 2)
    mixed_repeats = args.mixed_repeats or args.repeats
    mixed = mixed_peer(args.mixed, mixed_repeats)
    large = large_files()
    office = office_quality()
    ocr = ocr_quality()
    result = {
        "docs_per_s": round(figures[big][0]["dwc"], 1),
        "ratio_to_floor": round(figures[big][0]["dwc"] / figures[big][0]["floor"], 4),
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
        "mixed_docs": args.mixed,
        "mixed_repeats": mixed_repeats,
        "mixed_docs_per_s": round(mixed["dwc"]["docs_per_s"], 1),
        "markitdown_docs_per_s": round(mixed["markitdown"]["docs_per_s"], 1),
        "ratio_to_markitdown": round(mixed["dwc"]["docs_per_s"] / mixed["markitdown"]["docs_per_s"], 4),
        "mixed_peak_rss_mb": round(mixed["dwc"]["peak_rss_mb"], 1),
        "markitdown_peak_rss_mb": round(mixed["markitdown"]["peak_rss_mb"], 1),
        "peak_rss_mb_large_file": round(large["large_file"]["peak_rss_mb"], 1),
        "large_file_seconds": round(large["large_file"]["seconds"], 2),
        "peak_rss_mb_200_page_pdf": round(large["200_page_pdf"]["peak_rss_mb"], 1),
        "office_similarity": round(statistics.mean(office["dwc"].values()), 4),
        "office_similarity_per_format": {k: round(v, 4) for k, v in office["dwc"].items()},
        "markitdown_office_similarity": round(statistics.mean(office["markitdown"].values()), 4),
        "markitdown_office_similarity_per_format": {k: round(v, 4) for k, v in office["markitdown"].items()},
        "ocr_similarity": round(ocr["similarity"], 4),
        "ocr_similarity_per_file": {k: round(v, 4) for k, v in ocr["per_file"].items()},
        "ocr_pages_per_s": round(ocr["pages_per_s"], 2),
        "ocr_mean_confidence": round(ocr["confidence"], 4),
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
    lines += [
        "",
        f"Mixed files ({args.mixed:,}: HTML, DOCX, PDF, XLSX, PPTX in equal parts; median of {mixed_repeats} "
        "run(s) each), same run, one process per core "
        "each: the whole DWC ingest job (documents, chunks, near-duplicates, checks, stored bytes) against "
        "markitdown converting each file to Markdown.",
        "",
        "| | docs/s | peak RSS (MB) |",
        "|---|---:|---:|",
        f"| DWC ingest job | {mixed['dwc']['docs_per_s']:,.0f} | {mixed['dwc']['peak_rss_mb']:,.0f} |",
        f"| markitdown | {mixed['markitdown']['docs_per_s']:,.0f} | {mixed['markitdown']['peak_rss_mb']:,.0f} |",
        "",
        f"Large files through the ingest job: a {large['large_file']['size_mb']:.0f} MB text file on one line, peak "
        f"RSS {large['large_file']['peak_rss_mb']:,.0f} MB in {large['large_file']['seconds']:.1f} s; a 200-page PDF, "
        f"peak RSS {large['200_page_pdf']['peak_rss_mb']:,.0f} MB in {large['200_page_pdf']['seconds']:.1f} s.",
        "",
        "Office files written by the bench from its own sentences, similarity of the extracted text to them:",
        "",
        "| reader | " + " | ".join(office["dwc"]) + " |",
        "|---|" + "---:|" * len(office["dwc"]),
        "| DWC | " + " | ".join(f"{v:.3f}" for v in office["dwc"].values()) + " |",
        "| markitdown | "
        + " | ".join(
            f"{office['markitdown'][k]:.3f}" if k in office["markitdown"] else "(no reader)" for k in office["dwc"]
        )
        + " |",
        "",
        f"OCR (Tesseract {__import__('dwc_pipelines.ingestion.ocr', fromlist=['x']).tesseract_version()}) of pages "
        f"the bench typeset at 300 dpi: similarity {ocr['similarity']:.3f} "
        f"({', '.join(f'{k} {v:.3f}' for k, v in ocr['per_file'].items())}), {ocr['pages_per_s']:.2f} pages/s, "
        f"mean word confidence {ocr['confidence']:.3f}.",
    ]
    write_results("ingest", result, f"Medians of {args.repeats} runs.", lines)


if __name__ == "__main__":
    main()
