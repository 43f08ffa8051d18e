"""Telemetry and device-meta payloads: parsing and validation (pure Python, no Dagster).

A landed record is what the consumer wrote: the topic, the raw payload (base64) and when it was
received. Telemetry payloads are JSON objects:

    {"device_id": "dev-01", "seq": 41, "ts": 1763800000.0, "temperature": 21.4, "humidity": 40}

`ts` is epoch seconds or ISO 8601; every other number (or the members of a "metrics" object) is a
metric. Meta payloads (`dwc/devices/<id>/meta`, retained) carry "type", "location" and "firmware".
A bad payload becomes a quarantine row with a reason; it never stops the batch.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

RESERVED = {"device_id", "seq", "ts", "metrics", "firmware", "boot"}
# Physical plausibility per known metric; anything else must stay within GENERIC_LIMIT.
LIMITS = {
    "temperature": (-90.0, 150.0),
    "humidity": (0.0, 100.0),
    "battery": (0.0, 100.0),
    "pressure": (300.0, 1100.0),
    "cpu": (0.0, 100.0),
    "vibration": (0.0, 1000.0),
}
GENERIC_LIMIT = 1e12
GENERIC = (-GENERIC_LIMIT, GENERIC_LIMIT)
MAX_FUTURE_S = 300.0  # device clocks drift; a reading from further ahead is a broken clock
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC).timestamp()


@dataclass
class Reading:
    device_id: str
    seq: int
    ts: float
    metrics: dict[str, float]


@dataclass
class Meta:
    device_id: str
    type: str | None
    location: str | None
    lat: float | None
    lon: float | None
    firmware: str | None


@dataclass
class Rejected:
    reason: str  # oversized | not_json | schema | device_mismatch | bad_timestamp | absurd_value | unknown_device
    detail: str
    device_id: str | None = None


@dataclass
class Parsed:
    readings: list[tuple[Reading, dict]] = field(default_factory=list)  # (reading, landed record)
    metas: list[tuple[Meta, dict]] = field(default_factory=list)
    rejected: list[tuple[Rejected, dict]] = field(default_factory=list)


def topic_parts(topic: str) -> tuple[str | None, str | None]:
    """('dev-01', 'telemetry') for dwc/devices/dev-01/telemetry; (None, None) for anything else."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == "dwc" and parts[1] == "devices" and parts[2]:
        return parts[2], parts[3]
    return None, None


def _timestamp(value) -> float | None:
    if type(value) is float or type(value) is int:
        return float(value) / 1000.0 if value > 1e11 else float(value)  # milliseconds are common on devices
    if isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()
    return None


def _json_object(device_id: str, raw: bytes, max_bytes: int) -> dict | Rejected:
    """The payload as a JSON object, or why it is not one (telemetry and meta alike)."""
    if len(raw) > max_bytes:
        return Rejected("oversized", f"{len(raw)} bytes > {max_bytes}", device_id)
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        return Rejected("not_json", str(exc)[:200], device_id)
    if not isinstance(obj, dict):
        return Rejected("not_json", f"a JSON {type(obj).__name__}, not an object", device_id)
    return obj


def parse_reading(device_id: str, raw: bytes, received_at: float, max_bytes: int) -> Reading | Rejected:
    obj = _json_object(device_id, raw, max_bytes)
    if isinstance(obj, Rejected):
        return obj
    claimed = obj.get("device_id", device_id)
    if claimed != device_id:
        # One device publishing as another (the broker's ACLs should stop this; we refuse it too).
        return Rejected("device_mismatch", f"payload says {str(claimed)[:64]!r}, topic says {device_id!r}", device_id)
    seq = obj.get("seq")
    if type(seq) is not int or seq < 0:
        return Rejected("schema", f"seq must be a non-negative integer, got {json.dumps(seq)[:40]}", device_id)
    if "ts" not in obj:
        return Rejected("schema", "missing ts", device_id)
    ts = _timestamp(obj["ts"])
    if ts is None:
        return Rejected("schema", f"ts is not epoch seconds or ISO 8601: {json.dumps(obj['ts'])[:40]}", device_id)
    if ts < MIN_TS or ts > received_at + MAX_FUTURE_S:
        return Rejected(
            "bad_timestamp",
            f"ts {ts:.0f} is before 2000 or more than {MAX_FUTURE_S:.0f}s ahead of its arrival",
            device_id,
        )
    nested = obj.get("metrics")
    items = list(nested.items()) if isinstance(nested, dict) else []
    items += [(k, v) for k, v in obj.items() if k not in RESERVED]
    metrics = {}
    for name, value in items:
        kind = type(value)
        if kind is not float and kind is not int:
            continue  # text fields (status strings, units) and booleans are not metrics
        value = float(value)
        lo, hi = LIMITS.get(name, GENERIC)
        if not lo <= value <= hi:  # NaN fails every comparison; infinities fall outside
            return Rejected("absurd_value", f"{name}={value!r} outside [{lo:g}, {hi:g}]", device_id)
        metrics[name[:64]] = value
    if not metrics:
        return Rejected("schema", "no numeric metric in the payload", device_id)
    return Reading(device_id, seq, ts, metrics)


def parse_meta(device_id: str, raw: bytes, max_bytes: int) -> Meta | Rejected:
    obj = _json_object(device_id, raw, max_bytes)
    return obj if isinstance(obj, Rejected) else meta_from(device_id, obj)


def meta_from(device_id: str, obj: dict) -> Meta | Rejected:
    loc = obj.get("location")
    lat = lon = None
    name = None
    if isinstance(loc, dict):
        name = loc.get("name")
        lat, lon = loc.get("lat"), loc.get("lon")
        if not all(v is None or (isinstance(v, (int, float)) and not isinstance(v, bool)) for v in (lat, lon)):
            return Rejected("schema", "location lat/lon must be numbers", device_id)
        if lat is not None and not -90 <= lat <= 90 or lon is not None and not -180 <= lon <= 180:
            return Rejected("absurd_value", f"location ({lat}, {lon}) is not on Earth", device_id)
    elif loc is not None:
        name = str(loc)
    text = lambda v: None if v is None else str(v)[:128]  # noqa: E731
    return Meta(
        device_id,
        text(obj.get("type")),
        text(name),
        None if lat is None else float(lat),
        None if lon is None else float(lon),
        text(obj.get("firmware")),
    )


def parse_records(records: list[dict], max_bytes: int = 8192) -> Parsed:
    """Split landed records into readings, device metas and rejects (the caller checks registration)."""
    out = Parsed()
    for rec in records:
        device_id, kind = topic_parts(rec.get("topic", ""))
        try:
            raw = binascii.a2b_base64(rec["payload_b64"], strict_mode=True)
        except (KeyError, ValueError, TypeError):
            out.rejected.append((Rejected("not_json", "the landed record has no readable payload", device_id), rec))
            continue
        if device_id is None or kind not in ("telemetry", "meta"):
            out.rejected.append((Rejected("schema", f"unexpected topic {rec.get('topic', '')[:120]!r}"), rec))
            continue
        if kind == "meta":
            if not raw:  # an empty retained message deletes the retained meta; nothing to register
                continue
            item = parse_meta(device_id, raw, max_bytes)
            (out.metas if isinstance(item, Meta) else out.rejected).append((item, rec))
        else:
            item = parse_reading(device_id, raw, float(rec.get("received_at", 0.0)), max_bytes)
            (out.readings if isinstance(item, Reading) else out.rejected).append((item, rec))
    return out


def payload_text(rec: dict, limit: int = 1024) -> str:
    """The raw payload for a quarantine row, readable and bounded."""
    try:
        raw = base64.b64decode(rec.get("payload_b64", ""))
    except ValueError:
        return ""
    return raw[:limit].decode("utf-8", errors="replace")
