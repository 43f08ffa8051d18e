"""Interactions, item features and recommendations in the warehouse (plain Python + SQL)."""

from __future__ import annotations

import csv
import hashlib
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa

from dwc_resources.duck import insert_arrow, transaction

from ..enrichment.schema import latest_enrichment
from .events import parse_file
from .models import Dataset, build_dataset, interaction_weight, rows_for, top_n

ITEMS_DIR = "items"  # <events>/items/*.csv: item features files


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def event_files(root: str) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every event file; item-feature files and hidden files aside."""
    out = []
    base = Path(root)
    if not base.is_dir():
        return out
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base).as_posix()
        if path.is_file() and not any(p.startswith(".") for p in rel.split("/")) and rel.split("/")[0] != ITEMS_DIR:
            st = path.stat()
            out.append((rel, st.st_size, st.st_mtime_ns))
    return out


def events_digest(files: list[tuple[str, int, int]]) -> str:
    """A digest of the event files' (path, size, mtime): what the events sensor compares."""
    return hashlib.sha256("\n".join(f"{p}\0{s}\0{m}" for p, s, m in files).encode()).hexdigest()


def load_events(con, root: str, run_id: str, log: Callable[[str], None] = print) -> dict:
    """Load new and changed event files; a changed file replaces its own rows. Events of a removed
    file stay: they happened. Items named by a document's landing path or doc_id become its doc_id."""
    known = {
        r[0]: (r[1], r[2])
        for r in con.execute("SELECT source_file, size_bytes, mtime_ns FROM recs._event_files").fetchall()
    }
    files = event_files(root)
    changed = [f for f in files if known.get(f[0]) != (f[1], f[2])]
    paths = dict(
        con.execute(
            """SELECT source_path, doc_id FROM docs.documents WHERE is_current AND status = 'active'"""
        ).fetchall()
    )
    doc_ids = set(paths.values())
    now = _now()
    loaded = quarantined = 0
    with transaction(con):
        for rel, size, mtime in changed:
            events, bad = parse_file(os.path.join(root, rel))
            con.execute("DELETE FROM recs.interactions WHERE source_file = ?", [rel])
            con.execute("DELETE FROM recs.interactions_quarantine WHERE source_file = ?", [rel])
            con.execute("DELETE FROM recs._event_files WHERE source_file = ?", [rel])
            if events:
                items = [paths.get(e.item, e.item) if e.item not in doc_ids else e.item for e in events]
                insert_arrow(
                    con,
                    "recs.interactions",
                    pa.table(
                        {
                            "user_id": [e.user for e in events],
                            "item_id": items,
                            "type": [e.type for e in events],
                            "value": pa.array([e.value for e in events], pa.float64()),
                            "weight": pa.array([interaction_weight(e.type, e.value) for e in events], pa.float64()),
                            "ts": pa.array([e.ts for e in events], pa.timestamp("us")),
                            "source_file": [rel] * len(events),
                            "line": pa.array([e.line for e in events], pa.int32()),
                            "loaded_at": pa.array([now] * len(events), pa.timestamp("us")),
                            "run_id": [run_id] * len(events),
                        }
                    ),
                )
            if bad:
                con.executemany(
                    "INSERT INTO recs.interactions_quarantine VALUES (?, ?, ?, ?, ?, ?)",
                    [(rel, b.line, b.raw, b.reason, now, run_id) for b in bad],
                )
            con.execute(
                "INSERT INTO recs._event_files VALUES (?, ?, ?, ?, ?, ?)",
                [rel, size, mtime, len(events), len(bad), now],
            )
            loaded += len(events)
            quarantined += len(bad)
            log(f"{rel}: {len(events)} events, {len(bad)} quarantined")
    return {
        "files_read": len(changed),
        "files_unchanged": len(files) - len(changed),
        "events_loaded": loaded,
        "rows_quarantined": quarantined,
        "events_digest": events_digest(files),
    }


def build_item_features(con, root: str) -> dict:
    """Items from documents (title, text, topic) and from item-features CSVs (item_id and any columns)."""
    with transaction(con):
        con.execute("DELETE FROM recs.item_features")
        con.execute(f"""
            INSERT INTO recs.item_features (item_id, doc_id, title, text, topic, source, embedding)
            SELECT d.doc_id, d.doc_id, d.title, left(d.text, 20000), e.topic, 'documents', e.embedding::FLOAT[]
            FROM docs.documents d
            LEFT JOIN ({latest_enrichment("topic", "embedding")}) e USING (content_hash)
            WHERE d.is_current AND d.status = 'active' AND d.duplicate_of IS NULL""")
        files = sorted((Path(root) / ITEMS_DIR).glob("*.csv")) if (Path(root) / ITEMS_DIR).is_dir() else []
        rows = []
        for path in files:
            with open(path, newline="", encoding="utf-8") as fh:
                for r in csv.DictReader(fh):
                    item = (r.pop("item_id", None) or r.pop("item", None) or "").strip()
                    if item:
                        title = r.pop("title", None)
                        rows.append(
                            (item, None, title, " ".join(str(v) for v in [title, *r.values()] if v), None, path.name)
                        )
        if rows:
            con.executemany(
                "INSERT INTO recs.item_features (item_id, doc_id, title, text, topic, source) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                rows,
            )
    return {
        "items": con.execute("SELECT count(*) FROM recs.item_features").fetchall()[0][0],
        "feature_files": len(files),
    }


def dataset(con) -> Dataset:
    rows = con.execute("""SELECT user_id, item_id, type, value, epoch(ts) FROM recs.interactions""").fetchall()
    text, vectors = {}, {}
    for item, title, body, topic, emb in con.execute(
        "SELECT item_id, title, text, topic, embedding FROM recs.item_features"
    ).fetchall():
        text[item] = " ".join(x for x in (title, topic, body) if x)
        if emb:
            vectors[item] = emb
    return build_dataset(rows, text, item_vectors=vectors)


def user_rows(con, users: list[str]) -> dict[str, dict[str, float]]:
    """Each user's current interaction weights per item (what the models score)."""
    out: dict[str, dict[str, float]] = {u: {} for u in users}
    if not users:
        return out
    for user, item, weight in con.execute(
        """SELECT user_id, item_id, sum(weight) FROM recs.interactions
                                             WHERE user_id IN (SELECT unnest(?::VARCHAR[])) GROUP BY 1, 2""",
        [users],
    ).fetchall():
        out[user][item] = weight
    return out


def recommend(
    model,
    data: Dataset,
    interactions: dict[str, dict[str, float]],
    n: int = 10,
    exclude_seen: bool = True,
    batch: int = 256,
) -> list[tuple[str, str, int, float]]:
    """(user, item, rank, score) for each user, from their current interactions (fold-in)."""
    users = list(interactions)
    out = []
    for start in range(0, len(users), batch):
        chunk = {u: interactions[u] for u in users[start : start + batch]}
        rows = rows_for(data, chunk)
        idx, scores = top_n(model.score(rows), rows if exclude_seen else None, n)
        for user, items, vals in zip(chunk, idx, scores):
            rank = 0
            for i, s in zip(items, vals):
                if np.isfinite(s):
                    rank += 1
                    out.append((user, data.items[i], rank, float(s)))
    return out
