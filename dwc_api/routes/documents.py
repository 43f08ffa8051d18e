"""Documents: streamed upload into the landing zone, status and lineage from the lake, text, search."""

from __future__ import annotations

import hashlib
import os
import re
import time
import unicodedata
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from .. import store
from ..deps import require, service
from ..problems import Problem
from ..security import Principal


class Upload(BaseModel):
    id: str
    source_path: str
    filename: str
    content_hash: str
    size_bytes: int
    status: str
    status_url: str


class Version(BaseModel):
    version: int
    content_hash: str | None
    status: str
    is_current: bool
    ingested_at: str
    run_id: str


class Document(BaseModel):
    id: str
    status: str
    source_path: str | None = None
    title: str | None = None
    format: str | None = None
    language: str | None = None
    word_count: int | None = None
    versions: list[Version] = []
    quarantine: dict | None = None
    runs: list[str] = []
    lake_snapshot: int | None = None
    anchor: dict | None = None
    uploaded: dict | None = None


class DocumentText(BaseModel):
    id: str
    version: int
    masked: bool
    text: str


class SearchHit(BaseModel):
    rank: int
    score: float
    doc_id: str | None = None
    title: str | None
    path: str
    chunk_index: int
    text: str
    explain: dict | None = None


class SearchResult(BaseModel):
    query: str
    mode: str
    hits: list[SearchHit]
    note: str | None = None


_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_name(filename: str) -> str:
    """The last path component of an uploaded name, without control characters or separators."""
    name = unicodedata.normalize("NFC", filename.replace("\\", "/").rsplit("/", 1)[-1])
    name = _UNSAFE.sub("_", name).strip(" .")[:200]
    return name or "upload"


async def _receive_file(request: Request, folder: str, max_bytes: int) -> tuple[str, str, str, int]:
    """Stream the multipart field `file` into a hidden part file; (part path, filename, sha256, size)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise Problem(415, "unsupported_media_type", "send the document as multipart/form-data with a field `file`")
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes + 64 * 1024:
        raise Problem(413, "payload_too_large", f"the upload exceeds the maximum of {max_bytes} bytes")
    os.makedirs(folder, exist_ok=True)
    part_path = os.path.join(folder, f".{uuid.uuid4().hex}.part")
    state = {"headers": {}, "field": None, "name": None, "out": None, "size": 0, "hash": hashlib.sha256(), "got": False}
    header = {"field": b"", "value": b""}

    def on_header_field(data, start, end):
        header["field"] += data[start:end]

    def on_header_value(data, start, end):
        header["value"] += data[start:end]

    def on_header_end():
        state["headers"][header["field"].decode("latin-1").lower()] = header["value"]
        header["field"], header["value"] = b"", b""

    def on_headers_finished():
        _, disp = parse_options_header(state["headers"].get("content-disposition", b""))
        field = disp.get(b"name", b"").decode("utf-8", "replace")
        filename = disp.get(b"filename")
        if field == "file" and filename is not None and not state["got"]:
            state["name"] = filename.decode("utf-8", "replace")
            state["out"] = open(part_path, "wb")  # noqa: SIM115 - closed in on_part_end or on failure

    def on_part_data(data, start, end):
        if state["out"] is None:
            return
        chunk = data[start:end]
        state["size"] += len(chunk)
        if state["size"] > max_bytes:
            raise OverflowError
        state["hash"].update(chunk)
        state["out"].write(chunk)

    def on_part_end():
        if state["out"] is not None:
            state["out"].close()
            state["out"], state["got"] = None, True
        state["headers"] = {}

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
    except OverflowError as exc:
        raise Problem(413, "payload_too_large", f"the upload exceeds the maximum of {max_bytes} bytes") from exc
    except Problem:
        raise
    except Exception as exc:
        raise Problem(400, "malformed_upload", f"the multipart body is malformed: {type(exc).__name__}") from exc
    finally:
        if state["out"] is not None:
            state["out"].close()
        if not state["got"] and os.path.exists(part_path):
            os.unlink(part_path)
    if not state["got"]:
        raise Problem(422, "invalid_request", "no file field: send the document in a multipart field named `file`")
    return part_path, state["name"], state["hash"].hexdigest(), state["size"]


def routers():
    r = APIRouter(prefix="/api/v3", tags=["documents"])

    @r.post(
        "/documents",
        response_model=Upload,
        status_code=202,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["file"],
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            }
        },
    )
    async def upload(request: Request, principal: Principal = Depends(require("documents:write"))):
        """Upload a document (multipart field `file`) into the landing zone; ingestion picks it up."""
        from dwc_pipelines.ingestion.ingest import doc_id_for

        svc = service(request)
        landing = svc.platform.resources["landing"].path
        limit = min(svc.settings.max_upload_bytes, svc.platform.resources["landing"].max_file_bytes)
        part, filename, digest, size = await _receive_file(request, os.path.join(landing, ".uploads"), limit)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        relpath = f"api/{day}/{uuid.uuid4().hex[:8]}-{safe_name(filename)}"
        final = os.path.join(landing, relpath)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(part, final)  # atomic: the landing sensor never sees half a file
        doc_id = doc_id_for(relpath)
        with svc.engine.begin() as con:
            con.execute(
                store.uploads.insert().values(
                    doc_id=doc_id,
                    source_path=relpath,
                    content_hash=digest,
                    size_bytes=size,
                    filename=filename,
                    uploaded_by=principal.username,
                    uploaded_at=time.time(),
                )
            )
        request.state.audit_detail = {"doc_id": doc_id, "size_bytes": size}
        await svc.hub.publish({"topic": "documents", "type": "document_uploaded", "doc_id": doc_id, "size_bytes": size})
        return {
            "id": doc_id,
            "source_path": relpath,
            "filename": filename,
            "content_hash": digest,
            "size_bytes": size,
            "status": "pending",
            "status_url": f"{svc.settings.public_url}/api/v3/documents/{doc_id}",
        }

    @r.get("/documents/{doc_id}", response_model=Document)
    async def document(doc_id: str, request: Request, principal: Principal = Depends(require("documents:read"))):
        """Status, versions, quarantine reason, the runs that wrote it, the lake snapshot and its anchor proof."""
        return await run_in_threadpool(_document, service(request), doc_id, principal.masked)

    @r.get("/documents/{doc_id}/text", response_model=DocumentText)
    async def text(doc_id: str, request: Request, principal: Principal = Depends(require("documents:read"))):
        """The current text (masked for analysts, as in the analyst lake)."""
        svc = service(request)

        def read():
            with svc.platform.reader(masked=principal.masked) as con:
                return con.execute(
                    "SELECT version, text FROM docs.documents WHERE doc_id = ? AND is_current AND status = 'active'",
                    [doc_id],
                ).fetchone()

        row = await run_in_threadpool(read)
        if row is None:
            raise Problem(
                404, "not_found", f"no current text for document {doc_id} (not ingested, quarantined or deleted)"
            )
        return {"id": doc_id, "version": row[0], "masked": principal.masked, "text": row[1] or ""}

    @r.get("/search", response_model=SearchResult)
    async def search_route(
        request: Request,
        q: str = Query(min_length=1, max_length=500),
        k: int = Query(10, ge=1, le=100),
        mode: str = Query("hybrid", pattern="^(hybrid|semantic|keyword)$"),
        explain: bool = False,
        principal: Principal = Depends(require("search")),
    ):
        """Hybrid search (BM25 and vectors fused) with the relevance cutoff of `dwc search`; snippets masked for analysts."""
        return await run_in_threadpool(_search, service(request), q, k, mode, explain, principal.masked)

    return [r]


def _document(svc, doc_id: str, masked: bool) -> dict:
    with svc.engine.connect() as con:
        up = con.execute(sa.select(store.uploads).where(store.uploads.c.doc_id == doc_id)).first()
    uploaded = (
        {"filename": up.filename, "by": up.uploaded_by, "at": store.iso(up.uploaded_at), "size_bytes": up.size_bytes}
        if up
        else None
    )
    try:
        with svc.platform.reader(masked=masked) as con:
            return _document_in_lake(con, doc_id, up, uploaded)
    except Problem as exc:
        if exc.slug != "lake_unavailable":
            raise
        if up is None:
            raise Problem(404, "not_found", f"no document {doc_id}") from exc
        return {"id": doc_id, "status": "pending", "source_path": up.source_path, "uploaded": uploaded}


def _document_in_lake(con, doc_id: str, up, uploaded: dict | None) -> dict:
    if True:
        versions = con.execute(
            """SELECT version, content_hash, status, is_current, ingested_at, run_id, source_path, title, format,
                      language, word_count
               FROM docs.documents WHERE doc_id = ? ORDER BY version""",
            [doc_id],
        ).fetchall()
        path = versions[-1][6] if versions else (up.source_path if up else None)
        quarantine = None
        if path is not None:
            q = con.execute(
                """SELECT reason_code, reason, quarantined_at, run_id FROM docs.quarantine
                   WHERE source_path = ? ORDER BY quarantined_at DESC LIMIT 1""",
                [path],
            ).fetchone()
            if q and not any(v[3] and v[2] == "active" for v in versions):
                quarantine = {"reason_code": q[0], "reason": q[1], "at": q[2].isoformat(), "run_id": q[3]}
        snapshot = _snapshot(con) if versions else None
        anchor = _anchor(con, versions[-1][1]) if versions else None
    if not versions and quarantine is None and up is None:
        raise Problem(404, "not_found", f"no document {doc_id}")
    current = next((v for v in versions if v[3]), None)
    status = "quarantined" if quarantine else (current[2] if current else "pending")
    head = current or (versions[-1] if versions else None)
    return {
        "id": doc_id,
        "status": status,
        "source_path": path,
        "title": head[7] if head else None,
        "format": head[8] if head else None,
        "language": head[9] if head else None,
        "word_count": head[10] if head else None,
        "versions": [
            {
                "version": v[0],
                "content_hash": v[1],
                "status": v[2],
                "is_current": v[3],
                "ingested_at": v[4].isoformat(),
                "run_id": v[5],
            }
            for v in versions
        ],
        "quarantine": quarantine,
        "runs": sorted({v[5] for v in versions} | ({quarantine["run_id"]} if quarantine else set())),
        "lake_snapshot": snapshot,
        "anchor": anchor,
        "uploaded": uploaded,
    }


def _snapshot(con) -> int | None:
    """The newest snapshot of the lake catalog this reader sees (what a time-travel read pins)."""
    try:
        return con.execute("SELECT max(snapshot_id) FROM ducklake_snapshots(current_database())").fetchone()[0]
    except Exception:
        return None


def _anchor(con, content_hash: str | None) -> dict | None:
    if not content_hash:
        return None
    try:
        row = con.execute(
            "SELECT * FROM chain.proofs WHERE content_hash = ? ORDER BY 1 DESC LIMIT 1", [content_hash]
        ).fetchone()
        cols = [d[0] for d in con.description]
    except Exception:  # no anchoring yet in this lake
        return None
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in zip(cols, row)} if row else None


def _search(svc, q: str, k: int, mode: str, explain: bool, masked: bool) -> dict:
    import duckdb

    from dwc_pipelines.enrichment import vector_index
    from dwc_pipelines.enrichment.search import MIN_SIMILARITY, indexed_models, search

    embedder = svc.platform.resource("ai").embedder()
    with svc.platform.reader(masked=masked) as con:
        try:
            hits = search(
                con,
                q,
                k,
                mode=mode,
                embedder=embedder,
                index_folder=vector_index.index_dir(svc.platform.lake.work_dir),
                min_similarity=MIN_SIMILARITY,
            )
            models = dict(indexed_models(con)) if mode != "keyword" else {}
        except duckdb.CatalogException as exc:
            raise Problem(
                503,
                "search_index_unavailable",
                "the search tables are not there yet: materialize the enrichment assets (enrich_job)",
            ) from exc
    note = None
    if mode != "keyword" and embedder.model not in models:
        note = f"no chunk is embedded with {embedder.model}: materialize ai/chunk_embeddings for semantic results"
    elif not hits:
        note = "no document is close enough in meaning or matches every term"
    return {
        "query": q,
        "mode": mode,
        "note": note,
        "hits": [
            {
                "rank": i,
                "score": h.score,
                "doc_id": getattr(h, "doc_id", None),
                "title": h.title,
                "path": h.source_path,
                "chunk_index": h.chunk_index,
                "text": h.text,
                "explain": h.explain() if explain else None,
            }
            for i, h in enumerate(hits, 1)
        ],
    }
