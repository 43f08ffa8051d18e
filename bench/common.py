"""What every benchmark records about its run, and how it writes its results."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import psutil

RESULTS = Path(__file__).resolve().parent / "results"


def git_state() -> dict:
    """The commit measured and whether the tree had uncommitted changes."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    run = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True).stdout.strip()  # noqa: E731
    return {"commit": run("rev-parse", "HEAD"), "dirty": bool(run("status", "--porcelain", "--untracked-files=no"))}


def run_context(name: str, repeats: int) -> dict:
    return {
        **git_state(),
        "repeats": repeats,
        "cpu_count": os.cpu_count(),
        "machine": f"{platform.machine()} {platform.system()} {platform.release()}, {os.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}",
        "command": f"python -m bench.{name} " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
    }


def median_time(fn, repeats: int) -> tuple[float, object]:
    """The median wall time of `repeats` calls of fn, and the last call's result."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def write_results(name: str, result: dict, about: str, table: list[str]) -> None:
    """results/<name>.json (the flat figures) and results/<name>.md (a heading, the context, the table)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        f"# bench/{name}",
        "",
        f"Machine: {result['machine']}. Command: `{result['command']}`. {about}",
        "",
        *table,
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
