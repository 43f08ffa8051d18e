"""Small helpers shared by every domain's assets."""

from __future__ import annotations

from datetime import UTC, datetime

from dwc_resources import pii


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
