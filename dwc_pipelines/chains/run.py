"""Running chain steps over the warehouse (plain Python + SQL, no Dagster).

Each step keeps its results in `chains.<chain>_<step>`, keyed by (doc_id, content_hash,
step_version, provider, model): a step only processes documents that have no successful row
under its current version, so an unchanged chain over unchanged documents costs nothing, and a
changed step redoes exactly what it affects. A failed item is a row with its error, asked again
on the next run; it never fails the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime

from dwc_resources.duck import transaction
from dwc_resources.notify import Message

from ..enrichment.schema import latest_enrichment
from .spec import DOCUMENT_FIELDS, GENERATED_PREFIX, Chain, Step, render

BATCH = 50


def table(chain: Chain, step_name: str) -> str:
    return f"chains.{chain.name}_{step_name}"


def ddl(chain: Chain) -> str:
    stmts = [
        f"""CREATE TABLE IF NOT EXISTS {table(chain, "select")} (
        doc_id VARCHAR NOT NULL, version INTEGER NOT NULL, content_hash VARCHAR NOT NULL, title VARCHAR,
        source_path VARCHAR NOT NULL, select_version VARCHAR NOT NULL, selected_at TIMESTAMP NOT NULL,
        run_id VARCHAR NOT NULL)"""
    ]
    for step in chain.steps:
        stmts.append(f"""CREATE TABLE IF NOT EXISTS {table(chain, step.name)} (
        doc_id VARCHAR NOT NULL,          -- '*' for a chain-wide step (digest, summary notification)
        content_hash VARCHAR NOT NULL,    -- the document's, or a digest of the whole selection
        step_version VARCHAR NOT NULL,    -- follows the spec: a changed step redoes its rows
        provider VARCHAR NOT NULL, model VARCHAR NOT NULL,
        output JSON, status VARCHAR NOT NULL, error VARCHAR,
        run_id VARCHAR NOT NULL, created_at TIMESTAMP NOT NULL)""")
    return ";\n".join(stmts)


# A document's topic from enrichment, and the label the champion classifier predicted for it.
TOPICS = latest_enrichment("topic")
PREDICTED_TOPICS = """SELECT content_hash, arg_max(label, predicted_at) AS predicted_topic FROM ml.document_predictions
                      GROUP BY content_hash"""


def selection_sql(chain: Chain) -> tuple[str, list]:
    """The documents a chain selects, as (doc_id, version, content_hash, title, source_path).

    Generated documents are only selected by a chain that names their chain in `from_chain`, so
    a chain can never select its own output, and loops are caught when specs load."""
    src = chain.select.get("from_chain")
    params: list = []
    where = ["d.is_current", "d.status = 'active'", "d.duplicate_of IS NULL"]
    if src:
        where.append("starts_with(d.source_path, ?)")
        params.append(f"{GENERATED_PREFIX}{src}/")
    else:
        where.append("NOT starts_with(d.source_path, ?)")
        params.append(GENERATED_PREFIX)
    outer = []
    for key in ("topic", "predicted_topic"):
        if key in chain.select:
            outer.append(f"{key} IN ({', '.join('?' for _ in chain.select[key])})")
            params.extend(chain.select[key])
    if "where" in chain.select:
        outer.append(f"({chain.select['where']})")
    limit = f"LIMIT {int(chain.select['limit'])}" if "limit" in chain.select else ""
    # Predictions are joined only when the chain selects on them: a sensor reading the analyst
    # snapshot must work before any model was trained.
    uses_predictions = "predicted_topic" in chain.select or "predicted_topic" in (chain.select.get("where") or "")
    predicted = "p.predicted_topic" if uses_predictions else "NULL AS predicted_topic"
    predicted_join = f"LEFT JOIN ({PREDICTED_TOPICS}) p USING (content_hash)" if uses_predictions else ""
    sql = f"""SELECT doc_id, version, content_hash, title, source_path FROM (
                SELECT d.*, e.topic, {predicted} FROM docs.documents d
                LEFT JOIN ({TOPICS}) e USING (content_hash)
                {predicted_join}
                WHERE {" AND ".join(where)}) d
              {"WHERE " + " AND ".join(outer) if outer else ""}
              ORDER BY source_path {limit}"""
    return sql, params


def selection_digest(rows) -> str:
    h = hashlib.sha256()
    for doc_id, content_hash in sorted((r[0], r[2]) for r in rows):
        h.update(f"{doc_id}\0{content_hash}\n".encode())
    return h.hexdigest()


def run_select(con, chain: Chain, run_id: str) -> dict:
    sql, params = selection_sql(chain)
    rows = con.execute(sql, params).fetchall()
    now = datetime.now(UTC).replace(tzinfo=None)
    with transaction(con):
        con.execute(f"DELETE FROM {table(chain, 'select')}")
        if rows:
            con.executemany(
                f"INSERT INTO {table(chain, 'select')} VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*r, chain.select_version, now, run_id) for r in rows],
            )
    return {"selected": len(rows), "selection_digest": selection_digest(rows)[:16]}


def _documents(con, chain: Chain) -> list[dict]:
    rows = con.execute(f"""
        SELECT d.doc_id, d.title, d.source_path, d.format, d.language, d.word_count, d.author, e.topic,
               p.predicted_topic, d.text, d.content_hash, d.created_at
        FROM {table(chain, "select")} s JOIN docs.documents d USING (doc_id, version)
        LEFT JOIN ({TOPICS}) e ON e.content_hash = d.content_hash
        LEFT JOIN ({PREDICTED_TOPICS}) p ON p.content_hash = d.content_hash
        ORDER BY d.source_path""").fetchall()
    return [dict(zip(DOCUMENT_FIELDS, r)) for r in rows]  # the SELECT above lists them in this order


def _outputs(con, chain: Chain, step: Step, provider) -> dict[tuple[str, str], dict]:
    rows = con.execute(
        f"""SELECT doc_id, content_hash, output FROM {table(chain, step.name)}
            WHERE step_version = ? AND provider = ? AND model = ? AND status = 'ok'""",
        [step.version, provider.name, provider.model],
    ).fetchall()
    return {(d, c): json.loads(o) if isinstance(o, str) else o for d, c, o in rows}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:60] or "document"


def write_generated(landing_root: str, chain: Chain, step: Step, name: str, title: str, text: str) -> str:
    """A generated document, written into the landing zone so ingestion takes it in like any
    other; rewritten only when its content changed, so re-runs make no new version."""
    rel = f"{chain.generated_prefix}{step.name}/{name}.md"
    body = text if text.lstrip().startswith("# ") else f"# {title}\n\n{text}"
    body = body.rstrip() + "\n"
    path = os.path.join(landing_root, *rel.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == body:
                return rel
    except FileNotFoundError:
        pass
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp")  # hidden: the scan skips it
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(body)
    os.replace(tmp, path)
    return rel


class StepContext:
    """What a step needs besides the warehouse: the provider, the landing zone and the notifier."""

    def __init__(
        self,
        provider,
        run_id: str,
        landing_root: str | None = None,
        notifier=None,
        log: Callable[[str], None] = print,
        chain=None,
    ):
        self.provider, self.run_id, self.landing_root, self.notifier, self.log = (
            provider,
            run_id,
            landing_root,
            notifier,
            log,
        )
        self.chain = chain  # dwc_resources.chain.ChainResource, for certify steps
        self.certified: dict[str, dict] = {}


def _variables(doc: dict, earlier: dict[str, dict]) -> tuple[dict, str | None]:
    variables = dict(doc)
    for name, outputs in earlier.items():
        out = outputs.get((doc["doc_id"], doc["content_hash"]))
        if out is None:
            return variables, f"step '{name}' has no result for this document"
        variables[name] = out
    return variables, None


def _document_steps_used(step: Step, earlier_steps: list[Step]) -> list[Step]:
    """Earlier per-document steps whose outputs this step's per-document templates name."""
    keys = ("item_template",) if step.per == "chain" else ("template", "title", "subject")
    text = " ".join(str(step.options.get(k, "")) for k in keys)
    return [
        s for s in earlier_steps if s.per == "document" and re.search(r"{{\s*" + re.escape(s.name) + r"[.\s}]", text)
    ]


def _apply(ctx: StepContext, chain: Chain, step: Step, docs: list[dict], variables: list[dict]) -> list[dict]:
    """One batch through the step's task: a result per document, in order."""
    p, o = ctx.provider, step.options
    texts = [d["text"] or "" for d in docs]
    if step.uses == "summarize":
        return p.summarize(texts, o.get("max_sentences", 3))
    if step.uses == "classify":
        return p.classify(texts, {k: tuple(v) for k, v in o["labels"].items()})
    if step.uses == "extract":
        return p.extract(texts, o["fields"])
    if step.uses == "generate":
        results = p.generate([render(o["template"], v) for v in variables])
        for doc, v, r in zip(docs, variables, results):
            if r["status"] == "ok":
                title = render(o["title"], v).strip() or "Untitled"
                # Named after the source, not the title: a changed template rewrites the same
                # document (a new version), it does not leave the old one behind.
                name = (
                    step.name
                    if step.per == "chain"
                    else (
                        f"{_slug(os.path.splitext(os.path.basename(doc['source_path']))[0])}-"
                        f"{hashlib.sha256(doc['doc_id'].encode()).hexdigest()[:8]}"
                    )
                )
                path = write_generated(ctx.landing_root, chain, step, name, title, r["value"]["text"])
                r["value"] = {"title": title, "text": r["value"]["text"], "path": path}
        return results
    if step.uses == "notify":
        results = []
        for doc, v in zip(docs, variables):
            key = f"{chain.name}/{step.name}/{step.version}/{doc['doc_id']}/{doc['content_hash']}"
            message = Message(
                subject=render(o["subject"], v).strip(),
                body=render(o["template"], v),
                idempotency_key=key,
                source=f"chain {chain.name} step {step.name}",
                to=list(o.get("to", [])),
            )
            deliveries = ctx.notifier.send(message, o["channels"])
            bad = [f"{d.channel}: {d.error}" for d in deliveries if d.status == "failed"]
            value = {
                "delivered": [d.channel for d in deliveries if d.status in ("delivered", "duplicate")],
                "failed": [d.channel for d in deliveries if d.status == "failed"],
                "not_configured": [d.channel for d in deliveries if d.status == "not_configured"],
            }
            results.append({"status": "failed" if bad else "ok", "value": value, "error": "; ".join(bad) or None})
        return results
    if step.uses == "certify":
        results = []
        for doc in docs:
            r = ctx.certified.get(doc["content_hash"], {"status": "failed", "error": "not certified"})
            value = {k: r.get(k) for k in ("token_id", "network", "tx_hash")} if r["status"] == "ok" else None
            results.append(
                {"status": "ok" if r["status"] == "ok" else "failed", "value": value, "error": r.get("error")}
            )
        return results
    raise ValueError(f"unknown step kind {step.uses}")


def _certify(con, chain: Chain, step: Step, ctx: StepContext, pending: list) -> None:
    """Mint before the step's transaction: each mint commits its own ledger rows (sent before recorded)."""
    from dwc_pipelines.anchoring import certify
    from dwc_pipelines.anchoring.schema import DDL as CHAIN_DDL

    if ctx.chain is None:
        raise ValueError(f"chain {chain.name}, step {step.name}: a certify step needs the chain resource")
    items = [(d["content_hash"], d["doc_id"]) for d, _, missing in pending if missing is None]
    if not items:
        return
    con.execute(CHAIN_DDL)
    network = step.options.get("network") or ctx.chain.names()[0]
    with ctx.chain.network(network) as net:
        ctx.certified = certify.certify_many(
            con, net, items, f"chain {chain.name} step {step.name}", ctx.run_id, step.options.get("recipient"), ctx.log
        )


def run_step(con, chain: Chain, step: Step, ctx: StepContext) -> dict:
    """Process every selected document (or the selection as a whole) that has no successful
    result under this step's version; one transaction."""
    index = chain.steps.index(step)
    earlier_steps = chain.steps[:index]
    p = ctx.provider
    model = p.model if step.uses not in ("notify", "certify") else "-"
    provider_name = p.name if step.uses not in ("notify", "certify") else "-"
    docs = _documents(con, chain)
    done_keys = {
        (d, c)
        for d, c in con.execute(
            f"""SELECT doc_id, content_hash FROM {table(chain, step.name)}
            WHERE step_version = ? AND provider = ? AND model = ? AND status = 'ok'""",
            [step.version, provider_name, model],
        ).fetchall()
    }
    earlier = {s.name: _outputs(con, chain, s, p) for s in _document_steps_used(step, earlier_steps)}
    now = datetime.now(UTC).replace(tzinfo=None)
    stats = {"selected": len(docs), "processed": 0, "failed": 0, "up_to_date": 0}

    if step.per == "chain":
        work = _chain_item(con, chain, step, docs, earlier, earlier_steps, p)
        pending = [] if work is None or (work[0]["doc_id"], work[0]["content_hash"]) in done_keys else [work]
        stats["up_to_date"] = 1 - len(pending) if work else 0
    else:
        pending = []
        for doc in docs:
            if (doc["doc_id"], doc["content_hash"]) in done_keys:
                stats["up_to_date"] += 1
                continue
            pending.append((doc, *_variables(doc, earlier)))
    if step.uses == "certify":
        _certify(con, chain, step, ctx, pending)
    with transaction(con):
        con.execute(
            f"""DELETE FROM {table(chain, step.name)} WHERE status <> 'ok' AND step_version = ?
                        AND provider = ? AND model = ?""",
            [step.version, provider_name, model],
        )
        for start in range(0, len(pending), BATCH):
            batch = pending[start : start + BATCH]
            ready = [(d, v) for d, v, missing in batch if missing is None]
            results = iter(_apply(ctx, chain, step, [d for d, _ in ready], [v for _, v in ready]) if ready else [])
            rows = []
            for doc, _, missing in batch:
                r = {"status": "failed", "value": None, "error": missing} if missing else next(results)
                rows.append(
                    (
                        doc["doc_id"],
                        doc["content_hash"],
                        step.version,
                        provider_name,
                        model,
                        json.dumps(r["value"], default=str) if r["value"] is not None else None,
                        r["status"],
                        r["error"],
                        ctx.run_id,
                        now,
                    )
                )
                stats["processed"] += 1
                stats["failed"] += r["status"] != "ok"
            con.executemany(f"INSERT INTO {table(chain, step.name)} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            ctx.log(f"{chain.name}/{step.name}: {stats['processed']:,}/{len(pending):,} done, {stats['failed']} failed")
    return stats


def _chain_item(con, chain: Chain, step: Step, docs: list[dict], earlier: dict, earlier_steps: list[Step], provider):
    """The selection as one item: its variables are the chain's, `items` renders each document."""
    if not docs:
        return None
    digest = selection_digest([(d["doc_id"], None, d["content_hash"]) for d in docs])
    items = []
    for doc in docs:
        v, missing = _variables(doc, earlier)
        if missing is None and step.options.get("item_template"):
            items.append(render(step.options["item_template"], v).rstrip())
    variables = {
        "chain": chain.name,
        "count": len(docs),
        "items": "\n".join(items),
        "date": datetime.now(UTC).date().isoformat(),
    }
    for s in earlier_steps:
        if s.per == "chain":
            row = con.execute(
                f"""SELECT output FROM {table(chain, s.name)} WHERE doc_id = '*' AND content_hash = ? AND step_version = ?
                    AND status = 'ok' ORDER BY created_at DESC LIMIT 1""",
                [digest, s.version],
            ).fetchall()
            variables[s.name] = json.loads(row[0][0]) if row else None
    item = {"doc_id": "*", "content_hash": digest, "text": variables["items"]}
    return item, variables, None
