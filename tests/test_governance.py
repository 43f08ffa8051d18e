"""Governance on real runs: masked analyst catalog, sealed blobs and key rotation, retention,
erasure that reaches every table, file and snapshot, and the audit of all of it."""

import fnmatch
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from dwc_pipelines import enrichment, governance, ingestion
from dwc_resources import BlobStoreResource
from dwc_resources.cas import Keyring
from dwc_resources.lakehouse import LakehouseResource

from .conftest import ROOT

EMAIL, CARD, NOT_A_CARD = "alice.johnson@example.com", "4111 1111 1111 1111", "1234 5678 9012 3456"
LETTER = (
    f"Note for {EMAIL}\n\nDear Alice Johnson, the deposit is paid by card {CARD}; order {NOT_A_CARD} ships "
    "on Monday. Call +44 20 7946 0958 with questions.\n"
)


def defs(env) -> dg.Definitions:
    return dg.Definitions.merge(
        ingestion.defs, enrichment.defs, governance.defs, dg.Definitions(resources=env.resources())
    )


def run(env, instance, *keys, config=None):
    d = defs(env)
    job = dg.define_asset_job("t", selection=dg.AssetSelection.keys(*keys))
    result = (
        dg.Definitions.merge(d, dg.Definitions(jobs=[job]))
        .resolve_job_def("t")
        .execute_in_process(instance=instance, run_config={"ops": config or {}})
    )
    assert result.success
    return result


INGEST = [ingestion.assets.DOCUMENTS, ingestion.assets.QUARANTINE, ingestion.assets.CHUNKS]


def test_analysts_see_placeholders_and_the_unmasked_path_is_the_warehouse_file(env, instance):
    env.write("letters/a.txt", LETTER)
    result = run(env, instance, *INGEST, governance.assets.PII_FINDINGS)
    text, title = env.query("SELECT text, title FROM docs.documents WHERE is_current")[0]
    assert EMAIL not in text and CARD not in text and "Alice Johnson" not in text and "7946" not in text
    assert "[EMAIL]" in text and "[CARD]" in text and "[PERSON]" in text and "[PHONE]" in text
    assert NOT_A_CARD in text, "a number that fails Luhn is left alone"
    assert title == "Note for [EMAIL]"
    chunk = env.query("SELECT text FROM docs.chunks")[0][0]
    assert EMAIL not in chunk and "[CARD]" in chunk
    with env.warehouse.unmasked_reader() as con:
        assert EMAIL in con.execute("SELECT text FROM docs.documents").fetchall()[0][0]
    findings = env.query("SELECT * FROM gov.pii_findings")
    assert {r[5] for r in findings} >= {"email", "card", "person", "phone"}
    assert not [r for r in findings if any(EMAIL in str(v) or CARD in str(v) for v in r)], "no finding holds a value"
    # Previews in the Dagster event log are masked too.
    md = [
        str(ev.event_specific_data.materialization.metadata)
        for ev in result.all_events
        if ev.event_type_value == "ASSET_MATERIALIZATION"
    ]
    assert md and not [m for m in md if EMAIL in m]


def test_blobs_are_sealed_when_keys_are_configured_and_rotation_keeps_every_blob(env, instance):
    env.write("a.txt", LETTER)
    env.write("big/b.md", "# Big\n\n" + "A line of text for the larger file. " * 50)
    old = Keyring.new_key("old")
    env.blobs = BlobStoreResource(root=env.blobs.root, encryption_keys=old)
    run(env, instance, *INGEST, governance.assets.BLOB_ENCRYPTION)
    raw = (Path(env.blobs.root) / "small.sqlite").read_bytes()
    assert EMAIL.encode() not in raw and b"A line of text" not in raw
    assert env.blobs.store().key_census() == {"old": 2}

    new = Keyring.new_key("new")
    env.blobs = BlobStoreResource(root=env.blobs.root, encryption_keys=f"{new},{old}")
    result = defs(env).resolve_job_def("blob_rotation_job").execute_in_process(instance=instance)
    assert result.success
    only_new = BlobStoreResource(root=env.blobs.root, encryption_keys=new).store()
    assert only_new.key_census() == {"new": 2}
    for rel, h in env.query("SELECT source_path, content_hash FROM docs.documents"):
        assert only_new.get(h) == (env.landing / rel).read_bytes()
    with env.warehouse.unmasked_reader() as con:
        actions = [r[0] for r in con.execute("SELECT action FROM gov.audit_log ORDER BY logged_at").fetchall()]
    assert actions == ["blob_census", "blob_reseal"]


def test_without_keys_blobs_stay_plaintext(env, instance):
    env.write("a.txt", "plain words only\n")
    run(env, instance, *INGEST)
    assert env.blobs.store().key_census() == {"plaintext": 1}


def test_retention_removes_expired_documents_and_everything_derived_from_them(env, instance, tmp_path):
    policy = tmp_path / "retention.yaml"
    policy.write_text(
        "policies:\n  - name: scratch\n    match: {source: 'scratch/**'}\n    keep: 30d\n    from: ingested\n"
    )
    env.write("scratch/old.txt", "Scratch notes about the quarterly zebrafish budget.\n")
    env.write("keep/new.txt", "A report about the annual budget that policy keeps.\n")
    run(
        env,
        instance,
        *INGEST,
        enrichment.assets.DOCUMENT_ENRICHMENT,
        enrichment.assets.CHUNK_EMBEDDINGS,
        enrichment.assets.CHUNK_TERMS,
    )
    ((old_id, old_hash),) = env.query(
        "SELECT doc_id, content_hash FROM docs.documents WHERE source_path = 'scratch/old.txt'"
    )
    as_of = (datetime.now() + timedelta(days=31)).isoformat()
    run(
        env,
        instance,
        governance.assets.RETENTION_LOG,
        config={"gov__retention_log": {"config": {"policy_file": str(policy), "as_of": as_of}}},
    )

    rows = env.query(
        "SELECT version, status, is_current, text, title FROM docs.documents WHERE doc_id = ? ORDER BY version",
        [old_id],
    )
    assert rows[-1][:3] == (2, "expired", True) and all(r[3] == "" and r[4] is None for r in rows)
    for table in ("docs.chunks", "ai.document_enrichment"):
        key = "doc_id = ?" if table == "docs.chunks" else "content_hash = ?"
        assert env.query(
            f"SELECT count(*) FROM {table} WHERE {key}", [old_id if table == "docs.chunks" else old_hash]
        ) == [(0,)]
    assert env.query("SELECT count(*) FROM ai.chunk_terms WHERE term = 'zebrafish'") == [(0,)]
    assert not (env.landing / "scratch/old.txt").exists()
    assert not env.blobs.store().has(old_hash)
    assert env.query("SELECT policy, keep_days, source_deleted FROM gov.retention_log") == [("scratch", 30, True)]
    kept = env.query("SELECT status, length(text) > 0 FROM docs.documents WHERE source_path = 'keep/new.txt'")
    assert kept == [("active", True)]
    run(env, instance, *INGEST)  # the next ingest neither resurrects nor re-tombstones it
    assert env.query("SELECT status FROM docs.documents WHERE doc_id = ? AND is_current", [old_id]) == [("expired",)]


SUBJECT = "zelda.quarrington@example.org"


def _seed(tmp_path: Path) -> Path:
    samples = tmp_path / "samples"
    shutil.copytree(ROOT / "samples" / "landing", samples / "landing")
    shutil.copytree(ROOT / "samples" / "events", samples / "events")
    shutil.copytree(ROOT / "samples" / "labels", samples / "labels")
    (samples / "landing" / "contracts" / "side-letter-zq.txt").write_text(
        "Side letter to the master services agreement\n\nThe supplier's contact for this agreement is "
        f"Zelda Quarrington ({SUBJECT.upper()}). Termination notices go to {SUBJECT} with a copy to legal. "
        "The fee and liability terms of the agreement are unchanged by this letter.\n"
    )
    (samples / "landing" / "emails" / "mail-zq.eml").write_text(
        f"From: Zelda Quarrington <{SUBJECT}>\nTo: Sofia Rossi <sofia.rossi@example.com>\n"
        "Subject: Invoice dispute for the March delivery\nDate: Mon, 03 Jun 2024 11:23:00 -0000\n\n"
        "Hi Sofia,\n\nthe invoice we received does not match the delivery note; please hold the payment.\n\n"
        f"Regards,\nZelda ({SUBJECT})\n"
    )
    with open(samples / "events" / "interactions.jsonl", "a") as fh:
        for item in ("contracts/msa-01.pdf", "emails/mail-zq.eml", "news/article-de.md"):
            fh.write(
                json.dumps(
                    {
                        "user": SUBJECT,
                        "item": item,
                        "type": "view",
                        "value": 1,
                        "timestamp": "2024-06-02T10:00:00+00:00",
                    }
                )
                + "\n"
            )
    return samples


def _hits(home: Path, needle: str) -> list[str]:
    """Every place under `home` that holds `needle`: raw bytes of every file, and the rows of every
    DuckDB file and Parquet export (their strings are compressed on disk, so bytes prove nothing)."""
    low = needle.lower()
    found = []
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if path.suffix == ".duckdb":
            with duckdb.connect(str(path), read_only=True) as con:
                for s, t, c in con.execute(
                    """SELECT schema_name, table_name, column_name FROM duckdb_columns()
                           WHERE database_name = current_database() AND data_type NOT LIKE 'FLOAT%'"""
                ).fetchall():
                    try:
                        n = con.execute(
                            f'SELECT count(*) FROM "{s}"."{t}" WHERE strpos(lower(CAST("{c}" AS VARCHAR)), ?) > 0',
                            [low],
                        ).fetchall()[0][0]
                    except duckdb.Error:
                        continue  # a view over a Parquet file that is gone (checked through the file itself)
                    if n:
                        found.append(f"{path.name}:{s}.{t}.{c}")
        elif path.suffix == ".parquet":
            rel = duckdb.sql(f"SELECT * FROM read_parquet('{path}')")
            for c in rel.columns:
                if duckdb.sql(f"""SELECT count(*) FROM read_parquet('{path}')
                                  WHERE strpos(lower(CAST("{c}" AS VARCHAR)), '{low}') > 0""").fetchall()[0][0]:
                    found.append(f"{path.relative_to(home)}:{c}")
        elif low.encode() in path.read_bytes().lower():
            found.append(str(path.relative_to(home)))
    return found


# The whole demo (every asset) runs in this test: on two cores, beside another test file, it takes
# several minutes, more than the suite's default limit.
@pytest.mark.timeout(1500)
def test_erasure_reaches_every_table_file_and_snapshot(tmp_path):
    samples = _seed(tmp_path)
    home, dagster_dir = tmp_path / "dwc", tmp_path / "dagster"
    env = {
        **os.environ,
        "DWC_HOME": str(home),
        "DAGSTER_HOME": str(ROOT),
        "DWC_DAGSTER_DIR": str(dagster_dir),
        "DWC_DAGSTER_LOGS": str(dagster_dir / "logs"),
        "DWC_BLOB_KEYS": "",
        "DWC_AI_PROVIDER": "local",
    }

    def dwc(*args):
        out = subprocess.run(
            [sys.executable, "-m", "dwc_pipelines.cli", *args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
        return out.stdout

    dwc("demo", "--samples", str(samples / "landing"))
    before = _hits(home, SUBJECT)
    # Seeded across the domains: documents, chunks, enrichment, chain outputs, recommendation
    # events and features, classifier training texts, original blobs, landing files, event logs.
    for place in (
        "lake/data/docs/documents/*:text",
        "lake/data/docs/chunks/*:text",
        "lake/data/ai/document_enrichment/*:entities",
        "lake/data/recs/interactions/*:user_id",
        "blobs/small.sqlite",
        "landing/emails/mail-zq.eml",
        "events/interactions.jsonl",
    ):
        assert [p for p in before if fnmatch.fnmatch(p, place)], (place, before)
    assert [p for p in before if p.startswith("lake/data/chains/")], before
    lake = LakehouseResource.local(str(home))
    with lake.unmasked_reader() as con:
        erased_doc_ids = {
            r[0]
            for r in con.execute(
                "SELECT doc_id FROM docs.documents WHERE strpos(lower(text), ?) > 0", [SUBJECT]
            ).fetchall()
        }

    report = dwc("erase", "--subject", "Zelda.Quarrington@Example.org")
    assert "On-chain proofs" in report and "documents: " in report
    assert _hits(home, SUBJECT) == []
    assert _hits(dagster_dir, SUBJECT) == [], "the instance: run config, event log, compute logs"
    assert not list((home / "gov" / "requests").iterdir()), "the request file is gone"

    with lake.unmasked_reader() as con:
        req = con.execute(
            "SELECT kind, documents, rows_touched, subject_digest, salt FROM gov.erasure_requests"
        ).fetchall()
        assert len(req) == 1 and req[0][0] == "subject" and req[0][1] == len(erased_doc_ids) >= 3 and req[0][2] > 0
        from dwc_pipelines.governance.purge import subject_digest

        assert req[0][3] == subject_digest(SUBJECT, bytes.fromhex(req[0][4])), "the digest proves which subject"
        assert con.execute("SELECT count(*) FROM recs.interactions WHERE user_id = ?", [SUBJECT]).fetchall() == [(0,)]
        actions = {r[0] for r in con.execute("SELECT action FROM gov.audit_log").fetchall()}
        assert {"pii_scan", "retention", "blob_census", "erasure"} <= actions
        # The documents survive with the subject replaced, and search still works on them.
        text = con.execute(
            "SELECT text FROM docs.documents WHERE source_path = 'contracts/side-letter-zq.txt' AND is_current"
        ).fetchall()[0][0]
        assert "[ERASED]" in text and "Termination notices" in text
    # The instance keeps the erasure as a run of its own, and the ops audit trail lists it.
    with sqlite3.connect(dagster_dir / "history" / "runs.db") as db:
        assert (
            db.execute(
                "SELECT count(*) FROM runs WHERE pipeline_name = 'erasure_job' AND status = 'SUCCESS'"
            ).fetchone()[0]
            == 1
        )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from dwc_pipelines.cli_support import run_job; raise SystemExit(run_job('ops_marts_job', {}))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    trail = dwc("sql", "SELECT asset_key, job_name FROM ops.audit_trail WHERE asset_key LIKE 'gov/%' ORDER BY 1")
    assert "gov/erasure_log" in trail and "erasure_job" in trail and "gov/pii_findings" in trail


def test_erasing_one_document_by_id_removes_it_and_its_blob(env, instance, tmp_path, monkeypatch):
    monkeypatch.setenv("DWC_HOME", str(tmp_path / "home"))
    from dwc_pipelines.governance.assets import requests_dir

    env.write("a/keep.txt", "A document that stays.\n")
    env.write("a/drop.txt", f"A document to remove, about {EMAIL}.\n")
    run(env, instance, *INGEST)
    ((doc_id, chash),) = env.query("SELECT doc_id, content_hash FROM docs.documents WHERE source_path = 'a/drop.txt'")
    (requests_dir() / "r1.json").write_text(
        json.dumps({"request_id": "r1", "kind": "doc_id", "subject": doc_id, "requested_at": "2026-01-01T00:00:00"})
    )
    result = (
        defs(env)
        .resolve_job_def("erasure_job")
        .execute_in_process(
            instance=instance, run_config={"ops": {"gov__erasure_log": {"config": {"request_id": "r1"}}}}
        )
    )
    assert result.success
    assert env.query("SELECT status, text FROM docs.documents WHERE doc_id = ? AND is_current", [doc_id]) == [
        ("erased", "")
    ]
    assert env.query("SELECT count(*) FROM docs.chunks WHERE doc_id = ?", [doc_id]) == [(0,)]
    assert not (env.landing / "a/drop.txt").exists() and not env.blobs.store().has(chash)
    assert env.query("SELECT count(*) FROM docs.documents WHERE is_current AND status = 'active'") == [(1,)]
    assert not (requests_dir() / "r1.json").exists()
