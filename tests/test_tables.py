"""Column schemas in the UI come from the DDL that creates each table: the parser reads it as DuckDB does."""

import duckdb

import dwc_pipelines.definitions  # noqa: F401  (loads every domain, and so every DDL constant)
from dwc_pipelines.tables import ddl_columns, loaded_ddl_tables

# Tables made by CREATE TABLE AS: their assets report the columns when they run.
BUILT_BY_SELECT = {"ops/document_stats", "xr/session_marts", "ml/models/churn/predictions"}
BUILT_BY_SELECT |= {"ml/models/unusual_users/predictions"}
NOT_A_TABLE = {"ops/lake_maintenance"}  # compacts and expires the lake's files; writes no table


def test_the_parser_reads_the_ddl_as_duckdb_does():
    con = duckdb.connect()
    tables = loaded_ddl_tables()
    assert len(tables) > 40
    for table in tables:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    import sys

    for name, module in list(sys.modules.items()):
        if name.startswith("dwc_pipelines") and module is not None:
            for attr, value in vars(module).items():
                if attr.endswith("DDL") and isinstance(value, str):
                    con.execute(value)
    for table, columns in tables.items():
        schema, name = table.split(".")
        real = con.execute(
            """SELECT column_name, data_type FROM information_schema.columns
               WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position""",
            [schema, name],
        ).fetchall()
        assert [c for c, _ in columns] == [c for c, _ in real], table
        for (column, kind), (_, real_kind) in zip(columns, real):
            assert con.execute(f"SELECT typeof(NULL::{kind})").fetchall()[0][0] == real_kind, (table, column, kind)


def test_constraints_defaults_and_comments_are_not_columns():
    ddl = """CREATE TABLE IF NOT EXISTS s.t (
        id VARCHAR NOT NULL,  -- the key, with a comma, here
        spans STRUCT(a INTEGER, b VARCHAR)[] DEFAULT [],
        price DECIMAL(10, 2) CHECK (price >= 0),
        PRIMARY KEY (id));
        ALTER TABLE s.t ADD COLUMN IF NOT EXISTS embedding FLOAT[8];
        CREATE TABLE s.copy AS SELECT * FROM s.t"""
    assert ddl_columns(ddl) == {
        "s.t": [
            ("id", "VARCHAR"),
            ("spans", "STRUCT(a INTEGER, b VARCHAR)[]"),
            ("price", "DECIMAL(10, 2)"),
            ("embedding", "FLOAT[8]"),
        ]
    }


def test_every_warehouse_table_asset_shows_its_columns():
    specs = dwc_pipelines.definitions.defs.resolve_all_asset_specs()
    missing = sorted(
        "/".join(s.key.path) for s in specs if "duckdb" in s.kinds and "dagster/column_schema" not in s.metadata
    )
    assert set(missing) == BUILT_BY_SELECT | NOT_A_TABLE, missing
    documents = next(s for s in specs if s.key.path == ["docs", "documents"])
    assert documents.metadata["dagster/table_name"] == "docs.documents"
    names = [c.name for c in documents.metadata["dagster/column_schema"].columns]
    assert {"doc_id", "content_hash", "text", "is_current"} <= set(names)
    step = next(s for s in specs if s.key.path == ["chains", "contract_review", "risk"])
    assert step.metadata["dagster/table_name"] == "chains.contract_review_risk"


def test_every_group_is_described():
    from dwc_pipelines.groups import group_description

    specs = dwc_pipelines.definitions.defs.resolve_all_asset_specs()
    undescribed = sorted({s.group_name for s in specs if not group_description(s.group_name)})
    assert not undescribed, f"dwc_pipelines/groups.py does not describe {undescribed}"
    assert all(s.metadata.get("dwc/group") for s in specs)
