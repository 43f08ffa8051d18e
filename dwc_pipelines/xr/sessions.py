"""XR session analytics: validation of session events (JSON lines) and the marts built from them.

An event is one JSON object per line:

    {"event_id": "e-0001", "session_id": "s-01", "ts": "2026-11-30T10:00:00Z", "type": "session_start",
     "device": "quest-3", "user": "reader-01", "scene": "document_map"}
    {"event_id": "e-0002", "session_id": "s-01", "ts": "...", "type": "gaze", "scene": "document_map",
     "target": "<doc_id>", "duration_ms": 2400}
    {"event_id": "e-0003", ..., "type": "pointer", "target": "<doc_id>"}
    {"event_id": "e-0004", ..., "type": "gesture", "gesture": "pinch", "target": "<doc_id>"}
    {"event_id": "e-0005", ..., "type": "session_end"}

`target` names a scene node (a document's doc_id, a device id, a workflow asset key). A bad line is
quarantined with a reason and never stops the file; a repeated event_id is dropped as a duplicate.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

TYPES = {"session_start", "session_end", "gaze", "pointer", "gesture"}
GESTURES = {"pinch", "grab", "tap", "swipe", "point", "release"}
SCENES = {"document_map", "device_twin", "workflow_map"}
MAX_LINE = 16_384
MAX_DWELL_MS = 10 * 60 * 1000

DDL = """
CREATE SCHEMA IF NOT EXISTS xr;
CREATE TABLE IF NOT EXISTS xr.session_events (
    event_id VARCHAR NOT NULL, session_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL, type VARCHAR NOT NULL,
    scene VARCHAR, target VARCHAR, device VARCHAR, user_id VARCHAR, gesture VARCHAR, duration_ms DOUBLE,
    source_file VARCHAR NOT NULL, line INTEGER NOT NULL, loaded_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS xr.events_quarantine (
    source_file VARCHAR NOT NULL, line INTEGER NOT NULL, reason_code VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    raw VARCHAR, quarantined_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS xr.event_files (
    source_file VARCHAR NOT NULL, size_bytes BIGINT NOT NULL, mtime_ns BIGINT NOT NULL, sha256 VARCHAR NOT NULL,
    events INTEGER NOT NULL, quarantined INTEGER NOT NULL, loaded_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
"""


class Bad(ValueError):
    def __init__(self, code: str, reason: str):
        super().__init__(reason)
        self.code, self.reason = code, reason


def _text(obj: dict, key: str, required: bool = True, limit: int = 200) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise Bad("schema", f"'{key}' is missing")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise Bad("schema", f"'{key}' must be a non-empty string of at most {limit} characters")
    return value


def parse(line: str) -> dict:
    """One line as a validated event, or Bad(code, reason)."""
    if len(line) > MAX_LINE:
        raise Bad("oversized", f"line of {len(line)} characters (at most {MAX_LINE})")
    try:
        obj = json.loads(line)
    except ValueError as exc:
        raise Bad("not_json", f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise Bad("schema", f"a JSON object is expected, not {type(obj).__name__}")
    event = {"event_id": _text(obj, "event_id"), "session_id": _text(obj, "session_id")}
    kind = _text(obj, "type")
    if kind not in TYPES:
        raise Bad("unknown_type", f"type '{kind}' is not one of {', '.join(sorted(TYPES))}")
    try:
        ts = datetime.fromisoformat(_text(obj, "ts").replace("Z", "+00:00"))
    except ValueError:
        raise Bad("bad_timestamp", f"ts '{obj.get('ts')}' is not an ISO 8601 timestamp") from None
    if ts.tzinfo is None:
        raise Bad("bad_timestamp", f"ts '{obj['ts']}' has no time zone")
    event["ts"] = ts.astimezone(UTC).replace(tzinfo=None)
    event["type"] = kind
    scene = _text(obj, "scene", required=kind != "session_end")
    if scene is not None and scene not in SCENES:
        raise Bad("unknown_scene", f"scene '{scene}' is not one of {', '.join(sorted(SCENES))}")
    event["scene"] = scene
    event["target"] = _text(obj, "target", required=kind in ("gaze", "pointer"))
    event["device"] = _text(obj, "device", required=kind == "session_start")
    event["user_id"] = _text(obj, "user", required=False)
    event["gesture"] = None
    if kind == "gesture":
        event["gesture"] = _text(obj, "gesture")
        if event["gesture"] not in GESTURES:
            raise Bad("schema", f"gesture '{event['gesture']}' is not one of {', '.join(sorted(GESTURES))}")
    event["duration_ms"] = None
    if kind == "gaze":
        d = obj.get("duration_ms")
        if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 < d <= MAX_DWELL_MS:
            raise Bad("bad_duration", f"duration_ms {d!r} must be a number in (0, {MAX_DWELL_MS}]")
        event["duration_ms"] = float(d)
    return event


def read_file(data: bytes) -> tuple[list[tuple[int, dict]], list[tuple[int, str, str, str]]]:
    """(line, event) pairs and (line, code, reason, raw) rejections of one file's bytes."""
    events, bad = [], []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [(0, "not_utf8", f"the file is not UTF-8: {exc}", "")]
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append((number, parse(line)))
        except Bad as exc:
            bad.append((number, exc.code, exc.reason, line[:500]))
    return events, bad


# The marts, rebuilt from xr.session_events in one transaction each run.
MARTS = """
CREATE OR REPLACE TABLE xr.sessions AS
SELECT session_id,
       any_value(device) FILTER (WHERE type = 'session_start') AS device,
       any_value(user_id) FILTER (WHERE user_id IS NOT NULL) AS user_id,
       min(ts) AS started_at, max(ts) AS last_event_at,
       date_diff('millisecond', min(ts) FILTER (WHERE type = 'session_start'),
                 max(ts) FILTER (WHERE type = 'session_end')) / 1000.0 AS duration_s,
       count(*) FILTER (WHERE type IN ('pointer', 'gesture')) AS interactions,
       count(*) FILTER (WHERE type = 'gaze') AS gazes,
       coalesce(sum(duration_ms) FILTER (WHERE type = 'gaze'), 0) / 1000.0 AS dwell_s,
       bool_or(type = 'session_end') AS ended,
       $run_id AS run_id
FROM xr.session_events GROUP BY session_id;
CREATE OR REPLACE TABLE xr.node_dwell AS
SELECT scene, target, count(*) FILTER (WHERE type = 'gaze') AS gazes,
       coalesce(sum(duration_ms) FILTER (WHERE type = 'gaze'), 0) / 1000.0 AS dwell_s,
       count(*) FILTER (WHERE type IN ('pointer', 'gesture')) AS interactions,
       count(DISTINCT session_id) AS sessions, $run_id AS run_id
FROM xr.session_events WHERE target IS NOT NULL GROUP BY scene, target;
CREATE OR REPLACE TABLE xr.document_views AS
SELECT n.target AS doc_id, d.title, d.content_hash, n.gazes, n.dwell_s, n.interactions, n.sessions,
       rank() OVER (ORDER BY n.dwell_s DESC, n.gazes DESC, n.target) AS rank, $run_id AS run_id
FROM xr.node_dwell n JOIN docs.documents d ON d.doc_id = n.target AND d.is_current
WHERE n.scene = 'document_map';
"""
