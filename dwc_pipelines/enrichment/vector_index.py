"""The approximate nearest-neighbour index of the chunk embeddings: a derived file, never the truth.

One usearch HNSW file per embedding model (cosine, half-precision vectors) under the writer's work
folder, with the chunk ids it holds beside it. The `ai/chunk_embeddings` asset adds what it embedded;
a query that finds no index for its model scans the lake's vectors exactly instead. Deleting the
folder loses nothing: the next materialization rebuilds it from the lake, as it does when the lake
lost vectors the index holds (an erasure).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

INDEX_FORMAT = "usearch-hnsw-cos-f16-v1"


def index_dir(work_dir: str) -> str:
    return os.path.join(work_dir, "index")


def _stem(directory: str, model: str) -> str:
    return os.path.join(directory, "chunks-" + re.sub(r"[^A-Za-z0-9._-]+", "_", model))


@dataclass
class ChunkIndex:
    model: str
    dim: int
    ids: list[str]
    index: object  # usearch.index.Index

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """(chunk_id, cosine) of the k nearest chunks, best first."""
        if not self.ids:
            return []
        found = self.index.search(np.asarray(vector, np.float32), min(k, len(self.ids)))
        return [(self.ids[int(key)], 1.0 - float(d)) for key, d in zip(found.keys, found.distances)]


def _new_index(dim: int):
    from usearch.index import Index

    return Index(ndim=dim, metric="cos", dtype="f16", connectivity=16, expansion_add=96, expansion_search=128)


_open: dict[str, tuple[float, ChunkIndex]] = {}
_open_lock = threading.Lock()


def load(directory: str, model: str) -> ChunkIndex | None:
    """The index of `model`, memory-mapped (reopened only when the file changed); None if absent."""
    from usearch.index import Index

    stem = _stem(directory, model)
    try:
        mtime = os.stat(stem + ".json").st_mtime
    except FileNotFoundError:
        return None
    with _open_lock:
        cached = _open.get(stem)
        if cached and cached[0] == mtime:
            return cached[1]
        with open(stem + ".json") as f:
            manifest = json.load(f)
        if manifest.get("format") != INDEX_FORMAT or manifest.get("model") != model:
            return None
        ids = np.load(stem + ".ids.npy", allow_pickle=False).tolist()
        index = Index.restore(stem + ".usearch", view=True)
        if index is None or len(index) != len(ids):
            return None
        loaded = ChunkIndex(model, manifest["dim"], ids, index)
        _open[stem] = (mtime, loaded)
        return loaded


def update(
    con,
    directory: str,
    model: str,
    log: Callable[[str], None] = print,
    batch_size: int = 50_000,
    run_id: str | None = None,
) -> dict:
    """Add every lake vector of `model` that the index does not hold yet; builds it when absent, and
    rebuilds it when the lake dropped, or this run (`run_id`) recomputed, a vector it holds.
    Written beside and renamed into place, so a reader never sees half an index."""
    from usearch.index import Index

    os.makedirs(directory, exist_ok=True)
    stem = _stem(directory, model)
    current = load(directory, model)
    rebuilt = False
    if current:
        lake = {
            r[0]
            for r in con.execute(
                "SELECT DISTINCT chunk_id FROM ai.chunk_embeddings WHERE model = ?", [model]
            ).fetchall()
        }
        again = set()
        if run_id:
            again = {
                r[0]
                for r in con.execute(
                    "SELECT DISTINCT chunk_id FROM ai.chunk_embeddings WHERE model = ? AND run_id = ?", [model, run_id]
                ).fetchall()
            }
        if not lake.issuperset(current.ids) or not again.isdisjoint(current.ids):
            # Vectors left the lake or were recomputed (an erasure rewrote the text): the index must
            # not keep what the lake forgot.
            log("vector index: chunks were removed or re-embedded in the lake; rebuilding the index")
            current, rebuilt = None, True
    ids: list[str] = list(current.ids) if current else []
    index = None
    if current:
        index = Index.restore(stem + ".usearch")  # a writable copy in memory
    known = set(ids)
    added = 0
    dim = current.dim if current else None
    reader = con.execute(
        "SELECT chunk_id, any_value(embedding) FROM ai.chunk_embeddings WHERE model = ? GROUP BY chunk_id ORDER BY chunk_id",
        [model],
    )
    while batch := reader.fetchmany(batch_size):
        fresh = [(c, v) for c, v in batch if c not in known]
        if not fresh:
            continue
        vectors = np.asarray([v for _, v in fresh], dtype=np.float32)
        if index is None:
            dim = vectors.shape[1]
            index = _new_index(dim)
        keys = np.arange(len(ids), len(ids) + len(fresh), dtype=np.uint64)
        index.add(keys, vectors, threads=os.cpu_count() or 1)
        ids.extend(c for c, _ in fresh)
        known.update(c for c, _ in fresh)
        added += len(fresh)
        log(f"vector index: {len(ids):,} chunks ({added:,} added)")
    if index is None and rebuilt:
        for suffix in (".json", ".usearch", ".ids.npy"):
            if os.path.exists(stem + suffix):
                os.remove(stem + suffix)
    if index is None or not added:
        return {"index_chunks": len(ids), "index_added": 0}
    for suffix, write in (
        (".usearch", lambda p: index.save(p)),
        (".ids.npy", lambda p: np.save(p, np.asarray(ids, dtype=str), allow_pickle=False)),
        (".json", lambda p: _write_json(p, {"format": INDEX_FORMAT, "model": model, "dim": dim, "count": len(ids)})),
    ):
        tmp = f"{stem}.tmp{suffix}"
        write(tmp)
        os.replace(tmp, stem + suffix)
    return {"index_chunks": len(ids), "index_added": added}


def _write_json(path: str, data: dict) -> None:
    with open(path, "w") as f:
        json.dump(data, f)


def remove_all(directory: str) -> int:
    """Delete every index in `directory` (they are rebuilt from the lake); returns the files removed."""
    if not os.path.isdir(directory):
        return 0
    names = [n for n in os.listdir(directory) if n.startswith("chunks-")]
    for name in names:
        os.remove(os.path.join(directory, name))
    with _open_lock:
        _open.clear()
    return len(names)
