import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field

from dwc_resources import BlobStoreResource, LakehouseResource, LandingZoneResource, pii
from dwc_resources.ai import AIResource
from dwc_resources.duck import transaction
from dwc_resources.lakehouse import dwc_home
from dwc_resources.landing import DropFolderResource
from dwc_resources.model_store import ModelStoreResource
from dwc_resources.notify import NotificationsResource

from ..automation import eager
from ..enrichment.schema import latest_enrichment
from ..ingestion.assets import CHUNKS, DOCUMENTS
from ..ingestion.derive import clip_spans
from ..plots import png_chart
from ..shared import markdown_table
from . import purge
from .policy import first_match, load_policies

PII_FINDINGS = dg.AssetKey(["gov", "pii_findings"])
RETENTION_LOG = dg.AssetKey(["gov", "retention_log"])
ERASURE_LOG = dg.AssetKey(["gov", "erasure_log"])
BLOB_ENCRYPTION = dg.AssetKey(["gov", "blob_encryption"])
OWNERS = ["team:data-governance"]
TAGS = {"domain": "governance"}

DDL = """
CREATE SCHEMA IF NOT EXISTS gov;
CREATE TABLE IF NOT EXISTS gov.pii_findings (
    doc_id VARCHAR NOT NULL, version INTEGER NOT NULL, content_hash VARCHAR, location VARCHAR NOT NULL,  -- document | chunk
    chunk_id VARCHAR, pii_type VARCHAR NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    confidence FLOAT NOT NULL, detector VARCHAR NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS gov.pii_ai_scans (content_hash VARCHAR NOT NULL, provider VARCHAR NOT NULL,
    spans_added INTEGER NOT NULL, scanned_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL);
CREATE TABLE IF NOT EXISTS gov.retention_log (
    doc_id VARCHAR NOT NULL, content_hash VARCHAR, format VARCHAR, created_at TIMESTAMP, first_ingested_at TIMESTAMP,
    policy VARCHAR NOT NULL, keep_days INTEGER NOT NULL, basis VARCHAR NOT NULL, expired_at TIMESTAMP NOT NULL,
    source_deleted BOOLEAN NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS gov.erasure_requests (
    request_id VARCHAR NOT NULL, subject_digest VARCHAR NOT NULL, salt VARCHAR NOT NULL, kind VARCHAR NOT NULL,
    requested_at TIMESTAMP NOT NULL, completed_at TIMESTAMP NOT NULL, documents INTEGER NOT NULL,
    rows_touched INTEGER NOT NULL, tables_touched VARCHAR NOT NULL, files_changed INTEGER NOT NULL,
    blobs_deleted INTEGER NOT NULL, report_path VARCHAR NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS gov.audit_log (
    logged_at TIMESTAMP NOT NULL, action VARCHAR NOT NULL, run_id VARCHAR NOT NULL, details VARCHAR NOT NULL  -- JSON, counts only
);
"""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def audit(con, action: str, run_id: str, **details) -> None:
    con.execute(
        "INSERT INTO gov.audit_log VALUES (?, ?, ?, ?)", [_now(), action, run_id, json.dumps(details, default=str)]
    )


class PiiConfig(dg.Config):
    ask_ai: bool = Field(default=True, description="Also ask the `ai` provider for person names and postal addresses")
    ai_batch: int = Field(default=50, description="Documents per provider call batch")


@dg.asset(
    key=PII_FINDINGS,
    deps=[DOCUMENTS, CHUNKS],
    group_name="governance",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    tags=TAGS,
    automation_condition=eager(),
)
def pii_findings(
    context: dg.AssetExecutionContext, config: PiiConfig, warehouse: LakehouseResource, ai: AIResource
) -> dg.MaterializeResult:
    """Personal data found in current documents and chunks: type, place and confidence, never the value."""
    run_id = context.run.run_id
    with warehouse.writer(DDL) as con:
        backfilled = _backfill_spans(con)
        added = _ai_spans(context, con, ai, config) if config.ask_ai else 0
        with transaction(con):
            con.execute("DELETE FROM gov.pii_findings")
            con.execute(
                """INSERT INTO gov.pii_findings
                SELECT doc_id, version, content_hash, 'document', NULL, s.type, s.start, s."end", s.confidence, s.detector, ?
                FROM (SELECT doc_id, version, content_hash, unnest(pii) AS s FROM docs.documents
                      WHERE is_current AND status = 'active')
                UNION ALL
                SELECT c.doc_id, c.version, c.content_hash, 'chunk', c.chunk_id, s.type, s.start, s."end", s.confidence,
                       s.detector, ?
                FROM (SELECT doc_id, version, content_hash, chunk_id, unnest(pii) AS s FROM docs.chunks) c
                JOIN docs.documents d ON d.doc_id = c.doc_id AND d.version = c.version AND d.is_current""",
                [run_id, run_id],
            )
            audit(con, "pii_scan", run_id, spans_backfilled=backfilled, ai_spans_added=added)
        by_type = con.execute(
            """SELECT pii_type, count(*) FILTER (location = 'document') AS in_documents,
                      count(DISTINCT doc_id) AS documents, round(avg(confidence), 2) AS mean_confidence
               FROM gov.pii_findings GROUP BY 1 ORDER BY 2 DESC, 1"""
        ).fetchall()
        total, docs_with, docs_all = con.execute(
            """SELECT (SELECT count(*) FROM gov.pii_findings WHERE location = 'document'),
                      (SELECT count(DISTINCT doc_id) FROM gov.pii_findings),
                      (SELECT count(*) FROM docs.documents WHERE is_current AND status = 'active')"""
        ).fetchall()[0]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "documents_with_personal_data": docs_with,
            "documents_scanned": docs_all,
            "ai_spans_added": added,
            "detector": pii.DETECTOR_VERSION,
            "by_type": dg.MetadataValue.md(
                markdown_table(["type", "findings", "documents", "mean confidence"], by_type)
            ),
            "plot": dg.MetadataValue.md(
                png_chart(
                    {"findings": [(r[0], r[1]) for r in by_type]},
                    "Personal data found in current documents",
                    "findings",
                    kind="bar",
                )
                if by_type
                else "_(none)_"
            ),
        }
    )


def _backfill_spans(con) -> int:
    """Documents ingested before spans existed get them now (and their chunks)."""
    ids = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT doc_id FROM docs.documents WHERE pii IS NULL AND status = 'active' AND text <> ''"
        ).fetchall()
    ]
    ids += [r[0] for r in con.execute("SELECT DISTINCT doc_id FROM docs.chunks WHERE pii IS NULL").fetchall()]
    ids = sorted(set(ids))
    with transaction(con):
        purge.refresh_spans(con, ids)
    return len(ids)


def _ai_spans(context, con, ai: AIResource, config: PiiConfig) -> int:
    """Names and addresses the provider finds, located in the text and merged into the spans."""
    provider = ai.provider()
    label = f"{provider.name}/{provider.model}"
    todo = con.execute(
        """SELECT d.doc_id, d.version, d.content_hash, d.text, d.pii FROM docs.documents d
           WHERE d.is_current AND d.status = 'active' AND NOT EXISTS (
               SELECT 1 FROM gov.pii_ai_scans s WHERE s.content_hash = d.content_hash AND s.provider = ?)
           ORDER BY d.doc_id""",
        [label],
    ).fetchall()
    fields = {
        "person_names": {"type": "list", "entity": "person", "description": "full names of people mentioned"},
        "postal_addresses": {"type": "list", "description": "postal addresses mentioned, verbatim"},
    }
    added = 0
    for i in range(0, len(todo), config.ai_batch):
        batch = todo[i : i + config.ai_batch]
        answers = provider.extract([r[3] for r in batch], fields)
        with transaction(con):
            for (doc_id, version, content_hash, text, spans), answer in zip(batch, answers):
                if answer["status"] != "ok":
                    continue  # asked again next run
                found = list(_locate(text, answer["value"] or {}, label))
                merged = pii.merge_spans(
                    [pii.Span(s["start"], s["end"], s["type"], s["confidence"], s["detector"]) for s in spans or []]
                    + found
                )
                new = len(merged) - len(spans or [])
                if new > 0:
                    rows = [s.as_row() for s in merged]
                    con.execute(
                        "UPDATE docs.documents SET pii = ? WHERE doc_id = ? AND version = ?", [rows, doc_id, version]
                    )
                    for chunk_id, cs, ce in con.execute(
                        "SELECT chunk_id, char_start, char_end FROM docs.chunks WHERE doc_id = ? AND version = ?",
                        [doc_id, version],
                    ).fetchall():
                        con.execute(
                            "UPDATE docs.chunks SET pii = ? WHERE chunk_id = ?", [clip_spans(rows, cs, ce), chunk_id]
                        )
                    added += new
                con.execute(
                    "INSERT INTO gov.pii_ai_scans VALUES (?, ?, ?, ?, ?)",
                    [content_hash, label, max(new, 0), _now(), context.run.run_id],
                )
        context.log.info(f"asked {label} about {min(i + config.ai_batch, len(todo))}/{len(todo)} documents")
    return added


def _locate(text: str, value: dict, label: str):
    for field, kind in (("person_names", "person"), ("postal_addresses", "address")):
        items = value.get(field) or []
        for item in items if isinstance(items, list) else [items]:
            item = str(item).strip()
            if len(item) < 4:
                continue
            at = text.find(item)
            while at != -1:
                yield pii.Span(at, at + len(item), kind, 0.75, f"ai:{label}")
                at = text.find(item, at + len(item))


class RetentionConfig(dg.Config):
    policy_file: str = Field(default="policies/retention.yaml", description="Retention policies (YAML)")
    as_of: str | None = Field(default=None, description="Evaluate as of this ISO date instead of now (for tests)")


@dg.asset(
    key=RETENTION_LOG,
    deps=[DOCUMENTS],
    group_name="governance",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    tags=TAGS,
)
def retention_log(
    context: dg.AssetExecutionContext,
    config: RetentionConfig,
    warehouse: LakehouseResource,
    landing: LandingZoneResource,
    blob_store: BlobStoreResource,
) -> dg.MaterializeResult:
    """Documents removed by a retention policy: what an audit needs (hash, dates, policy), nothing else."""
    policies = load_policies(config.policy_file)
    now = datetime.fromisoformat(config.as_of) if config.as_of else _now()
    run_id = context.run.run_id
    with warehouse.writer(DDL) as con:
        has_ai = con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ai' AND table_name = "
            "'document_enrichment' AND database_name = current_database()"
        ).fetchall()[0][0]
        topic_join = f"LEFT JOIN ({latest_enrichment('topic')}) e USING (content_hash)" if has_ai else ""
        rows = con.execute(
            f"""SELECT d.doc_id, d.source_path, d.format, d.extension, {"e.topic" if has_ai else "NULL"}, d.created_at,
                       f.first_ingested, d.content_hash
                FROM docs.documents d {topic_join}
                JOIN (SELECT doc_id, min(ingested_at) AS first_ingested FROM docs.documents GROUP BY doc_id) f USING (doc_id)
                WHERE d.is_current AND d.status = 'active' ORDER BY d.doc_id"""
        ).fetchall()
        expired = []
        for doc_id, path, fmt, ext, topic, created, first, chash in rows:
            p = first_match(policies, path, fmt, ext, topic)
            if p is None:
                continue
            basis_at = (created or first) if p.basis == "created" else first
            if basis_at + timedelta(days=p.keep_days) <= now:
                expired.append((doc_id, path, fmt, created, first, chash, p))
        context.log.info(f"{len(expired)} of {len(rows)} current documents are past their retention period")
        hashes = remove_documents(con, [e[0] for e in expired], "expired", run_id) if expired else []
        with transaction(con):
            for doc_id, _path, fmt, created, first, chash, p in expired:
                con.execute(
                    "INSERT INTO gov.retention_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [doc_id, chash, fmt, created, first, p.name, p.keep_days, p.basis, now, p.delete_source, run_id],
                )
            audit(
                con,
                "retention",
                run_id,
                expired=len(expired),
                by_policy={p.name: sum(1 for e in expired if e[6].name == p.name) for p in policies},
            )
        deleted_files = 0
        for delete in (True, False):
            paths = [e[1] for e in expired if e[6].delete_source is delete]
            if paths:
                deleted_files += purge.retire_sources(con, landing.path, paths, "expired", delete, log=context.log.info)
        summary = con.execute(
            "SELECT policy, count(*), max(expired_at) FROM gov.retention_log GROUP BY 1 ORDER BY 1"
        ).fetchall()
        total = con.execute("SELECT count(*) FROM gov.retention_log").fetchall()[0][0]
    if expired:  # expired text must not stay readable through time travel either
        warehouse.forget_history(log=context.log.info)
    blobs = purge.delete_blobs(blob_store.store(), hashes) if hashes else 0
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "expired_this_run": len(expired),
            "landing_files_deleted": deleted_files,
            "blobs_deleted": blobs,
            "policies": len(policies),
            "evaluated_as_of": now.isoformat(timespec="seconds"),
            "by_policy": dg.MetadataValue.md(markdown_table(["policy", "documents removed", "last removal"], summary)),
        }
    )


_DOC_REFS = ("doc_id", "item_id", "similar_item_id", "twin_doc_id")


def remove_documents(con, doc_ids: list[str], status: str, run_id: str) -> list[str]:
    """Tombstone documents with `status`, empty the text of every version, and delete their rows
    in every other table that refers to them; returns the content hashes whose blobs can go."""
    con.execute("CREATE OR REPLACE TEMP TABLE _gov_gone AS SELECT unnest(?::VARCHAR[]) AS doc_id", [doc_ids])
    hashes = [
        r[0]
        for r in con.execute(
            """SELECT DISTINCT content_hash FROM docs.documents WHERE doc_id IN (SELECT doc_id FROM _gov_gone)
           AND content_hash NOT IN (SELECT content_hash FROM docs.documents WHERE is_current AND status = 'active'
                                    AND doc_id NOT IN (SELECT doc_id FROM _gov_gone) AND content_hash IS NOT NULL)"""
        ).fetchall()
    ]
    with transaction(con):
        purge.drop_chunk_indexes(con, doc_ids)
        con.execute("CREATE OR REPLACE TEMP TABLE _gov_gone AS SELECT unnest(?::VARCHAR[]) AS doc_id", [doc_ids])
        for table, cols in purge.warehouse_columns(con).items():
            if table in ("docs.documents", "docs.sources"):
                continue
            names = [c for c, _ in cols]
            for ref in _DOC_REFS:
                if ref in names:
                    con.execute(f"DELETE FROM {table} WHERE {ref} IN (SELECT doc_id FROM _gov_gone)")
            if "content_hash" in names and not any(r in names for r in _DOC_REFS):
                con.execute(f"DELETE FROM {table} WHERE content_hash IN (SELECT unnest(?::VARCHAR[]))", [hashes])
        con.execute(
            """INSERT INTO docs.documents BY NAME
               SELECT * REPLACE (version + 1 AS version, ? AS status, ? AS ingested_at, ? AS run_id)
               FROM docs.documents WHERE is_current AND doc_id IN (SELECT doc_id FROM _gov_gone)""",
            [status, _now(), run_id],
        )
        con.execute(
            """UPDATE docs.documents SET is_current = false WHERE is_current AND status <> ?
               AND doc_id IN (SELECT doc_id FROM _gov_gone)""",
            [status],
        )
        con.execute(
            """UPDATE docs.documents SET text = '', title = NULL, author = NULL, minhash = NULL, pii = NULL,
               word_count = 0, char_count = 0, token_count = 0 WHERE doc_id IN (SELECT doc_id FROM _gov_gone)"""
        )
    return hashes


class ErasureConfig(dg.Config):
    request_id: str = Field(description="Id of a request written by `dwc erase` (the subject is never in run config)")


@dg.asset(
    key=ERASURE_LOG,
    deps=[DOCUMENTS],
    group_name="governance",
    kinds={"duckdb", "python"},
    owners=OWNERS,
    tags=TAGS,
)
def erasure_log(
    context: dg.AssetExecutionContext,
    config: ErasureConfig,
    warehouse: LakehouseResource,
    landing: LandingZoneResource,
    events_folder: DropFolderResource,
    labels_folder: DropFolderResource,
    blob_store: BlobStoreResource,
    notifications: NotificationsResource,
    model_store: ModelStoreResource,
    ai: AIResource,
) -> dg.MaterializeResult:
    """Completed erasure requests: a salted digest of the subject and what was touched, never the subject."""
    request_path = requests_dir() / f"{config.request_id}.json"
    if not request_path.exists():
        raise dg.Failure(f"no erasure request {config.request_id} under {requests_dir()} (write one with `dwc erase`)")
    request = json.loads(request_path.read_text())
    logs = [events_folder.path, labels_folder.path]
    report = erase(context, request, warehouse, landing, logs, blob_store, notifications, model_store, ai.embedder())
    request_path.unlink()  # the only place the subject was written down
    return dg.MaterializeResult(
        metadata={
            "documents": report["documents"],
            "rows_touched": report["rows_touched"],
            "files_changed": report["files_changed"],
            "blobs_deleted": report["blobs_deleted"],
            "report": dg.MetadataValue.path(report["report_path"]),
            "tables": dg.MetadataValue.md(markdown_table(["table", "rows"], sorted(report["tables"].items()))),
        }
    )


def requests_dir() -> Path:
    d = Path(dwc_home()) / "gov" / "requests"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def erase(
    context,
    request: dict,
    warehouse: LakehouseResource,
    landing: LandingZoneResource,
    logs: list[str],
    blob_store: BlobStoreResource,
    notifications: NotificationsResource,
    model_store: ModelStoreResource,
    embedder,
) -> dict:
    """Erase a document or a subject; `logs` are the drop folders of line-per-record files (interaction
    events, labels) whose lines naming the subject are dropped."""
    from ..enrichment import vector_index
    from ..enrichment.search import embed_chunks, index_chunk_terms

    run_id, log = context.run.run_id, context.log.info
    kind, subject = request["kind"], request["subject"]
    salt = secrets.token_bytes(16)
    with warehouse.writer(DDL) as con:
        if kind == "doc_id":
            docs = con.execute(
                "SELECT doc_id, version, content_hash, source_path FROM docs.documents WHERE doc_id = ?", [subject]
            ).fetchall()
            doc_ids = sorted({d[0] for d in docs})
            hashes = remove_documents(con, doc_ids, "erased", run_id) if doc_ids else []
            hashes = sorted(set(hashes) | {d[2] for d in docs if d[2]})
            tables: dict[str, int] = {"docs.documents": len(docs)} if docs else {}
        else:
            docs = purge.documents_mentioning(con, subject)
            doc_ids = sorted({d[0] for d in docs})
            log(f"{len(doc_ids)} document(s), {len(docs)} version(s) mention the subject")
            with transaction(con):
                tables = purge.scrub_warehouse(con, subject)
                purge.refresh_spans(con, doc_ids)
                purge.drop_chunk_indexes(con, doc_ids)
            hashes = sorted({d[2] for d in docs if d[2]})
            if con.execute(
                "SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'ai' AND table_name = 'chunk_lengths' "
                "AND database_name = current_database()"
            ).fetchall()[0][0]:
                index_chunk_terms(con, run_id, log=log)
                embed_chunks(con, embedder, run_id, log=log)
                # ANN indexes are derived from the erased text too: every model's goes, the configured
                # model's is rebuilt now, any other's when its embeddings are next materialized.
                folder = vector_index.index_dir(warehouse.work_dir)
                vector_index.remove_all(folder)
                vector_index.update(con, folder, embedder.model, log)
        files = purge.retire_sources(con, landing.path, [d[3] for d in docs], "erased", True, log=log)
        files += _scrub_files(subject, logs, notifications) if kind == "subject" else 0
        models = purge.drop_models_naming(Path(model_store.path), subject) if kind == "subject" else []
        if models:
            context.log.warning(
                f"deleted {len(models)} fitted model(s) that hold the subject as an id: "
                f"{', '.join(models)}; run recs_full_job to train them again without it"
            )
        report_path = _write_report(
            request,
            subject_digest := purge.subject_digest(subject, salt),
            salt,
            docs,
            tables,
            files,
            len(hashes),
            run_id,
            models,
        )
        with transaction(con):
            con.execute(
                "INSERT INTO gov.erasure_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    request["request_id"],
                    subject_digest,
                    salt.hex(),
                    kind,
                    datetime.fromisoformat(request["requested_at"]),
                    _now(),
                    len(doc_ids),
                    sum(tables.values()),
                    json.dumps(tables),
                    files,
                    len(hashes),
                    str(report_path),
                    run_id,
                ],
            )
            audit(
                con,
                "erasure",
                run_id,
                request_id=request["request_id"],
                documents=len(doc_ids),
                rows_touched=sum(tables.values()),
                files_changed=files,
                blobs=len(hashes),
            )
    # Time travel would still show the erased values: every older snapshot of both lakes expires
    # and the Parquet files only they referenced are deleted.
    warehouse.forget_history(log=log)
    blobs = purge.delete_blobs(blob_store.store(), hashes)
    return {
        "documents": len(doc_ids),
        "rows_touched": sum(tables.values()),
        "tables": tables,
        "files_changed": files,
        "blobs_deleted": blobs,
        "report_path": str(report_path),
    }


def _scrub_files(subject: str, logs: list[str], notifications: NotificationsResource) -> int:
    """Text files outside the warehouse: interaction logs and label files lose the subject's lines;
    notification outbox messages and the delivery log have it replaced."""
    changed = 0
    for folder in map(Path, logs):
        if folder.is_dir():
            changed += sum(
                purge.scrub_text_file(p, subject, drop_lines=True) for p in sorted(folder.rglob("*")) if p.is_file()
            )
    if notifications.outbox_dir and Path(notifications.outbox_dir).is_dir():
        changed += sum(
            purge.scrub_text_file(p, subject) for p in sorted(Path(notifications.outbox_dir).rglob("*")) if p.is_file()
        )
    if notifications.log_path:
        changed += 1 if purge.scrub_sqlite(Path(notifications.log_path), subject) else 0
    return changed


def _write_report(request, digest, salt, docs, tables, files, blobs, run_id, models) -> Path:
    out = Path(dwc_home()) / "gov" / "erasure_reports"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{request['request_id']}.md"
    lines = [
        f"# Erasure request {request['request_id']}",
        "",
        f"- kind: {request['kind']}; subject digest (sha256 of salt + subject): `{digest}` with salt `{salt.hex()}`",
        f"- requested at {request['requested_at']}, completed at {_now().isoformat(timespec='seconds')} by run {run_id}",
        f"- documents: {len({d[0] for d in docs})} ({len(docs)} versions); document ids: "
        + ", ".join(sorted({d[0] for d in docs})[:50]),
        f"- files changed or deleted (landing zone, interaction logs, notification outbox and log): {files}",
        f"- original blobs deleted: {blobs}",
        f"- fitted models deleted because they held the subject as an id: {', '.join(models) or 'none'}"
        + (" (train them again without it: recs_full_job)" if models else ""),
        "",
        "| table | row changes (deletions, and rewrites per column) |",
        "|---|---:|",
        *[f"| {t} | {n} |" for t, n in sorted(tables.items())],
        "",
        "Also done: every older snapshot of the lake and of the analyst lake was expired and the Parquet files "
        "that held the old values deleted (no time travel reaches them), the blob store was vacuumed.",
        "",
        "On-chain proofs, if any, hold only content hashes and Merkle paths, never text: they stay valid and "
        "reveal nothing about the subject; the hash of a document's original bytes remains in `docs.documents` "
        "for the same reason (an audit can prove what was held without holding it).",
        "Not rewritten by DWC: the Dagster instance's event log (asset metadata previews are masked when written) "
        "and models trained before the erasure (retrain them: `ml` assets pick up the rewritten texts).",
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


class BlobEncryptionConfig(dg.Config):
    reseal: bool = Field(default=False, description="Re-encrypt every blob not under the active key (rotation)")


@dg.asset(key=BLOB_ENCRYPTION, group_name="governance", kinds={"python", "sqlite"}, owners=OWNERS, tags=TAGS)
def blob_encryption(
    context: dg.AssetExecutionContext,
    config: BlobEncryptionConfig,
    warehouse: LakehouseResource,
    blob_store: BlobStoreResource,
) -> dg.MaterializeResult:
    """How the original bytes are held at rest: blobs per key id (or plaintext); with `reseal`, rotated."""
    store = blob_store.store()
    result = store.reseal(log=context.log.info) if config.reseal else {}
    census = store.key_census()
    store.close()
    with warehouse.writer(DDL) as con:
        with transaction(con):
            audit(con, "blob_reseal" if config.reseal else "blob_census", context.run.run_id, census=census, **result)
    return dg.MaterializeResult(
        metadata={
            "active_key": blob_store.config().keyring.active or "none (plaintext)",
            "blobs_by_key": dg.MetadataValue.md(markdown_table(["key id", "blobs"], sorted(census.items()))),
            "plaintext_blobs": census.get("plaintext", 0),
            **{k: v for k, v in result.items() if isinstance(v, int)},
        }
    )
