from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Sequence

import dagster as dg
from pydantic import Field

from .duck import connect_writer, publish, read_snapshot


# One schema per domain (DESIGN.md); created up front so analysts see the whole layout.
DOMAIN_SCHEMAS = ("docs", "ai", "chains", "ml", "recs", "chain", "quantum", "iot", "xr", "ops", "gov")


def dwc_home() -> str:
    return os.path.abspath(os.environ.get("DWC_HOME", ".dwc"))


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse (one schema per domain) and its read-only analyst snapshot."""

    path: str = Field(description="DuckDB file that writers use")
    snapshot_path: str = Field(
        description="Analyst catalog: views over Parquet exports, replaced atomically after each write"
    )
    memory_limit: str = Field(
        default="128MB", description="DuckDB memory_limit of a writer connection; bounds its memory at any corpus size"
    )
    threads: int = Field(default=2, description="DuckDB worker threads per writer connection")
    mask_personal_data: bool = Field(
        default=True,
        description="Publish the analyst catalog with personal data masked ([EMAIL], [CARD], ...); the unmasked "
                    "tables stay in the warehouse file, a separate, privileged path (dwc sql --unmasked)",
    )

    @classmethod
    def local(cls) -> "WarehouseResource":
        home = dwc_home()
        return cls(path=os.path.join(home, "warehouse.duckdb"), snapshot_path=os.path.join(home, "analyst.duckdb"))

    @contextmanager
    def writer(self, ddl: str | None = None, tables: Sequence[str] | None = None) -> Iterator:
        """A writer connection; on a clean exit `tables` (default: all) are published to analysts.

        Assets that use it must be in the `dwc_warehouse` pool, which admits one step at a time.
        """
        con = connect_writer(self.path, self.memory_limit, self.threads)
        try:
            con.execute(";".join(f"CREATE SCHEMA IF NOT EXISTS {name}" for name in DOMAIN_SCHEMAS))
            if ddl:
                con.execute(ddl)
            yield con
            done = publish(con, self.snapshot_path, tables, mask=self.mask_personal_data)
            dg.get_dagster_logger().info(
                f"published {', '.join(done['tables'])} to the analyst catalog in {done['seconds']:.2f}s"
            )
        finally:
            con.close()

    @contextmanager
    def reader(self) -> Iterator:
        with read_snapshot(self.snapshot_path, self.memory_limit) as con:
            yield con
