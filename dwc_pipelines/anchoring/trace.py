"""Provenance of one document: its source and versions, every derived row in every schema, the runs
that wrote them and its on-chain proofs. Every table is found at run time, so a new domain's rows
appear here without a change (they carry `content_hash` or `doc_id`, and `run_id`)."""

from __future__ import annotations

from collections.abc import Callable

from ..governance.purge import _q

_KEYS = ("content_hash", "doc_id")
_SKIP = {"docs.documents", "docs._staging", "docs._listing"}


def columns(con) -> dict[str, set[str]]:
    """'schema.table' -> its columns, for the tables of the warehouse or the views of the analyst catalog."""
    out: dict[str, set[str]] = {}
    for schema, table, col in con.execute(
        """SELECT table_schema, table_name, column_name FROM information_schema.columns
               WHERE table_catalog = current_database() AND table_schema NOT IN ('information_schema', 'pg_catalog')
               ORDER BY 1, 2, ordinal_position"""
    ).fetchall():
        out.setdefault(f"{schema}.{table}", set()).add(col)
    return out


def find(con, file_hash: str | None, doc_id: str | None) -> tuple[list[str], list[tuple]]:
    """(doc_ids, version rows) of the document named by a file's hash, or by a doc_id or its landing path."""
    if file_hash:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT doc_id FROM docs.documents WHERE content_hash = ? ORDER BY 1", [file_hash]
            ).fetchall()
        ]
    else:
        ids = [
            r[0]
            for r in con.execute(
                "SELECT DISTINCT doc_id FROM docs.documents WHERE doc_id = ? OR source_path = ? ORDER BY 1",
                [doc_id, doc_id],
            ).fetchall()
        ]
    # The analyst lake carries the lake snapshot that wrote each row; a bare lake does not.
    snap = "_lake_snapshot" if "_lake_snapshot" in columns(con).get("docs.documents", set()) else "NULL"
    versions = con.execute(
        f"""SELECT doc_id, version, status, is_current, content_hash, source_path, format, ingested_at, run_id, {snap}
           FROM docs.documents WHERE doc_id IN (SELECT unnest(?)) ORDER BY doc_id, version""",
        [ids],
    ).fetchall()
    return ids, versions


def derived(con, doc_ids: list[str], hashes: list[str]) -> list[tuple[str, int, list[str]]]:
    """(table, rows, run ids) for every table holding rows of these documents."""
    out = []
    for table, names in columns(con).items():
        if table in _SKIP or not names & set(_KEYS):
            continue
        where = " OR ".join(f"{_q(k)} IN (SELECT unnest(?))" for k in _KEYS if k in names)
        params = [hashes if k == "content_hash" else doc_ids for k in _KEYS if k in names]
        run_col = "run_id" if "run_id" in names else ("last_run_id" if "last_run_id" in names else None)
        sel = f"count(*), {'list(DISTINCT ' + _q(run_col) + ')' if run_col else '[]'}"
        n, runs = con.execute(f"SELECT {sel} FROM {table} WHERE {where}", params).fetchall()[0]
        if n:
            out.append((table, n, sorted(r for r in runs if r)))
    return out


def proofs(con, hashes: list[str]) -> list[tuple]:
    try:
        return con.execute(
            """SELECT p.content_hash, p.network, p.chain_id, p.block_number, p.block_timestamp, p.tx_hash, p.root,
                      p.document_count, c.token_id
               FROM chain.proofs p LEFT JOIN chain.certificates c
                 ON c.content_hash = p.content_hash AND c.network = p.network AND c.status = 'minted'
               WHERE p.content_hash IN (SELECT unnest(?)) ORDER BY p.block_timestamp""",
            [hashes],
        ).fetchall()
    except Exception:  # nothing anchored yet: no chain schema
        return []


def story(con, file_hash: str | None, doc_id: str | None, run_info: Callable[[str], str | None]) -> tuple[bool, str]:
    """The whole story as text, and whether the document was found."""
    ids, versions = find(con, file_hash, doc_id)
    if not versions:
        if file_hash:
            return False, (
                f"no ingested document has these bytes (sha256 {file_hash[:16]}…): the file was never "
                f"ingested, or it changed since; `dwc trace <landing path>` shows a document's versions"
            )
        return False, (
            f"nothing was ingested as {doc_id!r}: it is neither a doc_id nor the landing path of a document "
            f'(`dwc sql "SELECT doc_id, source_path FROM docs.documents"` lists them)'
        )
    hashes = sorted({v[4] for v in versions if v[4]})
    lines = []
    for d in ids:
        src = next(v[5] for v in versions if v[0] == d)
        lines.append(f"Document {d}\n  source: {src}")
    lines.append("\nVersions:")
    for _d, version, status, current, h, src, fmt, at, run, snapshot in versions:
        mark = "  (current)" if current else ""
        written = f"  lake snapshot {snapshot}" if snapshot is not None else ""
        lines.append(
            f"  {src}  v{version}  {status:<8} {fmt or '-':<6} sha256 {h[:16] if h else '-':<16}  {at:%Y-%m-%d %H:%M:%S}  "
            f"run {run[:8]}{written}{mark}"
        )
    rows = derived(con, ids, hashes)
    runs = sorted({r for v in versions for r in [v[8]]} | {r for _, _, rs in rows for r in rs})
    lines.append("\nDerived rows:")
    for table, n, rs in rows:
        written = (
            f"runs {', '.join(r[:8] for r in rs[:4])}{' …' if len(rs) > 4 else ''}" if rs else "(no run_id column)"
        )
        lines.append(f"  {table:<38} {n:>6} row(s)  {written}")
    lines.append("\nDagster runs:")
    for r in runs:
        lines.append(f"  {r[:8]}  {run_info(r) or '(not in this instance)'}")
    anchored = proofs(con, hashes)
    lines.append("\nOn-chain proofs:")
    if not anchored:
        lines.append("  none yet (materialise chain/proofs)")
    for h, network, chain_id, block, when, tx, root, count, token in anchored:
        cert = f", certificate #{token}" if token else ""
        lines.append(
            f"  sha256 {h[:16]}… on {network} (chain id {chain_id}): block {block} at {when:%Y-%m-%d %H:%M:%S} UTC, "
            f"tx {tx}, root {root[:16]}… of {count} documents{cert}"
        )
    return True, "\n".join(lines)
