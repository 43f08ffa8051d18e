"""Which warehouse table each asset writes, and its columns, read from the DDL that creates it.

The UI then shows every table asset's column schema (`dagster/column_schema`) and table name
(`dagster/table_name`) from its definition, before it is ever materialized. Tables made by
`CREATE TABLE ... AS SELECT` have no DDL to read; their assets report the columns when they run
(`materialized_schema`).
"""

from __future__ import annotations

import re
import sys

import dagster as dg

_CREATE = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?([\w.]+)\s*\(", re.I)
_ADD = re.compile(r"ALTER\s+TABLE\s+([\w.]+)\s+ADD\s+COLUMN\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s+([^;]+)", re.I)
_CONSTRAINT = ("PRIMARY", "UNIQUE", "CHECK", "FOREIGN", "CONSTRAINT")
_END_OF_TYPE = re.compile(r"\s+(?:NOT\s+NULL|NULL|DEFAULT|PRIMARY|UNIQUE|CHECK|REFERENCES|GENERATED)\b.*$", re.I | re.S)

# Assets whose key does not name their table.
TABLE_OF = {
    ("ml", "document_classifier"): "ml.trainings",
    ("ml", "classifier_champion"): "ml.model_decisions",
    ("gov", "erasure_log"): "gov.erasure_requests",
    ("ops", "run_history"): "ops.runs",
    ("quantum", "workload_assignment"): "quantum.results",
    ("quantum", "diverse_selection"): "quantum.results",
    ("quantum", "similarity_maxcut"): "quantum.results",
    ("xr", "document_map"): "xr.scenes",
    ("xr", "device_twin"): "xr.scenes",
    ("xr", "workflow_map"): "xr.scenes",
}
# Assets whose key starts with a prefix, and the one table they share.
TABLE_OF_PREFIX = {("quantum", "algorithms"): "quantum.algorithm_checks"}


def _split_top_level(body: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return [p.strip() for p in parts if p.strip()]


def _column(text: str) -> tuple[str, str] | None:
    name, _, rest = text.partition(" ")
    if name.upper() in _CONSTRAINT or not rest.strip():
        return None
    return name.strip('"'), _END_OF_TYPE.sub("", rest.strip()).strip()


def ddl_columns(ddl: str) -> dict[str, list[tuple[str, str]]]:
    """{schema.table: [(column, type), ...]} for every CREATE TABLE (with a column list) and ALTER
    TABLE ... ADD COLUMN in `ddl`, in declaration order."""
    ddl = re.sub(r"--[^\n]*", "", ddl)
    tables: dict[str, list[tuple[str, str]]] = {}
    for match in _CREATE.finditer(ddl):
        depth, i = 1, match.end()
        while depth and i < len(ddl):
            depth += {"(": 1, ")": -1}.get(ddl[i], 0)
            i += 1
        body = ddl[match.end() : i - 1]
        if re.match(r"\s*SELECT\b", body, re.I):
            continue
        columns = [c for c in map(_column, _split_top_level(body)) if c]
        tables.setdefault(match.group(1), columns)
    for match in _ADD.finditer(ddl):
        table, name, kind = match.groups()
        if table in tables and name not in {c for c, _ in tables[table]}:
            tables[table].append((name, _END_OF_TYPE.sub("", kind.strip()).strip()))
    return tables


def loaded_ddl_tables() -> dict[str, list[tuple[str, str]]]:
    """The tables of every DDL constant (`DDL`, `*_DDL`) in the loaded dwc_pipelines modules."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for name, module in list(sys.modules.items()):
        if not name.startswith("dwc_pipelines") or module is None:
            continue
        for attr, value in vars(module).items():
            if attr.endswith("DDL") and isinstance(value, str):
                for table, columns in ddl_columns(value).items():
                    tables.setdefault(table, columns)
    return tables


def column_schema(columns: list[tuple[str, str]]) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in columns])


def table_of(spec: dg.AssetSpec, tables: dict) -> str | None:
    named = spec.metadata.get("dagster/table_name")
    if named is not None:
        return str(getattr(named, "value", named))
    path = tuple(spec.key.path)
    table = TABLE_OF.get(path) or TABLE_OF_PREFIX.get(path[:2]) or ".".join(path)
    return table if table in tables else None


def table_describer():
    """A function that gives an asset spec its table name and column schema, where its table has DDL
    (the DDL of the loaded modules, read once)."""
    tables = loaded_ddl_tables()

    def describe(spec: dg.AssetSpec) -> dg.AssetSpec:
        if "dagster/column_schema" in spec.metadata:
            return spec
        table = table_of(spec, tables)
        if table is None:
            return spec
        return spec.merge_attributes(
            metadata={"dagster/table_name": table, "dagster/column_schema": column_schema(tables[table])}
        )

    return describe


def materialized_schema(con, table: str) -> dict:
    """Metadata for a table as it stands: its column schema and row count."""
    columns = con.execute(
        """SELECT column_name, data_type FROM information_schema.columns
           WHERE table_catalog = current_database() AND table_schema = ? AND table_name = ?
           ORDER BY ordinal_position""",
        table.split(".", 1),
    ).fetchall()
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return {
        "dagster/table_name": table,
        "dagster/column_schema": column_schema(columns),
        "dagster/row_count": rows,
    }


def content_version(con, table: str, columns: str) -> dg.DataVersion:
    """A data version from a table's rows (their count and an order-free digest of `columns`): a run
    that leaves the table as it was reports the version it had, and sets off nothing downstream."""
    count, digest = con.execute(f"SELECT count(*), coalesce(bit_xor(hash({columns})), 0) FROM {table}").fetchall()[0]
    return dg.DataVersion(f"{count}-{digest:016x}")
