"""`dwc`: the demo, SQL for analysts, and a status summary."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from datetime import UTC
from pathlib import Path

import duckdb

from dwc_resources.lakehouse import dwc_home

from .cli_support import (
    dagster_instance,
    ensure_dagster_home,
    fail,
    lakehouse,
    outcome,
    print_json,
    read_analyst,
    run_job,
)

EXAMPLE_QUERY = (
    "SELECT format, count(*) AS docs, sum(word_count) AS words FROM docs.documents "
    "WHERE is_current AND status = 'active' GROUP BY format ORDER BY docs DESC"
)


def _at(value: str) -> dict:
    return {"snapshot_version": int(value)} if value.isdigit() else {"snapshot_time": value}


_READ_ONLY = ("read-only", "read only", "readonly")


def cmd_sql(args) -> int:
    # Analysts read the masked analyst lake. --unmasked reads the lake itself: the privileged path,
    # for whoever may reach its catalog and data path. --at reads the lake as of a snapshot (an id
    # from a materialization's dwc/lake_snapshot, or a timestamp), masked unless --unmasked.
    lake = lakehouse()
    if args.print_attach:
        print(lake.print_attach())
        return 0
    if not args.query:
        print("dwc sql: give a query (or --print-attach)", file=sys.stderr)
        return 2
    try:
        if args.unmasked or args.at:
            ctx = lake.unmasked_reader(**(_at(args.at) if args.at else {}))
        else:
            ctx = lake.reader()
        with ctx as con:
            if args.at and not args.unmasked:
                _mask_in_place(con, lake.mask_personal_data)
            rel = con.sql(args.query)
            if rel is None:
                print("(statement executed; nothing to show)")
                return 0
            if args.json:
                print_json([dict(zip(rel.columns, row)) for row in rel.fetchmany(args.max_rows)])
            else:
                rel.show(max_rows=args.max_rows, max_width=args.max_width)
    except FileNotFoundError as exc:
        return fail("sql", str(exc))
    except Exception as exc:  # duckdb errors: show the message, not a traceback
        if any(word in str(exc).lower() for word in _READ_ONLY):
            which = "lake (--unmasked/--at)" if args.unmasked or args.at else "analyst lake"
            return fail(
                "sql",
                f"the {which} is read-only here: `dwc sql` only reads. Tables are written by the "
                "assets that own them (materialise them in the UI or with `dagster job execute`); "
                "a data subject is removed with `dwc erase`",
            )
        return fail("sql", f"{type(exc).__name__}: {exc}")
    return 0


def _mask_in_place(con, mask: bool) -> None:
    """A past snapshot of the lake seen through masking views (schema.table as in the analyst lake)."""
    from dwc_resources.duck import masked_select, table_names

    con.execute("ATTACH ':memory:' AS masked")
    for name in table_names(con, "lake"):
        schema, table = name.split(".")
        con.execute(f"CREATE SCHEMA IF NOT EXISTS masked.{schema}")
        source = masked_select(con, schema, table, "lake") if mask else f"lake.{schema}.{table}"
        con.execute(f"CREATE VIEW masked.{schema}.{table} AS SELECT * FROM {source}")
    con.execute("USE masked")


def cmd_migrate_warehouse(args) -> int:
    from dwc_resources.lakehouse import migrate_file

    path = args.source or os.path.join(dwc_home(), "warehouse.duckdb")
    try:
        done = migrate_file(lakehouse(), path)
    except FileNotFoundError as exc:
        return fail("migrate-warehouse", str(exc))
    copied = [d for d in done if d["copied"]]
    print(
        f"{len(done)} tables in {path}: {len(copied)} copied into the lake, {len(done) - len(copied)} already "
        f"identical (rows and checksum); {sum(d['rows'] for d in done):,} rows in all"
    )
    return 0


def cmd_search(args) -> int:
    from dwc_pipelines.enrichment import vector_index
    from dwc_pipelines.enrichment.search import MIN_SIMILARITY, indexed_models, search
    from dwc_pipelines.resources import ai_resource

    cutoff = MIN_SIMILARITY if args.min_similarity is None else args.min_similarity

    embedder = ai_resource().process_config_and_initialize().embedder()
    try:
        with read_analyst() as con:
            hits = search(
                con,
                args.query,
                args.k,
                mode=args.mode,
                embedder=embedder,
                index_folder=vector_index.index_dir(lakehouse().work_dir),
                min_similarity=None if cutoff < 0 else cutoff,
            )
            models = dict(indexed_models(con)) if args.mode != "keyword" else {}
    except (FileNotFoundError, duckdb.CatalogException) as exc:
        return fail("search", str(exc))
    if args.mode != "keyword" and embedder.model not in models:
        held = ", ".join(models) or "none"
        print(
            f"note: no chunk is embedded with {embedder.model} (the lake holds: {held}); materialize "
            "ai/chunk_embeddings for semantic results",
            file=sys.stderr,
        )
    if args.json:
        print_json(
            [
                {
                    "rank": rank,
                    "score": h.score,
                    "title": h.title,
                    "path": h.source_path,
                    "chunk_index": h.chunk_index,
                    "text": h.text,
                    **({"explain": h.explain()} if args.explain else {}),
                }
                for rank, h in enumerate(hits, 1)
            ]
        )
        return 0
    if not hits:
        print(f"no results for {args.query!r}: no document is close enough in meaning or matches every term")
    for rank, h in enumerate(hits, 1):
        snippet = " ".join(h.text.split())[:160]
        print(
            f"{rank}. {h.score:.3f}  {h.title or h.source_path}  ({h.source_path}, chunk {h.chunk_index})\n   {snippet}"
        )
        if args.explain:
            e = h.explain()
            vec = (
                f"vector rank {e['vector_rank']} (cosine {e['similarity']}, rrf {e['vector_rrf']})"
                if e["vector_rank"]
                else (f"vector: not in the top candidates (cosine {e['similarity']})")
            )
            kw = (
                f"keyword rank {e['keyword_rank']} (bm25 {e['bm25']}, rrf {e['keyword_rrf']})"
                if e["keyword_rank"]
                else ("keyword: no query term")
            )
            print(f"   {vec}; {kw}; {e['terms_matched']} of the query's terms matched")
    return 0


def cmd_ingest_report(args) -> int:
    """What ingestion made of the landing zone: current documents per format, quarantined files per
    reason (the latest verdict on each file), children of containers, OCR'd and truncated texts."""
    try:
        with read_analyst() as con:
            formats = con.execute(
                """SELECT format, count(*) AS documents, count(*) FILTER (parent_doc_id IS NOT NULL) AS children,
                          coalesce(sum(word_count), 0) AS words
                   FROM docs.documents WHERE is_current AND status = 'active' GROUP BY 1 ORDER BY 2 DESC, 1"""
            ).fetchall()
            reasons = con.execute(
                """SELECT reason_code, count(*) AS files, any_value(reason) AS example FROM (
                       SELECT q.* FROM docs.quarantine q
                       LEFT JOIN docs.sources s USING (source_path)
                       WHERE s.status IS NULL OR s.status = 'quarantined'
                       QUALIFY row_number() OVER (PARTITION BY source_path ORDER BY quarantined_at DESC) = 1)
                   GROUP BY 1 ORDER BY 2 DESC, 1"""
            ).fetchall()
            ocr, truncated = con.execute(
                """SELECT count(*) FILTER (list_contains(list_transform(pages, p -> p.source), 'ocr')),
                          count(*) FILTER (text_truncated)
                   FROM docs.documents WHERE is_current AND status = 'active'"""
            ).fetchall()[0]
    except (FileNotFoundError, duckdb.CatalogException, duckdb.BinderException) as exc:
        return fail("ingest-report", f"{str(exc).splitlines()[0]} (materialise docs/documents first: make demo)")
    report = {
        "formats": [{"format": f, "documents": n, "children": c, "words": w} for f, n, c, w in formats],
        "quarantine": [{"reason_code": r, "files": n, "example": e} for r, n, e in reasons],
        "documents_with_ocr_pages": ocr,
        "documents_with_truncated_text": truncated,
    }
    if args.json:
        print_json(report)
        return 0
    print(f"Current documents by format ({sum(n for _, n, _, _ in formats):,}):")
    for f, n, c, w in formats:
        print(f"  {f:<10} {n:>7,}" + (f"  ({c:,} from archives or attachments)" if c else "") + f"  {w:>12,} words")
    print(f"  pages read by OCR in {ocr:,} documents; text cut at max_text_chars in {truncated:,}")
    print(f"\nQuarantined files by reason ({sum(n for _, n, _ in reasons):,}; docs/reason-codes.md says what to do):")
    for r, n, e in reasons:
        print(f"  {r:<24} {n:>6,}  e.g. {e}")
    return 0


def cmd_demo(args) -> int:
    # MLflow's INFO lines (creating its tables, ...) between the step lines: the demo says what it does itself.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    embedded = None
    if not os.environ.get("DWC_MQTT_HOST"):
        # No broker configured: an embedded one for the demo fleet (before the definitions read the env).
        from dwc_pipelines.iot.embedded import EmbeddedBroker

        embedded = EmbeddedBroker().start()
        os.environ["DWC_MQTT_HOST"], os.environ["DWC_MQTT_PORT"] = embedded.host, str(embedded.port)
        print(f"started an embedded MQTT broker (amqtt) on {embedded.host}:{embedded.port} for the demo fleet")
    try:
        return _demo(args)
    finally:
        if embedded:
            embedded.stop()
            del os.environ["DWC_MQTT_HOST"], os.environ["DWC_MQTT_PORT"]


def _demo(args) -> int:
    from dwc_pipelines.definitions import defs
    from dwc_pipelines.iot.demo import run_fleet
    from dwc_pipelines.progress import clock, run_with_progress
    from dwc_resources import LandingZoneResource

    ensure_dagster_home()
    landing = LandingZoneResource.local().path
    samples = Path(args.samples)
    if not samples.is_dir():
        return fail("demo", f"no sample corpus at {samples}")
    started = time.monotonic()

    def stage(k: int, what: str) -> None:
        print(f"\n== step {k} of 6 ({clock(started)}): {what} ==", flush=True)

    stage(1, "the sample corpus, labels, events and XR sessions into their landing folders")
    Path(landing).mkdir(parents=True, exist_ok=True)
    copied = 0
    for src in sorted(samples.rglob("*")):
        if src.is_file() and not src.name.startswith("."):
            dst = Path(landing) / src.relative_to(samples)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if not dst.exists() or dst.read_bytes() != src.read_bytes():
                shutil.copy2(src, dst)
                copied += 1
    print(f"copied {copied} sample files into the landing zone {landing}")

    # The labels a user keys in for the corpus (the document classifier trains on them), and the
    # readers' interaction log (the recommenders learn from it).
    def folder(name: str) -> str:
        return defs.resources[f"{name}_folder"].process_config_and_initialize().path

    for kind in ("labels", "events", "xr_events"):
        target = folder(kind)
        src_dir = samples.parent / kind
        if src_dir.is_dir():
            Path(target).mkdir(parents=True, exist_ok=True)
            for src in sorted(p for p in src_dir.iterdir() if p.is_file()):
                if not (Path(target) / src.name).exists() or (Path(target) / src.name).read_bytes() != src.read_bytes():
                    shutil.copy2(src, Path(target) / src.name)
            print(f"copied the sample {kind} into {target}")
    instance = dagster_instance()
    stage(2, "IoT: a simulated fleet publishes through the MQTT broker; the consumer lands micro-batches")
    broker = defs.resources["broker"].process_config_and_initialize()  # dg.EnvVar fields read
    hours = run_fleet(broker, folder("telemetry"))
    from dwc_pipelines.iot.assets import HOURLY

    stage(3, f"telemetry_load_job: the {len(hours)} landed hour(s) become partitions and load")
    # What the telemetry sensor requests under `make ui`.
    instance.add_dynamic_partitions(
        HOURLY.name, [k for k in hours if not instance.has_dynamic_partition(HOURLY.name, k)]
    )
    load = defs.resolve_job_def("telemetry_load_job")
    for key in hours:
        if outcome(run_with_progress(load, instance, started, partition_key=key)):
            return 1
    stage(4, "all_assets_job: every asset, from the landing zone to the models, scenes and marts")
    if outcome(run_with_progress(defs.resolve_job_def("all_assets_job"), instance, started)):
        return 1
    # Chains write documents back into the landing zone (memos, a report, a digest), and chains fed
    # by chains (legal_briefing reads contract_review's memos) write more. What new documents set
    # off runs until the landing zone holds nothing the lake lacks, as the sensors would have it run;
    # the sensors then find nothing left to do.
    followup = defs.resolve_job_def("documents_followup_job")
    for round_ in range(1, 4):
        pending = _pending_documents(landing)
        if not pending:
            break
        stage(5, f"documents_followup_job: {pending} documents that chains generated (round {round_})")
        if outcome(run_with_progress(followup, instance, started)):
            return 1
    stage(6, "what the lake holds, and one sample proven on the chain and certified")
    _print_summary()
    _print_scenes()
    _demo_verify(landing)
    _demo_api_admin()
    print(
        "\nNext:\n"
        "  make ui                      # Dagster UI at http://127.0.0.1:3000 (assets, runs, checks, sensor)\n"
        "  make api                     # the /api/v3 service at http://127.0.0.1:8000 (docs at /docs)\n"
        "  .venv/bin/dwc recommend reader-01\n"
        '  .venv/bin/dwc search "late invoice payment"\n'
        f'  .venv/bin/dwc sql "{EXAMPLE_QUERY}"\n'
        '  .venv/bin/dwc sql "SELECT source_path, reason FROM docs.quarantine"'
    )
    print(f"\ndemo finished in {clock(started)}")
    return 0


def _demo_api_admin() -> None:
    """The API's first admin: a random password in a 0600 file under DWC_HOME, printed this once."""
    from dwc_api.cli import ensure_demo_admin
    from dwc_api.settings import Settings, api_home

    password = ensure_demo_admin(Settings.from_env(demo=True))
    where = api_home() / "admin-password"
    if password:
        print(f"\nAPI admin (make api): user admin, password {password} (kept in {where}, mode 0600; shown once)")
    else:
        print(f"\nAPI admin (make api): user admin, password in {where}")


def _pending_documents(landing: str) -> int:
    from dwc_pipelines.ingestion.landing import pending_in, scan_landing

    with read_analyst() as con:
        return pending_in(con, scan_landing(landing))


def _print_scenes() -> None:
    try:
        with read_analyst() as con:
            rows = con.execute("""SELECT scene, items, size_bytes, validator_errors, viewer_path FROM xr.scenes
                                  ORDER BY scene""").fetchall()
    except duckdb.CatalogException:
        return
    print("\nXR scenes (open a viewer page in a browser):")
    for scene, items, size, errors, page in rows:
        check = "validator not installed" if errors is None else f"{errors} validator errors"
        print(f"  {scene:<14} {items:>4} items {size:>9,} bytes, {check}\n    {page}")


def _demo_verify(landing: str) -> None:
    """Verify one anchored sample the way anyone can: against the chain, then from a proof file alone."""
    from dwc_pipelines.anchoring import commands

    sample = sorted(p for p in Path(landing).glob("contracts/*") if p.is_file())[:1]
    if not sample:
        return
    path = str(sample[0])
    proof = os.path.join(dwc_home(), "proofs", sample[0].name + ".proof.json")
    os.makedirs(os.path.dirname(proof), exist_ok=True)
    print(f"\n== on-chain proof of {path} ==")
    commands.cmd_verify(argparse.Namespace(file=path, proof=None, network=None, rpc=None))
    commands.cmd_proof(argparse.Namespace(target=path, output=proof, network=None))
    commands.cmd_verify(argparse.Namespace(file=path, proof=proof, network=None, rpc=None))
    print(f"  dwc verify --proof {proof} {path}   # works without the warehouse\n  dwc trace {path}")
    print(f"\n== a certificate for {path} (dwc certify: certify_job) ==")
    commands.cmd_certify(argparse.Namespace(target=path, network=None, to=None))


def _print_summary() -> None:
    with read_analyst() as con:
        print("\nProduced (analyst lake):")
        for label, sql in (
            ("current documents", "SELECT count(*) FROM docs.documents WHERE is_current AND status = 'active'"),
            ("document versions", "SELECT count(*) FROM docs.documents"),
            ("quarantined files", "SELECT count(*) FROM docs.quarantine"),
            ("chunks", "SELECT count(*) FROM docs.chunks"),
            ("near-duplicates", "SELECT count(*) FROM docs.near_duplicates"),
            ("enriched contents", "SELECT count(DISTINCT content_hash) FROM ai.document_enrichment"),
            ("interactions", "SELECT count(*) FROM recs.interactions"),
            ("quarantined events", "SELECT count(*) FROM recs.interactions_quarantine"),
            ("recommendations", "SELECT count(*) FROM recs.recommendations"),
            ("model predictions", "SELECT count(*) FROM ml.document_predictions"),
            ("devices", "SELECT count(*) FROM iot.devices"),
            ("telemetry messages", "SELECT count(DISTINCT (device_id, seq)) FROM iot.telemetry"),
            ("bad payloads", "SELECT count(*) FROM iot.telemetry_quarantine"),
            ("anomalies", "SELECT count(*) FROM iot.anomalies"),
            ("device commands", "SELECT count(*) FROM iot.commands WHERE status = 'published'"),
            ("XR sessions", "SELECT count(*) FROM xr.sessions"),
            ("XR events quarantined", "SELECT count(*) FROM xr.events_quarantine"),
            ("anchored contents", "SELECT count(*) FROM chain.proofs"),
            ("anchor batches", "SELECT count(*) FROM chain.batches WHERE status = 'anchored'"),
            ("certificates", "SELECT count(*) FROM chain.certificates WHERE status = 'minted'"),
        ):
            try:
                value = f"{con.execute(sql).fetchall()[0][0]:>8,}"
            except duckdb.CatalogException:
                value = f"{'-':>8}"  # not materialised yet
            print(f"  {label:<20} {value}")
        print("\nBy format:")
        con.sql(EXAMPLE_QUERY).show()
        print("Quarantine:")
        con.sql("SELECT reason_code, count(*) AS files FROM docs.quarantine GROUP BY 1 ORDER BY 2 DESC, 1").show()
        _print_chains(con)
        _print_personal_data(con)


def _print_personal_data(con) -> None:
    try:
        found = con.execute("""SELECT pii_type, count(*) AS findings, count(DISTINCT doc_id) AS documents
                               FROM gov.pii_findings WHERE location = 'document' GROUP BY 1 ORDER BY 2 DESC""").fetchall()
        sample = con.execute("""SELECT source_path, text FROM docs.documents WHERE is_current AND format = 'email'
                                ORDER BY source_path LIMIT 1""").fetchall()
    except duckdb.CatalogException:
        return
    print(
        "Personal data (gov.pii_findings), masked in this catalog: "
        + (", ".join(f"{t} {n} in {d} docs" for t, n, d in found) or "none found")
    )
    if sample:
        head = "\n    ".join(sample[0][1].splitlines()[:3])
        print(f"  as an analyst sees {sample[0][0]}:\n    {head}")
    print('  unmasked: .venv/bin/dwc sql --unmasked "..." (the lake itself; privileged)')


def _print_chains(con) -> None:
    try:
        chains = con.execute("SELECT chain, status, file, error FROM chains.registry ORDER BY file").fetchall()
    except duckdb.CatalogException:
        return
    print("Workflow chains (chains.registry):")
    for chain, status, file, error in chains:
        if status != "valid":
            print(f"  {file}: INVALID {error}")
            continue
        steps = [
            t
            for (t,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'chains' AND table_name LIKE ? "
                "ORDER BY table_name",
                [f"{chain}_%"],
            ).fetchall()
        ]
        counts = []
        for t in steps:
            n = con.execute(f"SELECT count(*) FROM chains.{t}").fetchall()[0][0]
            counts.append(f"{t[len(chain) + 1 :]}={n}")
        print(f"  {chain:<20} {' '.join(counts)}")
    generated = con.execute(
        "SELECT count(*) FROM docs.documents WHERE is_current AND starts_with(source_path, 'generated/')"
    ).fetchall()[0][0]
    print(f"  documents generated by chains and ingested back: {generated}")


def cmd_status(args) -> int:
    try:
        _print_summary()
    except FileNotFoundError as exc:
        return fail("status", str(exc))
    return 0


def cmd_chains_validate(args) -> int:
    from dwc_pipelines.chains.assets import chains_dir
    from dwc_pipelines.chains.spec import load_chains

    directory = Path(args.directory) if args.directory else chains_dir()
    if not directory.is_dir():
        return fail("chains validate", f"no such folder: {directory}")
    chains, errors = load_chains(directory)
    for c in chains:
        trigger = ", ".join(f"{k}={v}" for k, v in c.trigger.items()) or "manual"
        print(
            f"ok    {c.file}: chain {c.name}, {len(c.steps)} steps ({' -> '.join(s.name for s in c.steps)}), trigger {trigger}"
        )
    for e in errors:
        print(f"error {e}", file=sys.stderr)
    if not chains and not errors:
        print(f"no chain specs (*.yaml) in {directory}", file=sys.stderr)
    return 1 if errors else 0


_ITEM_LABEL = "coalesce(d.title, f.title, d.source_path, {id})"
_ITEM_JOINS = """LEFT JOIN docs.documents d ON d.doc_id = {id} AND d.is_current AND d.status = 'active'
                 LEFT JOIN recs.item_features f ON f.item_id = {id} AND f.doc_id IS NULL"""


def _recommendations(con, user: str, model: str, n: int) -> list[tuple]:
    return con.execute(
        f"""SELECT r.rank, round(r.score, 4), {_ITEM_LABEL.format(id="r.item_id")}, coalesce(d.source_path, r.item_id),
                   r.model_version
            FROM recs.recommendations r {_ITEM_JOINS.format(id="r.item_id")}
            WHERE r.user_id = ? AND r.model = ? ORDER BY r.rank LIMIT ?""",
        [user, model, n],
    ).fetchall()


def cmd_recommend(args) -> int:
    if not args.user and not args.similar:
        print("dwc recommend: give a user (or --similar ITEM_ID)", file=sys.stderr)
        return 2
    try:
        with read_analyst() as con:
            if args.similar:
                return _print_similar(con, args)
            rows = _recommendations(con, args.user, args.model, args.n)
            seen = con.execute("SELECT count(*) FROM recs.interactions WHERE user_id = ?", [args.user]).fetchall()[0][0]
            new_user = not rows and not seen
            if new_user:  # what the model offers someone without history
                rows = _recommendations(con, "*", args.model, args.n)
    except (FileNotFoundError, duckdb.CatalogException) as exc:
        return fail("recommend", str(exc))
    if args.json:
        print_json(
            {
                "user": args.user,
                "model": args.model,
                "interactions": seen,
                "new_user": new_user,
                "items": [{"rank": r, "score": sc, "title": t, "id": i} for r, sc, t, i, _ in rows],
            }
        )
        return 0
    if not rows:
        return fail(
            "recommend",
            f"{args.model} has no recommendations for {args.user!r} ({seen} interactions known): "
            f"materialise recs/recommendations, or try --model popularity",
        )
    if new_user:
        print(f"{args.user!r} is not a known user (no interactions): what {args.model} recommends to a new user")
    else:
        print(f"{args.user}: {seen} interactions; {args.model} recommends (model version {rows[0][4][:8]}):")
    for rank, score, title, ident, _ in rows:
        print(f"{rank:>3}. {score:.4f}  {title}  ({ident})")
    return 0


def _print_similar(con, args) -> int:
    item = args.similar
    # The item as a doc_id, the landing path of a document (its current version), or an item of
    # recs.item_features (MovieLens).
    ids = [
        r[0]
        for r in con.execute(
            """SELECT doc_id FROM docs.documents WHERE doc_id = ? OR (source_path = ? AND is_current)
           UNION SELECT item_id FROM recs.item_features WHERE item_id = ?""",
            [item, item, item],
        ).fetchall()
    ]
    if not ids:
        return fail(
            "recommend", f"unknown item {item!r}: give a doc_id, a landing path or an item id of recs.item_features"
        )
    rows = con.execute(
        f"""SELECT s.model, s.rank, round(s.score, 4), {_ITEM_LABEL.format(id="s.similar_item_id")},
                   coalesce(d.source_path, s.similar_item_id)
            FROM recs.similar_items s {_ITEM_JOINS.format(id="s.similar_item_id")}
            WHERE s.item_id IN (SELECT unnest(?)) AND s.rank <= ? ORDER BY s.model, s.rank""",
        [ids, args.n],
    ).fetchall()
    if args.json:
        print_json(
            {
                "item": item,
                "similar": [{"model": m, "rank": r, "score": sc, "title": t, "id": i} for m, r, sc, t, i in rows],
            }
        )
        return 0
    if not rows:
        print(f"no similar items for {item!r} yet (materialise recs/similar_items)")
    for model, rank, score, title, ident in rows:
        print(f"{model:<9} {rank:>2}. {score:.4f}  {title}  ({ident})")
    return 0


def cmd_doctor(args) -> int:
    from dwc_pipelines.doctor import exit_code, run_checks
    from dwc_pipelines.resources import resources_for

    ensure_dagster_home()
    try:
        resources = resources_for()
    except ValueError as exc:
        print(f"dwc doctor: {exc}", file=sys.stderr)
        return 1
    checks = run_checks(resources)
    width = max(len(c.component) for c in checks)
    for c in checks:
        print(
            f"{c.component:<{width}}  {c.status:<7}  {c.detail}"
            + (f"\n{'':<{width}}           fix: {c.fix}" if c.fix and c.status == "FAILED" else "")
        )
    code = exit_code(checks)
    print("required components are up" if code == 0 else "a required component is down")
    return code


def cmd_models_validate(args) -> int:
    from dwc_pipelines.ml.tabular import load_models
    from dwc_pipelines.ml.tabular_assets import models_dir

    directory = Path(args.directory) if args.directory else models_dir()
    if not directory.is_dir():
        return fail("models validate", f"no such folder: {directory}")
    specs, errors = load_models(directory)
    for m in specs:
        print(f"ok    {m.file}: model {m.name}, {m.algorithm} ({m.task}), source {next(iter(m.source.items()))[1]}")
    for e in errors:
        print(f"error {e}", file=sys.stderr)
    return 1 if errors else 0


def cmd_erase(args) -> int:
    """Write the request where only the erasure step reads it (the subject stays out of the run's
    config and the instance's storage), run the erasure job, print the report."""
    import json
    import uuid
    from datetime import datetime

    from dwc_pipelines.governance.assets import requests_dir

    kind, subject = ("doc_id", args.doc_id) if args.doc_id else ("subject", args.subject)
    if not subject or len(subject.strip()) < 4:
        print("dwc erase: give --subject (an email, a name, an id of 4+ characters) or --doc-id", file=sys.stderr)
        return 2
    request_id = datetime.now(UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    path = requests_dir() / f"{request_id}.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(
            {
                "request_id": request_id,
                "kind": kind,
                "subject": subject.strip(),
                "requested_at": datetime.now(UTC).replace(tzinfo=None).isoformat(),
            },
            fh,
        )
    rc = run_job("erasure_job", {"ops": {"gov__erasure_log": {"config": {"request_id": request_id}}}})
    report = Path(dwc_home()) / "gov" / "erasure_reports" / f"{request_id}.md"
    if rc == 0 and report.exists():
        print(report.read_text())
        print(f"report: {report}")
    path.unlink(missing_ok=True)
    return rc


def cmd_blobs(args) -> int:
    from dwc_resources.cas import Keyring

    if args.action == "new-key":
        from datetime import date

        print(Keyring.new_key(args.key_id or f"k{date.today():%Y%m%d}"))
        print(
            "# add it in front of DWC_BLOB_KEYS (keep the old keys until `dwc blobs rotate` has run)", file=sys.stderr
        )
        return 0
    if args.action == "status":
        from dwc_resources import BlobStoreResource

        try:
            active = Keyring.parse(
                os.environ.get("DWC_BLOB_KEYS"), os.environ.get("DWC_BLOB_ACTIVE_KEY") or None
            ).active
        except ValueError as exc:
            return fail("blobs", f"DWC_BLOB_KEYS: {exc}")
        store = BlobStoreResource.local()
        census = store.store().key_census() if Path(store.root).exists() else {}
        print(f"active key: {active or 'none (blobs are stored in plaintext)'}")
        for kid, n in sorted(census.items()):
            print(f"  {kid}: {n} blob(s)")
        return 0
    return run_job("blob_rotation_job", {})


def cmd_simulate_devices(args) -> int:
    from dwc_pipelines.iot.simulator import simulate
    from dwc_pipelines.resources import broker_resource

    broker = broker_resource().process_config_and_initialize()
    try:
        simulate(
            broker,
            devices=args.devices,
            rate=args.rate,
            per_device=args.readings,
            backfill_hours=args.backfill_hours,
            interval_s=args.interval,
            faults=args.faults,
            bad=args.bad_payloads,
            replay=Path(args.replay_nab) if args.replay_nab else None,
            seed=args.seed,
        )
    except OSError as exc:
        return fail(
            "simulate-devices",
            f"cannot reach the broker at {broker.host}:{broker.port} ({exc}); set DWC_MQTT_HOST / DWC_MQTT_PORT",
        )
    return 0


def cmd_consume_telemetry(args) -> int:
    import signal

    from dwc_pipelines.iot.consumer import Consumer
    from dwc_pipelines.resources import broker_resource, resources_for

    broker = broker_resource().process_config_and_initialize()
    root = resources_for()["telemetry_folder"].process_config_and_initialize().path
    consumer = Consumer(broker, root, args.batch_size, args.batch_seconds, log=lambda m: print(m, flush=True))
    signal.signal(signal.SIGTERM, consumer.stop)
    signal.signal(signal.SIGINT, consumer.stop)
    print(f"consuming dwc/devices/+/telemetry and /meta from {broker.host}:{broker.port} into {root}", flush=True)
    consumer.run()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dwc", description="Document Workflow Chain")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sql", help="run SQL on the read-only, masked analyst lake and print the result")
    p.add_argument("query", nargs="?", default="")
    p.add_argument("--max-rows", type=int, default=40)
    p.add_argument("--max-width", type=int, default=160)
    p.add_argument("--unmasked", action="store_true", help="read the lake itself, personal data unmasked (privileged)")
    p.add_argument(
        "--at", metavar="SNAPSHOT", help="read the lake as of a snapshot id or a timestamp (masked unless --unmasked)"
    )
    p.add_argument(
        "--print-attach",
        action="store_true",
        help="print the statements a plain duckdb session runs to attach the analyst lake read-only",
    )
    p.add_argument("--json", action="store_true", help="rows as a JSON list of objects (at most --max-rows)")
    p.set_defaults(func=cmd_sql)
    p = sub.add_parser(
        "migrate-warehouse",
        help="copy a single-file warehouse (DuckDB, before the lake) into the "
        "lake, idempotently, checking rows and checksums",
    )
    p.add_argument("--from", dest="source", help="the file (default: $DWC_HOME/warehouse.duckdb)")
    p.set_defaults(func=cmd_migrate_warehouse)
    p = sub.add_parser("erase", help="erase a data subject (or one document) from every table, file and snapshot")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--subject", help="an email address, name or other identifier, matched case-insensitively")
    g.add_argument("--doc-id", help="remove one document entirely")
    p.set_defaults(func=cmd_erase)
    p = sub.add_parser("blobs", help="encryption at rest of the original bytes")
    p.add_argument(
        "action",
        choices=["status", "new-key", "rotate"],
        help="status: blobs per key; new-key: print a new key; rotate: re-encrypt under the active key",
    )
    p.add_argument("--key-id", default=None, help="id of the new key (new-key); default k<date>")
    p.set_defaults(func=cmd_blobs)
    p = sub.add_parser("demo", help="copy the sample corpus into the landing zone and materialise every asset")
    p.add_argument("--samples", default="samples/landing")
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("ingest-report", help="current documents per format and quarantined files per reason")
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.set_defaults(func=cmd_ingest_report)
    p = sub.add_parser("search", help="search the chunks: semantic, BM25 keyword, or both fused (analyst catalog)")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.add_argument(
        "--mode",
        choices=["hybrid", "semantic", "keyword"],
        default="hybrid",
        help="hybrid (default) fuses semantic and BM25 rankings",
    )
    p.add_argument("--json", action="store_true", help="the hits as JSON")
    p.add_argument("--explain", action="store_true", help="each hit's vector and keyword contribution")
    p.add_argument(
        "--min-similarity",
        type=float,
        help="relevance cutoff: the cosine a hit needs unless it matches every query term (default: the model's, "
        "docs/search.md; -1 for none)",
    )
    p.set_defaults(func=cmd_search)
    p = sub.add_parser(
        "chains", help="workflow chains: YAML-declared steps over documents (the blockchain is `dwc ledger`)"
    )
    chains_sub = p.add_subparsers(dest="chains_command", required=True)
    v = chains_sub.add_parser("validate", help="check every chain spec; errors name the file, line and field")
    v.add_argument("directory", nargs="?", help="default: chains/ (or DWC_CHAINS_DIR)")
    v.set_defaults(func=cmd_chains_validate)
    p = sub.add_parser("models", help="tabular model specs")
    models_sub = p.add_subparsers(dest="models_command", required=True)
    v = models_sub.add_parser("validate", help="check every model spec; errors name the file, line and field")
    v.add_argument("directory", nargs="?", help="default: models/ (or DWC_MODELS_DIR)")
    v.set_defaults(func=cmd_models_validate)
    p = sub.add_parser("recommend", help="print a user's recommendations (or an item's similar items)")
    p.add_argument("user", nargs="?", default="")
    p.add_argument("--model", default="hybrid")
    p.add_argument("-n", type=int, default=10, help="items to show (per model with --similar)")
    p.add_argument(
        "--similar",
        metavar="ITEM_ID",
        help="print the items most similar to this one (a doc_id, a landing path or an item id) instead",
    )
    p.add_argument("--json", action="store_true", help="the items as JSON")
    p.set_defaults(func=cmd_recommend)
    p = sub.add_parser("simulate-devices", help="publish a simulated device fleet's telemetry to the MQTT broker")
    p.add_argument("--devices", type=int, default=10)
    p.add_argument("--rate", type=float, default=100.0, help="messages per second in all (0: as fast as possible)")
    p.add_argument("--readings", type=int, default=100, help="readings per device")
    p.add_argument(
        "--backfill-hours",
        type=float,
        default=0.0,
        help="device time starts this many hours ago and advances --interval per reading",
    )
    p.add_argument("--interval", type=float, default=60.0, help="seconds of device time between readings")
    p.add_argument("--faults", type=float, default=0.0, help="probability of an injected fault per reading")
    p.add_argument("--bad-payloads", action="store_true", help="also send one of each kind of bad payload")
    p.add_argument("--replay-nab", metavar="DIR", help="replay the NAB series under DIR (one per device)")
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_simulate_devices)
    p = sub.add_parser(
        "consume-telemetry",
        help="the long-running MQTT consumer: QoS 1 telemetry into durable micro-batches in the telemetry landing",
    )
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--batch-seconds", type=float, default=1.0)
    p.set_defaults(func=cmd_consume_telemetry)
    from dwc_pipelines.anchoring.commands import register as register_chain_commands

    register_chain_commands(sub)
    from dwc_api.cli import register as register_api_commands

    register_api_commands(sub)
    p = sub.add_parser("doctor", help="check every configured resource; exit 1 when a required one is down")
    p.set_defaults(func=cmd_doctor)
    p = sub.add_parser("status", help="summarise what the warehouse holds")
    p.set_defaults(func=cmd_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
