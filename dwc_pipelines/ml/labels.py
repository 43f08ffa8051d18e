"""Labelled texts for training (plain Python + SQL): label files that users keep beside the
landing zone, and labelled corpora such as BBC News."""

from __future__ import annotations

import csv
import os
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from dwc_resources.duck import insert_arrow, transaction


def read_label_files(directory: str) -> tuple[list[dict], list[str]]:
    """Rows {source_path | content_hash, label, source} from every CSV in the directory, and the
    problems found (a missing column, an empty label) as readable lines."""
    rows, problems = [], []
    for path in sorted(Path(directory).glob("*.csv")) if os.path.isdir(directory) else []:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = set(reader.fieldnames or [])
            if "label" not in fields or not ({"source_path", "content_hash"} & fields):
                problems.append(f"{path.name}: needs a label column and a source_path or content_hash column")
                continue
            for n, row in enumerate(reader, start=2):
                label = (row.get("label") or "").strip()
                key = (row.get("source_path") or "").strip(), (row.get("content_hash") or "").strip()
                if not label or not any(key):
                    problems.append(f"{path.name}:{n}: empty label or document")
                    continue
                rows.append(
                    {"source_path": key[0] or None, "content_hash": key[1] or None, "label": label, "source": path.name}
                )
    return rows, problems


def read_corpus(path: str, name: str) -> list[dict]:
    """A labelled corpus as CSV with `category`/`label` and `text` columns (BBC News has this shape)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return [
            {"text_id": f"{name}:{i}", "text": r["text"], "label": r.get("label") or r["category"], "source": name}
            for i, r in enumerate(reader)
        ]


def load_labelled_texts(con, label_rows: list[dict], corpus_rows: list[dict], run_id: str) -> dict:
    """Replace ml.labelled_texts: labelled current documents (matched by path or content) and corpus texts."""
    now = datetime.now(UTC).replace(tzinfo=None)
    labels = pa.table(
        {k: [r[k] for r in label_rows] for k in ("source_path", "content_hash", "label", "source")},
        schema=pa.schema(
            [
                ("source_path", pa.string()),
                ("content_hash", pa.string()),
                ("label", pa.string()),
                ("source", pa.string()),
            ]
        ),
    )
    with transaction(con):
        con.execute("DELETE FROM ml.labelled_texts")
        con.register("incoming_labels", labels)
        try:
            con.execute(
                """
                INSERT INTO ml.labelled_texts
                SELECT DISTINCT ON (d.doc_id) 'doc:' || d.doc_id, d.content_hash, d.text, l.label, l.source, ?, ?
                FROM incoming_labels l JOIN docs.documents d
                  ON d.is_current AND d.status = 'active'
                 AND (d.source_path = l.source_path OR d.content_hash = l.content_hash)
                ORDER BY d.doc_id, starts_with(l.source, 'chain:'), l.source""",
                [now, run_id],
            )  # people before chains
            unmatched = con.execute("""
                SELECT count(*) FROM incoming_labels l WHERE NOT EXISTS (
                  SELECT 1 FROM docs.documents d WHERE d.is_current AND d.status = 'active'
                   AND (d.source_path = l.source_path OR d.content_hash = l.content_hash))""").fetchall()[0][0]
        finally:
            con.unregister("incoming_labels")
        if corpus_rows:
            insert_arrow(
                con,
                "ml.labelled_texts",
                pa.table(
                    {
                        "text_id": [r["text_id"] for r in corpus_rows],
                        "content_hash": pa.nulls(len(corpus_rows), pa.string()),
                        "text": [r["text"] for r in corpus_rows],
                        "label": [r["label"] for r in corpus_rows],
                        "source": [r["source"] for r in corpus_rows],
                        "loaded_at": pa.array([now] * len(corpus_rows), pa.timestamp("us")),
                        "run_id": [run_id] * len(corpus_rows),
                    }
                ),
            )
    by_label = con.execute("SELECT label, count(*) FROM ml.labelled_texts GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    return {"labelled_texts": sum(n for _, n in by_label), "unmatched_labels": unmatched, "by_label": by_label}


def chain_label_rows(con, sources: list[str]) -> list[dict]:
    """Labels that chains produced: the `label` of successful rows of classify steps, named
    `<chain>.<step>`, for the current content of each document."""
    rows = []
    for source in sources:
        chain, _, step = source.partition(".")
        if not (chain.isidentifier() and step.isidentifier()):
            raise ValueError(f"chain label source must be <chain>.<step>, not {source!r}")
        found = con.execute(f"""
            SELECT DISTINCT s.content_hash, json_extract_string(s.output, 'label') FROM chains.{chain}_{step} s
            WHERE s.status = 'ok' AND json_extract_string(s.output, 'label') IS NOT NULL""").fetchall()
        rows += [
            {"source_path": None, "content_hash": h, "label": label, "source": f"chain:{source}"} for h, label in found
        ]
    return rows
