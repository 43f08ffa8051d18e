"""Interaction events from files (plain Python): JSON lines or CSV, validated row by row; a bad
row is quarantined with its reason and never stops the file."""

from __future__ import annotations

import csv
import io
import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from .models import WEIGHTS

TYPES = frozenset(WEIGHTS) | {"rating"}
MAX_ID = 256
MAX_LINE = 64 * 1024


@dataclass
class Event:
    user: str
    item: str
    type: str
    value: float | None
    ts: datetime
    line: int


@dataclass
class BadRow:
    line: int | None
    raw: str
    reason: str


def _timestamp(value) -> datetime:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value) or not 0 < value < 4e10:
            raise ValueError("epoch seconds out of range")
        return datetime.fromtimestamp(value, UTC).replace(tzinfo=None)
    s = str(value).strip()
    if s.replace(".", "", 1).isdigit():
        return _timestamp(float(s))
    dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt


def validate(record: dict, line: int) -> Event:
    """An Event, or ValueError with the reason a person can act on."""
    user = str(record.get("user") or record.get("user_id") or "").strip()
    item = str(record.get("item") or record.get("item_id") or "").strip()
    kind = str(record.get("type") or record.get("event") or "").strip().lower()
    if not user:
        raise ValueError("missing user")
    if not item:
        raise ValueError("missing item")
    if len(user) > MAX_ID or len(item) > MAX_ID or any(ord(c) < 32 for c in user + item):
        raise ValueError("user or item id too long or with control characters")
    if kind not in TYPES:
        raise ValueError(f"unknown type {kind!r} (known: {', '.join(sorted(TYPES))})")
    raw_value = record.get("value")
    value = None
    if raw_value not in (None, ""):
        try:
            value = float(raw_value)
        except (TypeError, ValueError):
            raise ValueError(f"value {raw_value!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError("value is not finite")
    if kind == "rating" and (value is None or not 0 <= value <= 5):
        raise ValueError(f"rating {raw_value!r} is not between 0 and 5")
    if value is not None and value < 0:
        raise ValueError(f"negative value {value}")
    if "timestamp" not in record and "ts" not in record:
        raise ValueError("missing timestamp")
    try:
        ts = _timestamp(record.get("timestamp", record.get("ts")))
    except (ValueError, TypeError, OverflowError, OSError) as exc:
        raise ValueError(f"bad timestamp {record.get('timestamp', record.get('ts'))!r}: {exc}") from None
    if not datetime(1990, 1, 1) <= ts <= datetime(2100, 1, 1):
        raise ValueError(f"timestamp {ts.isoformat()} is out of range")
    return Event(user, item, kind, value, ts, line)


def parse_file(path: str, max_bytes: int = 200 * 1024 * 1024) -> tuple[list[Event], list[BadRow]]:
    """Every valid event of a file and every bad row with its reason; a file that cannot be read at
    all is one bad row."""
    size = os.path.getsize(path)
    if size > max_bytes:
        return [], [BadRow(None, "", f"file larger than {max_bytes} bytes")]
    with open(path, "rb") as fh:
        data = fh.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [BadRow(None, "", f"not UTF-8 text: {exc}")]
    events, bad = [], []
    if path.lower().endswith((".jsonl", ".ndjson", ".json")):
        for n, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            if len(raw) > MAX_LINE:
                bad.append(BadRow(n, raw[:200], "line too long"))
                continue
            try:
                record = json.loads(raw)
                if not isinstance(record, dict):
                    raise ValueError("not a JSON object")
                events.append(validate(record, n))
            except json.JSONDecodeError as exc:
                bad.append(BadRow(n, raw[:500], f"not JSON: {exc.msg}"))
            except ValueError as exc:
                bad.append(BadRow(n, raw[:500], str(exc)))
    elif path.lower().endswith(".csv"):
        reader = csv.DictReader(io.StringIO(text))
        if (
            not reader.fieldnames
            or not {"user", "item"} <= {f.strip() for f in reader.fieldnames}
            and not {"user_id", "item_id"} <= {f.strip() for f in reader.fieldnames}
        ):
            return [], [
                BadRow(1, ",".join(reader.fieldnames or []), "CSV needs user, item, type, value, timestamp columns")
            ]
        for n, record in enumerate(reader, start=2):
            try:
                events.append(validate({k.strip(): v for k, v in record.items() if k}, n))
            except ValueError as exc:
                bad.append(BadRow(n, ",".join(str(v) for v in record.values())[:500], str(exc)))
    else:
        bad.append(BadRow(None, "", "unsupported file type (use .jsonl or .csv)"))
    return events, bad
