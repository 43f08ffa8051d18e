"""Small helpers shared by every domain's assets."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dwc_resources import pii

if TYPE_CHECKING:
    import dagster as dg


def utcnow() -> datetime:
    """Now, in UTC, as the naive timestamp the warehouse's TIMESTAMP columns hold."""
    return datetime.now(UTC).replace(tzinfo=None)


def markdown_table(headers: list[str], rows, max_cell: int = 60) -> str:
    def cell(v) -> str:
        # Previews live in the Dagster event log, outside the warehouse: personal data is masked.
        s = "" if v is None else pii.mask(str(v))
        s = s.replace("|", "\\|").replace("\n", " ")
        return s if len(s) <= max_cell else s[: max_cell - 1] + "…"

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) if rows else "_(none)_"


# A sensor's cursor starts empty on a new instance and after runs it did not launch (`make demo`),
# and an empty cursor would make it launch runs for work already done. Each asset records what its
# sensor compares (a digest, a signature), so a sensor without a cursor compares against that.
def recorded(instance, key: dg.AssetKey, entry: str, partition: str | None = None):
    """The value of metadata `entry` on the latest materialization of `key` (of `partition`), or None."""
    import dagster as dg

    if partition is None:
        event = instance.get_latest_materialization_event(key)
        materialization = event.asset_materialization if event else None
    else:
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
        ).records
        materialization = records[0].asset_materialization if records else None
    value = materialization.metadata.get(entry) if materialization else None
    return getattr(value, "value", value)
