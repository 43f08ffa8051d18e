import hashlib
import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.duck import transaction
from dwc_resources.landing import DropFolderResource
from dwc_resources.xr_tools import XRToolsResource

from ..automation import eager
from ..enrichment.assets import DOCUMENT_ENRICHMENT
from ..enrichment.schema import latest_enrichment
from ..ingestion.assets import DOCUMENTS, OWNERS
from ..ingestion.schema import DDL as DOCS_DDL
from ..plots import png_chart
from ..shared import markdown_table, utcnow
from ..tables import materialized_schema
from . import scenes, sessions
from .publish import SCENES_DDL, publish

DOCUMENT_MAP = dg.AssetKey(["xr", "document_map"])
DEVICE_TWIN = dg.AssetKey(["xr", "device_twin"])
WORKFLOW_MAP = dg.AssetKey(["xr", "workflow_map"])
SESSION_EVENTS = dg.AssetKey(["xr", "session_events"])
SESSION_MARTS = dg.AssetKey(["xr", "session_marts"])
IOT_DEVICES = dg.AssetKey(["iot", "devices"])
CHAINS_REGISTRY = dg.AssetKey(["chains", "registry"])

DOCS_SQL = f"""
SELECT d.doc_id, coalesce(d.title, d.source_path) AS title, e.topic, d.word_count, e.embedding
FROM docs.documents d JOIN ({latest_enrichment("topic", "embedding")}) e USING (content_hash)
WHERE d.is_current AND d.status = 'active' AND d.duplicate_of IS NULL
"""


class SceneConfig(dg.Config):
    instancing_threshold: int = Field(default=256, description="Above this many items, one instanced node per group")
    screenshot: bool = Field(default=True, description="Render the viewer page in headless Chromium when installed")


def _result(outcome: dict) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata=outcome["metadata"], data_version=dg.DataVersion(outcome["sha256"]))


@dg.asset(
    key=DOCUMENT_MAP,
    deps=[DOCUMENTS, DOCUMENT_ENRICHMENT],
    group_name="xr",
    kinds={"gltf", "duckdb"},
    owners=OWNERS,
    automation_condition=eager(),
)
def document_map(
    context: dg.AssetExecutionContext, config: SceneConfig, warehouse: LakehouseResource, xr_tools: XRToolsResource
) -> dg.MaterializeResult:
    """A 3D map of the documents: placed by their embeddings, coloured by topic, sized by length (GLB)."""
    with warehouse.writer(f"{DOCS_DDL};{SCENES_DDL}") as con:
        rows = con.execute(DOCS_SQL).fetchall()
        docs = [{"doc_id": r[0], "title": r[1], "topic": r[2], "word_count": r[3], "embedding": r[4]} for r in rows]
        data, stats = scenes.document_map(docs, config.instancing_threshold)
        context.log.info(f"document map: {stats.items} documents, {stats.bytes:,} bytes")
        outcome = publish(
            con,
            xr_tools,
            "document_map",
            data,
            stats,
            "DWC document map",
            f"{stats.items} documents, coloured by topic",
            context.run.run_id,
            config.screenshot,
            context.log.info,
        )
    return _result(outcome)


@dg.asset(
    key=DEVICE_TWIN,
    deps=[IOT_DEVICES],
    group_name="xr",
    kinds={"gltf", "duckdb"},
    owners=OWNERS,
    automation_condition=eager(),
)
def device_twin(
    context: dg.AssetExecutionContext, config: SceneConfig, warehouse: LakehouseResource, xr_tools: XRToolsResource
) -> dg.MaterializeResult:
    """The IoT fleet as a digital twin: devices by location, coloured by health, latest readings attached (GLB)."""
    with warehouse.writer(SCENES_DDL) as con:
        try:
            rows = con.execute(
                "SELECT device_id, type, location, lat, lon, status, firmware, latest FROM iot.devices"
            ).fetchall()
        except Exception as exc:  # no telemetry loaded yet: an empty twin, not a failure
            context.log.info(f"no device registry yet ({str(exc).splitlines()[0]})")
            rows = []
        devices = [
            {
                "device_id": r[0],
                "type": r[1],
                "location": r[2],
                "lat": r[3],
                "lon": r[4],
                "status": r[5],
                "firmware": r[6],
                "latest": _latest(r[7]),
            }
            for r in rows
        ]
        data, stats = scenes.device_twin(devices)
        outcome = publish(
            con,
            xr_tools,
            "device_twin",
            data,
            stats,
            "DWC device twin",
            f"{stats.items} devices, coloured by health",
            context.run.run_id,
            config.screenshot,
            context.log.info,
        )
    return _result(outcome)


def _latest(value) -> dict:
    if not value:
        return {}
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except ValueError:
        return {}
    return (
        {k: (v.get("value") if isinstance(v, dict) else v) for k, v in parsed.items()}
        if isinstance(parsed, dict)
        else {}
    )


@dg.asset(
    key=WORKFLOW_MAP,
    deps=[CHAINS_REGISTRY],
    group_name="xr",
    kinds={"gltf", "duckdb"},
    owners=OWNERS,
)
def workflow_map(
    context: dg.AssetExecutionContext, config: SceneConfig, warehouse: LakehouseResource, xr_tools: XRToolsResource
) -> dg.MaterializeResult:
    """Every workflow chain's asset graph in 3D, each step coloured by freshness and failures (GLB)."""
    from ..chains.assets import chains_dir, step_key
    from ..chains.run import table
    from ..chains.spec import load_chains

    chains = []
    with warehouse.writer(SCENES_DDL) as con:
        specs = load_chains(chains_dir())[0]
        by_name = {c.name: c for c in specs}
        for chain in specs:
            keys = [step_key(chain, "select")] + [step_key(chain, s.name) for s in chain.steps]
            versions = {"select": None, **{s.name: s.version for s in chain.steps}}
            last = {}
            for key in keys:
                event = context.instance.get_latest_materialization_event(key)
                last[key] = event.timestamp if event else None
            nodes = []
            for i, key in enumerate(keys):
                name = key.path[-1]
                failed, rows = _step_counts(con, table(chain, name), versions[name])
                nodes.append(
                    {
                        "key": key.to_user_string(),
                        "label": f"{chain.name} / {name}",
                        "rows": rows,
                        "failed": failed,
                        "status": scenes.workflow_status(last[key], [last[keys[i - 1]]] if i else [], failed),
                    }
                )
            edges = [(keys[i].to_user_string(), keys[i + 1].to_user_string()) for i in range(len(keys) - 1)]
            src = by_name.get(chain.select.get("from_chain"))
            if src:  # a chain fed by another: its generate steps' documents come back to this selection
                edges += [
                    (step_key(src, s.name).to_user_string(), keys[0].to_user_string())
                    for s in src.steps
                    if s.uses == "generate"
                ]
            chains.append({"name": chain.name, "nodes": nodes, "edges": edges})
        data, stats = scenes.workflow_map(chains)
        outcome = publish(
            con,
            xr_tools,
            "workflow_map",
            data,
            stats,
            "DWC workflow map",
            f"{len(chains)} chains, {stats.items} steps, coloured by freshness",
            context.run.run_id,
            config.screenshot,
            context.log.info,
        )
    return _result(outcome)


def _step_counts(con, name: str, version: str | None) -> tuple[int, int]:
    try:
        if version is None:
            return 0, con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0]
        return tuple(
            con.execute(
                f"SELECT count(*) FILTER (WHERE status <> 'ok'), count(*) FROM {name} WHERE step_version = ?", [version]
            ).fetchall()[0]
        )
    except Exception:  # the step never ran: no table yet
        return 0, 0


@dg.asset(
    key=SESSION_EVENTS,
    group_name="xr",
    kinds={"duckdb", "python"},
    owners=OWNERS,
)
def session_events(
    context: dg.AssetExecutionContext, warehouse: LakehouseResource, xr_events_folder: DropFolderResource
) -> dg.MaterializeResult:
    """XR session events (JSON lines) from the XR events landing, validated; bad lines quarantined with a reason."""
    root = Path(xr_events_folder.path)
    files = sorted(p for p in root.rglob("*.jsonl") if p.is_file()) if root.is_dir() else []
    now = utcnow()
    loaded = quarantined = duplicates = skipped = 0
    with warehouse.writer(f"{DOCS_DDL};{sessions.DDL}") as con:
        known = dict(con.execute("SELECT event_id, source_file FROM xr.session_events").fetchall())
        for path in files:
            rel = path.relative_to(root).as_posix()
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if con.execute(
                "SELECT 1 FROM xr.event_files WHERE source_file = ? AND sha256 = ?", [rel, digest]
            ).fetchall():
                skipped += 1
                continue
            events, bad = sessions.read_file(data)
            st = path.stat()
            with transaction(con):
                # A file that changed is reloaded whole: its old rows go first (idempotent by file).
                con.execute("DELETE FROM xr.session_events WHERE source_file = ?", [rel])
                con.execute("DELETE FROM xr.events_quarantine WHERE source_file = ?", [rel])
                con.execute("DELETE FROM xr.event_files WHERE source_file = ?", [rel])
                known = {e: f for e, f in known.items() if f != rel}
                rows = []
                for line, e in events:
                    if e["event_id"] in known:
                        duplicates += 1
                        continue
                    known[e["event_id"]] = rel
                    rows.append(
                        (
                            e["event_id"],
                            e["session_id"],
                            e["ts"],
                            e["type"],
                            e["scene"],
                            e["target"],
                            e["device"],
                            e["user_id"],
                            e["gesture"],
                            e["duration_ms"],
                            rel,
                            line,
                            now,
                            context.run.run_id,
                        )
                    )
                if rows:
                    con.executemany(
                        "INSERT INTO xr.session_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows
                    )
                if bad:
                    con.executemany(
                        "INSERT INTO xr.events_quarantine VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(rel, line, code, reason, raw, now, context.run.run_id) for line, code, reason, raw in bad],
                    )
                con.execute(
                    "INSERT INTO xr.event_files VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [rel, st.st_size, st.st_mtime_ns, digest, len(rows), len(bad), now, context.run.run_id],
                )
            loaded += len(rows)
            quarantined += len(bad)
            context.log.info(f"{rel}: {len(rows)} events, {len(bad)} quarantined")
        total = con.execute("SELECT count(*) FROM xr.session_events").fetchall()[0][0]
        reasons = con.execute(
            "SELECT reason_code, count(*) FROM xr.events_quarantine GROUP BY 1 ORDER BY 2 DESC, 1"
        ).fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "loaded_this_run": loaded,
            "quarantined_this_run": quarantined,
            "duplicates_dropped": duplicates,
            "files_unchanged": skipped,
            "landing": str(root),
            "quarantine_by_reason": dg.MetadataValue.md(markdown_table(["reason", "lines"], reasons)),
        }
    )


@dg.asset(
    key=SESSION_MARTS,
    deps=[SESSION_EVENTS, DOCUMENTS],
    group_name="xr",
    kinds={"duckdb", "sql"},
    owners=OWNERS,
    automation_condition=eager(),
)
def session_marts(context: dg.AssetExecutionContext, warehouse: LakehouseResource) -> dg.MaterializeResult:
    """XR marts: sessions (duration, interactions), dwell time per scene node, most-viewed documents."""
    with warehouse.writer(f"{DOCS_DDL};{sessions.DDL}") as con:
        with transaction(con):
            for statement in sessions.MARTS.split(";"):
                if statement.strip():
                    con.execute(statement, {"run_id": context.run.run_id})
        n_sessions, interactions, avg_s = con.execute(
            "SELECT count(*), coalesce(sum(interactions), 0), coalesce(avg(duration_s), 0) FROM xr.sessions"
        ).fetchall()[0]
        top_nodes = con.execute(
            "SELECT scene, target, round(dwell_s, 1), gazes FROM xr.node_dwell ORDER BY dwell_s DESC, target LIMIT 10"
        ).fetchall()
        top_docs = con.execute(
            "SELECT rank, title, round(dwell_s, 1), gazes, interactions FROM xr.document_views "
            "ORDER BY rank, doc_id LIMIT 10"
        ).fetchall()
        per_session = con.execute(
            "SELECT session_id, interactions FROM xr.sessions ORDER BY started_at, session_id"
        ).fetchall()
        by_device = con.execute(
            "SELECT coalesce(device, '?'), count(*) FROM xr.sessions GROUP BY 1 ORDER BY 1"
        ).fetchall()
        # Built by CREATE TABLE AS: the columns come from the tables as they stand.
        tables = {t: materialized_schema(con, t) for t in ("xr.sessions", "xr.node_dwell", "xr.document_views")}
    meta = {
        **tables["xr.sessions"],
        **{f"columns/{t}": m["dagster/column_schema"] for t, m in tables.items() if t != "xr.sessions"},
        "sessions": n_sessions,
        "interactions": int(interactions),
        "avg_session_s": round(float(avg_s), 1),
        "top_nodes_by_dwell": dg.MetadataValue.md(markdown_table(["scene", "node", "dwell (s)", "gazes"], top_nodes)),
        "most_viewed_documents": dg.MetadataValue.md(
            markdown_table(["rank", "document", "dwell (s)", "gazes", "interactions"], top_docs)
        ),
    }
    if top_docs:
        meta["dwell_chart"] = dg.MetadataValue.md(
            png_chart(
                {"dwell (s)": [(str(t)[:24], d) for _, t, d, _, _ in top_docs]},
                "Most-viewed documents: dwell time",
                "s",
                kind="bar",
            )
        )
    if per_session:
        meta["interactions_chart"] = dg.MetadataValue.md(
            png_chart(
                {"interactions": [(s[-6:], i) for s, i in per_session]}, "Interactions per session", "count", kind="bar"
            )
        )
    if by_device:
        meta["sessions_by_device"] = dg.MetadataValue.json(dict(by_device))
    return dg.MaterializeResult(metadata=meta)


xr_assets = [document_map, device_twin, workflow_map, session_events, session_marts]
