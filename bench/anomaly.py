"""bench/anomaly: the telemetry anomaly detectors on the NAB subset in ../shared/data/nab.

    python -m bench.anomaly [--data ../shared/data/nab]

Every labelled series of the subset is scored causally by each detector; NAB's standard profile
(dwc_pipelines/iot/nab.py, re-implemented from NAB's sweeper: probationary 15%, scaled-sigmoid
window rewards, A_fp 0.11, A_fn 1, one corpus-optimal threshold per detector) gives the score.
Beside them, in the same run: NAB's Windowed Gaussian baseline re-implemented (window 6400, step
100) and a random detector (seeded), and NAB's published full-corpus scores (Windowed Gaussian
39.6, random 11.0, Numenta HTM 70.5) for reference; the subset is not the full corpus, so the
same-run baseline is the fair comparison.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.common import run_context, write_results

PUBLISHED = {"windowed_gaussian": 39.6, "random": 11.0, "numenta_htm": 70.5}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "nab"))
    args = ap.parse_args()
    from dwc_pipelines.iot import detectors, nab

    corpus = nab.load_corpus(Path(args.data))
    points = sum(len(s.values) for s in corpus)
    rng = np.random.default_rng(0)
    runs = {}
    for name in (*detectors.DETECTORS, "windowed_gaussian", "random"):
        t = time.perf_counter()
        scores = {
            s.name: rng.random(len(s.values)) if name == "random" else detectors.score(name, s.values) for s in corpus
        }
        seconds = time.perf_counter() - t
        r = nab.corpus_score(corpus, scores)
        runs[name] = {**r, "seconds": seconds, "us_per_point": 1e6 * seconds / points}
        print(
            f"{name}: NAB {r['score']:.1f} (threshold {r['threshold']:.6f}, {r['windows_hit']}/{r['windows']} windows, "
            f"{r['false_positives']} false positives) in {seconds:.1f}s",
            flush=True,
        )
    best = max(detectors.DETECTORS, key=lambda d: runs[d]["score"])
    result = {
        **run_context("anomaly", 1),
        "series": len(corpus),
        "points": points,
        "windows": runs[best]["windows"],
        "best_detector": best,
        "nab_score": round(runs[best]["score"], 1),
        **{f"nab_score_{d}": round(r["score"], 1) for d, r in runs.items()},
        **{f"threshold_{d}": r["threshold"] for d, r in runs.items()},
        **{f"us_per_point_{d}": round(r["us_per_point"], 1) for d, r in runs.items()},
        "published_windowed_gaussian": PUBLISHED["windowed_gaussian"],
        "published_random": PUBLISHED["random"],
        "published_numenta_htm": PUBLISHED["numenta_htm"],
        "beats_windowed_gaussian_same_run": runs[best]["score"] > runs["windowed_gaussian"]["score"],
        "beats_windowed_gaussian_published": runs[best]["score"] > PUBLISHED["windowed_gaussian"],
    }
    table = [
        "| detector | NAB score (standard) | windows hit | false positives | threshold | µs / point |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for d, r in runs.items():
        table.append(
            f"| {d}{' (baseline)' if d in ('windowed_gaussian', 'random') else ''} | {r['score']:.1f} | "
            f"{r['windows_hit']}/{r['windows']} | {r['false_positives']} | {r['threshold']:.6f} | "
            f"{r['us_per_point']:.1f} |"
        )
    table += [
        "",
        f"Published on the full NAB corpus (58 series): Windowed Gaussian {PUBLISHED['windowed_gaussian']}, "
        f"random {PUBLISHED['random']}, Numenta HTM {PUBLISHED['numenta_htm']}.",
        f"Best here: **{best}**, {runs[best]['score']:.1f}.",
    ]
    write_results(
        "anomaly",
        result,
        f"{len(corpus)} NAB series ({points:,} points, {runs[best]['windows']} scored "
        "windows), NAB standard profile, corpus-optimal threshold per detector.",
        table,
    )


if __name__ == "__main__":
    main()
