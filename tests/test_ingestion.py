"""The ingest job end to end on a fresh instance: formats, bad input, versions, idempotency, crashes."""

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import pytest

from dwc_pipelines.ingestion.assets import CHUNKS, DOCUMENTS, QUARANTINE
from dwc_pipelines.testing import (
    encrypt_pdf,
    make_docx,
    make_email,
    make_epub,
    make_html,
    make_markdown,
    make_pdf,
    make_rtf,
    make_zip_bomb_docx,
)
from dwc_resources.cas import ContentStore

from .conftest import ROOT, Env, require_tesseract

WHEN = datetime(2024, 5, 1, 9, 0)
PROSE = (
    "The warehouse team reviewed the delivery schedule and agreed to move the inspection to Thursday. "
    "Invoices for the second quarter are due at the end of the month, and the auditors asked for copies. "
)


def good_corpus(env: Env) -> dict[str, str]:
    files = {
        "reports/q2.pdf": make_pdf([PROSE * 3, PROSE], title="Q2 report", author="Ana", created=WHEN),
        "contracts/lease.docx": make_docx([PROSE * 2], title="Lease", author="Ivo", created=WHEN),
        "books/handbook.epub": make_epub("Handbook", "Mara", [("One", [PROSE]), ("Two", [PROSE * 2])]),
        "news/item.html": make_html("Port opens", [PROSE, "A second paragraph about the harbour."]),
        "notes/runbook.md": make_markdown("Runbook", [("Steps", [PROSE])], author="Ops", date="2024-01-02"),
        "notes/plain.txt": "Plain notes\n\n" + PROSE * 2,
        "data/order.json": '{"title": "Order 17", "body": "' + PROSE.strip() + '"}',
        "data/lines.csv": "item,qty\nDesk,2\nChair,4\n",
        "mail/renewal.eml": make_email("a@example.com", "b@example.com", "Renewal", PROSE, WHEN),
    }
    for rel, data in files.items():
        env.write(rel, data)
    return {rel: rel.rsplit(".", 1)[1] for rel in files}


def bad_corpus(env: Env) -> dict[str, str]:
    rnd = random.Random(7)
    bad = {
        "bad/empty.txt": (b"", "empty_file"),
        "bad/photo.txt": (bytes(rnd.randrange(256) for _ in range(4096)), "binary_content"),
        "bad/cut.pdf": (make_pdf([PROSE])[:300], "corrupt_pdf"),
        "bad/locked.pdf": (encrypt_pdf(make_pdf([PROSE]), "pw"), "encrypted_pdf"),
        "bad/bomb.docx": (make_zip_bomb_docx(300 * 1024 * 1024), "zip_bomb"),
        "bad/bomb.epub": (make_zip_bomb_docx(300 * 1024 * 1024, kind="epub"), "zip_bomb"),
        "bad/..\\..\\windows\\evil.txt": (PROSE.encode(), "hostile_file_name"),
        "bad/garbled.txt": (bytes(rnd.randrange(128, 256) for _ in range(3000)), "undecodable_text"),
        "bad/utf16.txt": (b"\xff\xfe" + b"\x00\xd8" * 3 + b"a", "undecodable_text"),
        "bad/huge.txt": (PROSE.encode() * 4000, "too_large"),
        "bad/evil\nname.txt": (PROSE.encode(), "hostile_file_name"),
        "bad/\x1b[31mred.txt": (PROSE.encode(), "hostile_file_name"),
    }
    for rel, (data, _) in bad.items():
        env.write(rel, data)
    outside = env.root / "outside-secret.txt"
    outside.write_text("must never be read")
    (env.landing / "bad" / "escape.txt").symlink_to(outside)
    expected = {rel: code for rel, (_, code) in bad.items()}
    expected["bad/escape.txt"] = "symlink_outside_landing"
    return expected


def materialization(result: dg.ExecuteInProcessResult, key: dg.AssetKey):
    for ev in result.all_events:
        if ev.event_type_value == "ASSET_MATERIALIZATION" and ev.asset_key == key:
            return ev.event_specific_data.materialization
    raise AssertionError(f"no materialisation of {key}")


def test_ingest_accepts_every_format_and_quarantines_bad_files(env, instance):
    env.configure_landing(max_file_bytes=500_000)
    good = good_corpus(env)
    bad = bad_corpus(env)
    result = env.run_ingest(instance)
    assert result.success

    docs = dict(env.query("SELECT source_path, format FROM docs.documents WHERE is_current AND status = 'active'"))
    expected_fmt = {
        "pdf": "pdf",
        "docx": "docx",
        "epub": "epub",
        "html": "html",
        "md": "markdown",
        "txt": "text",
        "json": "json",
        "csv": "csv",
        "eml": "email",
    }
    assert docs == {rel: expected_fmt[ext] for rel, ext in good.items()}
    quarantined = dict(env.query("SELECT source_path, reason_code FROM docs.quarantine"))
    shown = {rel.replace("\n", "\\x0a").replace("\x1b", "\\x1b"): code for rel, code in bad.items()}
    assert quarantined == shown
    assert all(r for (r,) in env.query("SELECT reason FROM docs.quarantine"))

    # Nothing dropped is lost: every readable file's bytes are in the content store.
    store = ContentStore(env.blobs.root)
    for (h,) in env.query(
        "SELECT content_hash FROM docs.documents UNION ALL SELECT content_hash FROM docs.quarantine "
        "WHERE content_hash IS NOT NULL"
    ):
        assert store.has(h)
    assert env.query("SELECT content_hash FROM docs.quarantine WHERE source_path = 'bad/escape.txt'") == [(None,)]

    pdf = env.query(
        "SELECT title, author, page_count, language, word_count > 50 FROM docs.documents "
        "WHERE source_path = 'reports/q2.pdf'"
    )
    assert pdf == [("Q2 report", "Ana", 2, "en", True)]

    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "documents_unique_versions": True,
        "accepted_documents_have_text": True,
        "quarantine_reasons_present": True,
    }
    meta = materialization(result, DOCUMENTS).metadata
    assert meta["current_documents"].value == len(good)
    assert "pdf" in meta["by_format"].value and "| title |" in meta["newest_documents"].value
    assert materialization(result, QUARANTINE).metadata["dagster/row_count"].value == len(bad)
    assert materialization(result, CHUNKS).metadata["dagster/row_count"].value >= len(good)


def test_one_huge_file_and_special_files_do_not_hold_back_the_landing_zone(env, instance):
    """A 45 MB text file on one line (under the size limit), a FIFO, a text file named .pdf and
    corrupt UTF-8 beside ordinary documents, on a 128 MB DuckDB memory limit (half the shipped default)."""
    from dwc_resources import LakehouseResource

    env.warehouse = LakehouseResource.local(str(env.root), memory_limit="128MB")
    word = b"lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod "
    env.write("dump/one-line.txt", word * (45 * 1024 * 1024 // len(word)))
    env.write("notes/plain.txt", "Plain notes\n\n" + PROSE)
    env.write("notes/memo.pdf", "A memo saved under the wrong name.\n" + PROSE)
    env.write("notes/broken.md", "# Réunion\n\n".encode() + PROSE.encode() + b"\xff\xfe\n")
    env.write("notes/bail.rtf", make_rtf(["Contrat de location — été 2024", PROSE]))
    os.mkfifo(env.landing / "notes" / "pipe")
    result = env.run_ingest(instance)
    assert result.success
    docs = {
        path: (fmt, chars, truncated)
        for path, fmt, chars, truncated in env.unmasked(
            "SELECT source_path, format, char_count, text_truncated FROM docs.documents WHERE is_current"
        )
    }
    assert docs == {
        "dump/one-line.txt": ("text", 5_000_000, True),
        "notes/plain.txt": ("text", docs["notes/plain.txt"][1], False),
        "notes/bail.rtf": ("rtf", docs["notes/bail.rtf"][1], False),
    }
    assert dict(env.query("SELECT source_path, reason_code FROM docs.quarantine")) == {
        "notes/pipe": "special_file",
        "notes/memo.pdf": "type_mismatch",
        "notes/broken.md": "undecodable_text",
    }
    # The original bytes of the cut document are kept whole.
    (h,) = env.unmasked("SELECT content_hash FROM docs.documents WHERE source_path = 'dump/one-line.txt'")[0]
    assert ContentStore(env.blobs.root).has(h)
    assert env.run_ingest(instance).success  # and nothing is left to block the next run


def _zip(members: dict[str, bytes | str]) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return out.getvalue()


def test_archive_members_are_child_documents_that_leave_with_their_container(env, instance, monkeypatch, capsys):
    inner = _zip({"deep.txt": "Deep member text about the harbour."})
    env.write("packs/pack.zip", _zip({"notes/one.txt": PROSE, "two.md": "# Two\n\n" + PROSE, "inner.zip": inner}))
    nested = "Bottom of the nest."
    for level in range(5):  # five archives deep: over the limit of three
        nested = _zip({f"level{level}.zip" if level else "bottom.txt": nested})
    env.write("packs/nest.zip", nested)
    assert env.run_ingest(instance).success

    def current() -> dict:
        rows = env.unmasked(
            """SELECT d.source_path, d.version, d.status, p.source_path FROM docs.documents d
               LEFT JOIN docs.documents p ON p.doc_id = d.parent_doc_id AND p.is_current
               WHERE d.is_current AND starts_with(d.source_path, 'packs/pack.zip')"""
        )
        return {path: (version, status, parent) for path, version, status, parent in rows}

    assert current() == {
        "packs/pack.zip": (1, "active", None),
        "packs/pack.zip!/notes/one.txt": (1, "active", "packs/pack.zip"),
        "packs/pack.zip!/two.md": (1, "active", "packs/pack.zip"),
        "packs/pack.zip!/inner.zip": (1, "active", "packs/pack.zip"),
        "packs/pack.zip!/inner.zip!/deep.txt": (1, "active", "packs/pack.zip!/inner.zip"),
    }
    # Only files of the landing zone are in its registry.
    assert {p for (p,) in env.unmasked("SELECT source_path FROM docs.sources")} == {"packs/pack.zip", "packs/nest.zip"}
    reasons = dict(env.query("SELECT source_path, reason_code FROM docs.quarantine"))
    assert list(reasons.values()) == ["archive_too_deep"] and reasons == {
        "packs/nest.zip!/level4.zip!/level3.zip!/level2.zip": "archive_too_deep"
    }

    # What a user asks afterwards: `dwc ingest-report`.
    import json as _json

    from dwc_pipelines import cli

    monkeypatch.setenv("DWC_HOME", str(env.root))
    monkeypatch.setenv("DWC_ENV", "local")
    monkeypatch.delenv("DWC_LAKE_CATALOG", raising=False)
    assert cli.main(["ingest-report", "--json"]) == 0
    report = _json.loads(capsys.readouterr().out)
    assert {r["format"]: (r["documents"], r["children"]) for r in report["formats"]} == {
        "zip": (5, 3),  # pack, inner, nest and two of its levels; the third level down is quarantined
        "text": (2, 2),
        "markdown": (1, 1),
    }
    assert [(r["reason_code"], r["files"]) for r in report["quarantine"]] == [("archive_too_deep", 1)]
    assert cli.main(["ingest-report"]) == 0
    assert "archive_too_deep" in capsys.readouterr().out

    # A new version of the archive without two.md, with one.txt changed: two.md leaves, one.txt gets version 2.
    time.sleep(0.01)
    env.write("packs/pack.zip", _zip({"notes/one.txt": PROSE + " Revised.", "inner.zip": inner}))
    assert env.run_ingest(instance).success
    state = current()
    assert state["packs/pack.zip!/two.md"] == (2, "deleted", "packs/pack.zip")
    assert state["packs/pack.zip!/notes/one.txt"] == (2, "active", "packs/pack.zip")
    assert state["packs/pack.zip!/inner.zip!/deep.txt"] == (1, "active", "packs/pack.zip!/inner.zip")

    # The archive removed: every document that came in it leaves too.
    (env.landing / "packs" / "pack.zip").unlink()
    assert env.run_ingest(instance).success
    assert {status for _, status, _ in current().values()} == {"deleted"}
    assert env.run_ingest(instance).success  # and a rerun finds nothing to do
    assert {status for _, status, _ in current().values()} == {"deleted"}


def test_scans_quarantined_without_tesseract_are_read_once_it_is_installed(env, instance, monkeypatch):
    require_tesseract()
    from dwc_pipelines.ingestion import ocr
    from dwc_pipelines.testing import make_scanned_pdf

    env.write("scans/letter.pdf", make_scanned_pdf([["Invoice 2024-1002 from Harbour Supplies Ltd."]]))
    env.write("notes/plain.txt", "Plain notes\n\n" + PROSE)
    monkeypatch.setattr(ocr, "available", lambda: False)
    assert env.run_ingest(instance).success
    assert env.query("SELECT source_path, reason_code FROM docs.quarantine") == [
        ("scans/letter.pdf", "ocr_unavailable")
    ]
    assert env.run_ingest(instance).success  # still no OCR: nothing to do
    assert env.query("SELECT count(*) FROM docs.documents WHERE source_path = 'scans/letter.pdf'") == [(0,)]

    monkeypatch.setattr(ocr, "available", lambda: True)  # Tesseract installed; the file itself unchanged
    assert env.run_ingest(instance).success
    rows = env.unmasked(
        "SELECT text, pages[1].source, pages[1].ocr_confidence > 0.8 FROM docs.documents "
        "WHERE source_path = 'scans/letter.pdf' AND is_current"
    )
    assert rows == [("Invoice 2024-1002 from Harbour Supplies Ltd.", "ocr", True)]
    assert env.run_ingest(instance).success  # read once, not on every run
    assert env.query("SELECT count(*) FROM docs.documents WHERE source_path = 'scans/letter.pdf'") == [(1,)]


def test_rerun_on_same_landing_adds_no_rows(env, instance):
    good_corpus(env)
    bad_corpus(env)
    assert env.run_ingest(instance).success
    counts = lambda: env.query(  # noqa: E731
        "SELECT (SELECT count(*) FROM docs.documents), (SELECT count(*) FROM docs.quarantine),"
        " (SELECT count(*) FROM docs.chunks), (SELECT count(*) FROM docs.near_duplicates)"
    )
    before = counts()
    second = env.run_ingest(instance)
    assert second.success and counts() == before
    assert materialization(second, DOCUMENTS).metadata["files_processed"].value == 0
    # Even re-reading every file (rehash) finds nothing new.
    third = (
        env.defs()
        .resolve_job_def("ingest_job")
        .execute_in_process(instance=instance, run_config={"ops": {"landing_documents": {"config": {"rehash": True}}}})
    )
    assert third.success and counts() == before
    assert materialization(third, DOCUMENTS).metadata["files_processed"].value > 0


def test_versions_tombstones_and_duplicates(env, instance):
    env.write("a.txt", "Alpha document\n\n" + PROSE * 3)
    env.write("b.md", "# Beta\n\n" + PROSE * 3 + "Something else entirely about beta testing schedules.")
    env.write("copy-of-a.txt", "Alpha document\n\n" + PROSE * 3)
    assert env.run_ingest(instance).success
    ids = dict(env.query("SELECT source_path, doc_id FROM docs.documents"))
    assert env.query("SELECT duplicate_of FROM docs.documents WHERE source_path = 'copy-of-a.txt'") == [(ids["a.txt"],)]

    env.write("a.txt", "Alpha document, revised\n\n" + PROSE * 3)
    os.utime(env.landing / "a.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    (env.landing / "b.md").unlink()
    assert env.run_ingest(instance).success
    rows = env.query("SELECT source_path, version, status, is_current, doc_id FROM docs.documents ORDER BY 1, 2")
    assert [r[:4] for r in rows] == [
        ("a.txt", 1, "active", False),
        ("a.txt", 2, "active", True),
        ("b.md", 1, "active", False),
        ("b.md", 2, "deleted", True),
        ("copy-of-a.txt", 1, "active", True),
    ]
    assert len({r[4] for r in rows if r[0] == "a.txt"}) == 1, "doc_id is stable per source path"
    assert env.query("SELECT duplicate_of FROM docs.documents WHERE source_path = 'copy-of-a.txt' AND is_current") == [
        (None,)
    ]
    twins = env.query(
        "SELECT d.source_path, t.source_path FROM docs.near_duplicates n "
        "JOIN docs.documents d ON d.doc_id = n.doc_id AND d.is_current "
        "JOIN docs.documents t ON t.doc_id = n.twin_doc_id AND t.is_current ORDER BY 1"
    )
    assert twins == [("a.txt", "copy-of-a.txt"), ("copy-of-a.txt", "a.txt")]
    # Chunks follow the current version only.
    assert env.query(
        "SELECT DISTINCT version FROM docs.chunks c JOIN docs.documents d USING (doc_id, version) "
        "WHERE d.source_path = 'a.txt'"
    ) == [(2,)]

    env.write("b.md", "# Beta is back\n\n" + PROSE)
    assert env.run_ingest(instance).success
    assert env.query("SELECT version, status FROM docs.documents WHERE source_path = 'b.md' AND is_current") == [
        (3, "active")
    ]


def _table_state(env: Env) -> dict:
    return {
        "documents": env.query(
            "SELECT doc_id, version, source_path, content_hash, status, is_current, format, title, text, duplicate_of,"
            " minhash FROM docs.documents ORDER BY doc_id, version"
        ),
        "quarantine": env.query(
            "SELECT source_path, content_hash, reason_code, reason FROM docs.quarantine ORDER BY 1"
        ),
        "sources": env.query("SELECT source_path, doc_id, content_hash, status FROM docs.sources ORDER BY 1"),
        "chunks": env.query("SELECT chunk_id, doc_id, version, text FROM docs.chunks ORDER BY 1"),
        "near": env.query("SELECT doc_id, twin_doc_id, similarity FROM docs.near_duplicates ORDER BY 1"),
    }


def _corpus(env: Env, n: int) -> None:
    rnd = random.Random(3)
    words = PROSE.split()
    for i in range(n):
        body = " ".join(rnd.choice(words) for _ in range(60))
        env.write(
            f"batch/{i // 500:02d}/doc-{i:05d}.{['txt', 'md', 'html'][i % 3]}",
            make_html(f"Doc {i}", [body]) if i % 3 == 2 else f"Doc {i}\n\n{body}\n",
        )
    env.write("batch/empty.txt", b"")


@pytest.mark.slow
def test_killed_run_then_rerun_equals_uninterrupted_run(tmp_path):
    killed, clean = Env(tmp_path / "killed"), Env(tmp_path / "clean")
    _corpus(killed, 4000)
    _corpus(clean, 4000)

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.run_ingest", str(killed.root), "100"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    blob_db = Path(killed.blobs.root) / "small.sqlite"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if blob_db.exists():
            try:
                with sqlite3.connect(f"file:{blob_db}?mode=ro", uri=True, timeout=1) as db:
                    if db.execute("SELECT count(*) FROM blobs").fetchone()[0] > 1500:
                        break
            except sqlite3.OperationalError:
                pass  # the table is not there yet
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed; make the corpus bigger"
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    staged = list((Path(killed.warehouse.work_dir) / "staging" / "docs").glob("*/batch-*.parquet"))
    visible = killed.unmasked("SELECT count(*) FROM docs.documents")[0][0]
    assert staged, "the kill landed after some batches were staged"
    assert visible == 0, "the visible tables did not change"

    for env in (killed, clean):
        run = subprocess.run(
            [sys.executable, "-m", "tests.run_ingest", str(env.root), "100"], cwd=ROOT, capture_output=True, text=True
        )
        assert run.returncode == 0, run.stderr[-3000:]
    assert _table_state(killed) == _table_state(clean)
    assert len(_table_state(clean)["documents"]) == 4000


def test_asset_checks_fail_on_broken_tables(env, instance):
    from dwc_pipelines.ingestion.checks import (
        accepted_documents_have_text,
        documents_unique_versions,
        quarantine_reasons_present,
    )

    env.write("a.txt", "Alpha\n\n" + PROSE)
    env.write("bad.txt", b"")
    assert env.run_ingest(instance).success
    for check in (documents_unique_versions, accepted_documents_have_text, quarantine_reasons_present):
        assert check(warehouse=env.warehouse).passed

    with env.warehouse.writer() as con:
        con.execute("INSERT INTO docs.documents SELECT * REPLACE ('' AS text) FROM docs.documents")
        con.execute("UPDATE docs.quarantine SET reason = ''")
    for check in (documents_unique_versions, accepted_documents_have_text, quarantine_reasons_present):
        assert not check(warehouse=env.warehouse).passed, check.name


def test_changing_the_chunker_rechunks_everything(env, instance):
    env.write("a.txt", "Alpha\n\n" + PROSE * 20)
    assert env.run_ingest(instance).success
    before = env.query("SELECT count(*), min(chunker) FROM docs.chunks")[0]
    result = (
        env.defs()
        .resolve_job_def("ingest_job")
        .execute_in_process(
            instance=instance, run_config={"ops": {"docs__chunks": {"config": {"max_tokens": 64, "overlap": 8}}}}
        )
    )
    assert result.success
    after = env.query("SELECT count(*), min(chunker), max(chunker) FROM docs.chunks")[0]
    assert after[0] > before[0] and after[1] == after[2] == "tok-v1/64/8"


def test_work_list_pages_process_every_file_once(tmp_path):
    """The work list is read back a page of the listing at a time, keyed by (shown path, raw
    name): with pages and batches smaller than the drop, and two raw names that escape to the
    same shown path, every file is processed exactly once, and a re-run processes none."""
    from dwc_pipelines.ingestion.ingest import IngestSettings, ingest_landing
    from dwc_pipelines.ingestion.schema import DDL
    from dwc_resources.duck import connect

    land = tmp_path / "land"
    (land / "a").mkdir(parents=True)
    for i in range(37):
        (land / "a" / f"f{i:02d}.txt").write_text(f"Document {i}\n\n" + PROSE)
    (land / "a" / "x\\x0a.txt").write_text("a literal backslash name")
    (land / "a" / "x\n.txt").write_text("a newline name")
    con = connect(str(tmp_path / "w.duckdb"))
    con.execute(DDL)
    settings = IngestSettings(batch_size=4, listing_page=3)
    first = ingest_landing(con, str(land), str(tmp_path / "blobs"), "r1", settings, log=lambda m: None)
    assert (first.scanned, first.processed) == (39, 39)
    assert con.execute("SELECT count(*) FROM docs.sources").fetchall()[0][0] == 39
    second = ingest_landing(con, str(land), str(tmp_path / "blobs"), "r2", settings, log=lambda m: None)
    assert (second.processed, second.unchanged) == (0, 39)
    con.close()


def test_single_window_chunks_from_sql_equal_chunk_text(env, instance):
    """Documents that fit one window are chunked in SQL: the same ids, offsets, text and
    personal-data spans as chunk_text and clip_spans give; longer ones still go through Python."""
    from dwc_pipelines.ingestion.chunking import chunk_text
    from dwc_pipelines.ingestion.derive import clip_spans

    env.write("short.txt", "Short note\n\nPlease call Dr. Alice Johnson at +44 20 7946 0958 or mail alice@example.com.")
    env.write("unicode.md", "# Café résumé\n\nNaïve text with emoji 😀 and e\u0301 accents, straße und Ärger.")
    env.write("long.txt", "Long report\n\n" + PROSE * 30)
    result = env.run_ingest(instance)
    assert result.success
    meta = materialization(result, CHUNKS).metadata
    assert meta["single_window_documents"].value == 2
    query = lambda sql, *p: env.unmasked(sql, list(p))  # noqa: E731  (the analyst lake masks text)
    docs = query("SELECT doc_id, content_hash, text, pii FROM docs.documents WHERE is_current")
    assert sum(len(d[3]) for d in docs) >= 3, "the short note's person, phone and e-mail are spans"
    for doc_id, content_hash, text, spans in docs:
        got = query(
            "SELECT chunk_id, chunk_index, token_start, token_end, char_start, char_end, n_tokens, text, pii "
            "FROM docs.chunks WHERE doc_id = ? ORDER BY chunk_index",
            doc_id,
        )
        want = [
            (
                c.chunk_id,
                c.index,
                c.token_start,
                c.token_end,
                c.char_start,
                c.char_end,
                c.token_end - c.token_start,
                c.text,
                clip_spans(spans, c.char_start, c.char_end),
            )
            for c in chunk_text(text, content_hash)
        ]
        assert [g[:8] for g in got] == [w[:8] for w in want]
        assert [[(s["start"], s["end"], s["type"]) for s in g[8]] for g in got] == [
            [(s["start"], s["end"], s["type"]) for s in w[8]] for w in want
        ]
    assert (
        query(
            "SELECT count(*) FROM docs.chunks c JOIN docs.documents d USING (doc_id) WHERE d.source_path = 'long.txt'"
        )[0][0]
        > 1
    )


def test_signatures_of_an_earlier_scheme_are_recomputed(env, instance):
    """A warehouse whose signatures came from another MinHash scheme gets them recomputed from
    the stored text before near-duplicates are compared, once."""
    from dwc_pipelines.ingestion.similarity import SCHEME

    warehouse = env.unmasked  # the internal settings table is not published to analysts

    env.write("a.txt", "Alpha\n\n" + PROSE)
    env.write("b.txt", "Alpha\n\n" + PROSE + " One more sentence.")
    assert env.run_ingest(instance).success
    fresh = warehouse("SELECT doc_id, minhash FROM docs.documents ORDER BY 1")
    assert warehouse("SELECT value FROM docs._settings WHERE key = 'minhash_scheme'") == [(SCHEME,)]
    with env.warehouse.writer() as con:
        con.execute("UPDATE docs._settings SET value = 'minhash64-modp-v0'")
        con.execute("UPDATE docs.documents SET minhash = list_transform(minhash, lambda x: x + 1)")
        con.execute("DELETE FROM docs.near_duplicates")
    result = env.run_ingest(instance)
    assert result.success
    assert (
        materialization(result, dg.AssetKey(["docs", "near_duplicates"])).metadata["signatures_recomputed"].value == 2
    )
    assert warehouse("SELECT doc_id, minhash FROM docs.documents ORDER BY 1") == fresh
    assert env.query("SELECT count(*) FROM docs.near_duplicates")[0][0] == 2
    assert warehouse("SELECT value FROM docs._settings WHERE key = 'minhash_scheme'") == [(SCHEME,)]
