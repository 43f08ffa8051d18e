"""bench/xr: the document map's build time and size at 1k, 10k and 100k documents, beside a naive
baseline (one mesh and one node per document) and beside `gltf-transform optimize` of each.

Documents are synthetic: 384-d embeddings around 8 topic centres (the size of the local provider's
embeddings), titles and word counts. Every file goes through the Khronos glTF validator.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from dwc_pipelines.xr import scenes
from dwc_resources.xr_tools import XRToolsResource

from .common import median_time, run_context, write_results

TOPICS = ["contract", "invoice", "report", "correspondence", "news", "manual", "minutes", "other"]


def corpus(n: int, seed: int = 11) -> list[dict]:
    rnd = np.random.default_rng(seed)
    centres = rnd.normal(size=(len(TOPICS), 384)).astype(np.float32)
    t = rnd.integers(0, len(TOPICS), n)
    emb = centres[t] + 0.35 * rnd.normal(size=(n, 384)).astype(np.float32)
    words = rnd.integers(40, 4000, n)
    return [
        {
            "doc_id": f"{i:024x}",
            "title": f"{TOPICS[t[i]].title()} document {i}",
            "topic": TOPICS[t[i]],
            "word_count": int(words[i]),
            "embedding": emb[i],
        }
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--naive-max", type=int, default=100_000, help="largest corpus the naive baseline builds")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-xr-"))
    tools = XRToolsResource(scenes_dir=str(work))
    have_validator, optimizer = tools.validator_missing() is None, tools.optimizer()
    result = run_context("xr", args.repeats)
    files = []
    figures: dict = {}
    for n in sizes:
        docs = corpus(n)
        build_s, (data, stats) = median_time(lambda: scenes.document_map(docs), args.repeats)
        path = work / f"dwc-{n}.glb"
        path.write_bytes(data)
        files.append(str(path))
        entry = {"build_s": build_s, "bytes": len(data), "per_node": len(data) / n, "draws": stats.meshes}
        if n <= args.naive_max:
            naive_s, naive = median_time(lambda: scenes.naive_document_map(docs), 1)
            npath = work / f"naive-{n}.glb"
            npath.write_bytes(naive)
            files.append(str(npath))
            entry.update(naive_s=naive_s, naive_bytes=len(naive), naive_per_node=len(naive) / n)
        if optimizer:
            for kind in ("dwc", "naive"):
                src = work / f"{kind}-{n}.glb"
                if src.exists():
                    t0 = time.perf_counter()
                    try:
                        tools.optimize_glb(str(src), str(work / f"{kind}-{n}.opt.glb"))
                        entry[f"{kind}_opt_bytes"] = os.path.getsize(work / f"{kind}-{n}.opt.glb")
                        entry[f"{kind}_opt_s"] = time.perf_counter() - t0
                    except Exception as exc:  # recorded, not fatal: an optimiser that cannot cope is a finding
                        entry[f"{kind}_opt_error"] = str(exc)[-200:]
        figures[n] = entry
        print(f"{n:,} documents: {build_s:.2f} s, {len(data):,} bytes ({len(data) / n:.1f} per document)", flush=True)
    reports = tools.validate(files) if have_validator else []
    by_file = {Path(r["file"]).name: r for r in reports}
    for n in sizes:
        r = by_file.get(f"dwc-{n}.glb")
        figures[n]["errors"] = r["errors"] if r else None
        figures[n]["warnings"] = r["warnings"] if r else None
        nr = by_file.get(f"naive-{n}.glb")
        figures[n]["naive_errors"] = nr["errors"] if nr else None
    dwc_reports = [r for name, r in by_file.items() if name.startswith("dwc-")]
    top = sizes[-1]
    tag = f"{top // 1000}k"
    result.update(
        {
            "validator": reports[0]["validator"] if reports else "not installed",
            "validator_errors": sum(r["errors"] for r in dwc_reports) if reports else None,
            "validator_warnings": sum(r["warnings"] for r in dwc_reports) if reports else None,
            "validator_pass_rate": (sum(r["errors"] == 0 for r in dwc_reports) / len(dwc_reports)) if reports else None,
            f"build_s_{tag}": round(figures[top]["build_s"], 3),
            f"bytes_per_node_{tag}": round(figures[top]["per_node"], 1),
            f"size_bytes_{tag}": figures[top]["bytes"],
        }
    )
    for n in sizes:
        t = f"{n // 1000}k"
        e = figures[n]
        result[f"build_s_{t}"] = round(e["build_s"], 3)
        result[f"bytes_per_node_{t}"] = round(e["per_node"], 1)
        if "naive_s" in e:
            result[f"naive_build_s_{t}"] = round(e["naive_s"], 3)
            result[f"naive_bytes_per_node_{t}"] = round(e["naive_per_node"], 1)
            result[f"size_ratio_naive_to_dwc_{t}"] = round(e["naive_bytes"] / e["bytes"], 2)
        if "dwc_opt_bytes" in e:
            result[f"optimized_bytes_per_node_{t}"] = round(e["dwc_opt_bytes"] / n, 1)
        if "naive_opt_bytes" in e:
            result[f"naive_optimized_bytes_per_node_{t}"] = round(e["naive_opt_bytes"] / n, 1)
        for kind in ("dwc", "naive"):
            if f"{kind}_opt_error" in e:
                result[f"{kind}_optimize_error_{t}"] = e[f"{kind}_opt_error"]
    table = [
        "| documents | DWC build (s) | DWC size | bytes/doc | draw calls | validator (errors/warnings) | naive build (s) "
        "| naive bytes/doc | naive errors | gltf-transform on DWC, bytes/doc | gltf-transform on naive, bytes/doc |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        e = figures[n]
        val = f"{e['errors']}/{e['warnings']}" if e["errors"] is not None else "not run"

        def fmt(key, unit=1.0, spec="{:,.1f}"):
            return spec.format(e[key] / unit) if key in e else ("failed" if key.replace("bytes", "error") in e else "-")

        table.append(
            f"| {n:,} | {e['build_s']:.2f} | {e['bytes']:,} | {e['per_node']:.1f} | {e['draws']} | {val} | "
            f"{fmt('naive_s', 1, '{:.2f}')} | {fmt('naive_per_node')} | {e.get('naive_errors', '-')} | "
            f"{fmt('dwc_opt_bytes', n)} | {fmt('naive_opt_bytes', n)} |"
        )
    about = (
        "DWC: one instanced sphere (EXT_mesh_gpu_instancing) per topic, labels in the node extras; naive: a mesh, "
        "its accessors and a node per document. gltf-transform optimize ran with quantisation and without "
        "flattening or joining (which would merge the labelled items). Validator: Khronos glTF validator "
        f"{result['validator']}."
    )
    write_results("xr", result, about, table)


if __name__ == "__main__":
    main()
