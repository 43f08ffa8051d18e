"""Landing files to warehouse rows: one hour folder at a time, exactly once per (device, seq).

Every step is in one DuckDB transaction per call: a crash leaves the partition as it was and the
next run loads the same files again. Files already loaded are skipped (iot._batch_files), and a
message whose (device_id, seq) is already in iot.telemetry, in this hour or any other, is counted
as a duplicate and not inserted (the consumer's at-least-once hand-over makes a few).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import groupby
from pathlib import Path

import yaml

from dwc_resources.duck import transaction

from .consumer import HOUR_FORMAT
from .payloads import Meta, Rejected, meta_from, parse_records, payload_text

REGISTRY_FILE = "devices.yaml"


def utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, UTC).replace(tzinfo=None)


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def hour_folders(root: str | os.PathLike) -> list[Path]:
    """The hour folders of the telemetry landing, oldest first (anything else is ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    for p in root.iterdir():
        if p.is_dir():
            try:
                datetime.strptime(p.name, HOUR_FORMAT)
            except ValueError:
                continue
            out.append(p)
    return sorted(out)


def partition_key(folder: str) -> str:
    """`2026-11-22-08` (a landing folder) -> `2026-11-22-08:00` (Dagster's hourly partition key)."""
    return f"{folder}:00"


def folder_of(key: str) -> str:
    return key.split(":")[0]


def batch_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("batch-*.jsonl"))


def folder_signature(folder: Path) -> str | None:
    """An hour folder's batch files as the telemetry sensor tracks them: their count and the newest
    (the consumer only adds files, named in time order)."""
    files = batch_files(folder)
    return f"{len(files)}:{files[-1].name}" if files else None


def read_registry(root: str | os.PathLike) -> dict[str, Meta]:
    """devices.yaml: a list of {device_id, type, location | {name, lat, lon}, firmware}."""
    path = Path(root) / REGISTRY_FILE
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a list of devices")
    out = {}
    for n, item in enumerate(data, 1):
        if not isinstance(item, dict) or not item.get("device_id"):
            raise ValueError(f"{path}: device #{n} has no device_id")
        meta = meta_from(str(item["device_id"]), item)
        if isinstance(meta, Rejected):
            raise ValueError(f"{path}: device {item['device_id']}: {meta.detail}")
        out[meta.device_id] = meta
    return out


@dataclass
class LoadStats:
    files: int = 0
    records: int = 0
    messages: int = 0
    duplicates: int = 0
    rows: int = 0
    metas: int = 0
    quarantined: int = 0


def load_folder(
    con,
    folder: Path,
    run_id: str,
    registry: dict[str, Meta],
    require_registration: bool = True,
    max_payload_bytes: int = 8192,
    log: Callable[[str], None] = lambda m: None,
) -> LoadStats:
    import pyarrow as pa

    stats = LoadStats()
    landed_hour = datetime.strptime(folder.name, HOUR_FORMAT)
    done = {
        r[0]
        for r in con.execute("SELECT batch_file FROM iot._batch_files WHERE landed_hour = ?", [landed_hour]).fetchall()
    }
    todo = [p for p in batch_files(folder) if str(p) not in done]
    if not todo:
        return stats
    loaded_at = now()
    known = set(registry) | {r[0] for r in con.execute("SELECT DISTINCT device_id FROM iot.device_meta").fetchall()}
    cols = {k: [] for k in ("device_id", "seq", "ts", "metric", "value", "received_at", "batch_file")}
    quarantine, metas, files = [], [], []
    seen: set[tuple[str, int]] = set()
    for path in todo:
        records = []
        with open(path, encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                rec = json.loads(line)
                rec["_line"] = line_no
                records.append(rec)
        parsed = parse_records(records, max_payload_bytes)
        for meta, rec in parsed.metas:
            metas.append((meta, rec))
            known.add(meta.device_id)
        n_msgs = n_dups = 0
        rejected = list(parsed.rejected)
        for reading, rec in parsed.readings:
            received = rec.get("received_at", 0.0)
            if require_registration and reading.device_id not in known:
                rejected.append(
                    (Rejected("unknown_device", "no meta message and not in the registry file", reading.device_id), rec)
                )
                continue
            key = (reading.device_id, reading.seq)
            if key in seen:
                n_dups += 1
                continue
            seen.add(key)
            n_msgs += 1
            for metric, value in reading.metrics.items():
                cols["device_id"].append(reading.device_id)
                cols["seq"].append(reading.seq)
                cols["ts"].append(reading.ts)
                cols["metric"].append(metric)
                cols["value"].append(value)
                cols["received_at"].append(received)
                cols["batch_file"].append(str(path))
        for rej, rec in rejected:
            quarantine.append(
                (
                    str(path),
                    rec["_line"],
                    rec.get("topic"),
                    rej.device_id,
                    rej.reason,
                    rej.detail,
                    payload_text(rec),
                    utc(rec["received_at"]) if rec.get("received_at") else None,
                    landed_hour,
                    loaded_at,
                    run_id,
                )
            )
        files.append([str(path), landed_hour, len(records), n_msgs, n_dups, len(rejected), loaded_at, run_id])
        stats.records += len(records)
        stats.messages += n_msgs
        stats.duplicates += n_dups
        stats.quarantined += len(rejected)
    stats.files = len(todo)
    stats.metas = len(metas)
    staged = pa.table(
        {
            **{k: v for k, v in cols.items()},
            "landed_hour": pa.array([landed_hour] * len(cols["seq"]), pa.timestamp("us")),
            "loaded_at": pa.array([loaded_at] * len(cols["seq"]), pa.timestamp("us")),
            "run_id": pa.array([run_id] * len(cols["seq"]), pa.string()),
        },
        schema=pa.schema(
            [
                ("device_id", pa.string()),
                ("seq", pa.int64()),
                ("ts", pa.float64()),
                ("metric", pa.string()),
                ("value", pa.float64()),
                ("received_at", pa.float64()),
                ("batch_file", pa.string()),
                ("landed_hour", pa.timestamp("us")),
                ("loaded_at", pa.timestamp("us")),
                ("run_id", pa.string()),
            ]
        ),
    )
    with transaction(con):
        con.register("dwc_staged_telemetry", staged)
        try:
            before = con.execute("SELECT count(*) FROM iot.telemetry").fetchall()[0][0]
            # Redelivered messages from earlier batches (any hour) are duplicates too.
            con.execute("""
                INSERT INTO iot.telemetry
                SELECT s.device_id, s.seq, make_timestamp(CAST(round(s.ts * 1e6) AS BIGINT)), s.metric, s.value,
                       make_timestamp(CAST(round(s.received_at * 1e6) AS BIGINT)), s.landed_hour, s.batch_file,
                       s.loaded_at, s.run_id
                FROM dwc_staged_telemetry s
                WHERE NOT EXISTS (SELECT 1 FROM iot.telemetry t WHERE t.device_id = s.device_id AND t.seq = s.seq)""")
            stats.rows = con.execute("SELECT count(*) FROM iot.telemetry").fetchall()[0][0] - before
        finally:
            con.unregister("dwc_staged_telemetry")
        inserted_msgs = con.execute(
            "SELECT count(DISTINCT (device_id, seq)) FROM iot.telemetry WHERE loaded_at = ? AND landed_hour = ?",
            [loaded_at, landed_hour],
        ).fetchall()[0][0]
        redelivered = stats.messages - inserted_msgs
        stats.duplicates += redelivered
        stats.messages = inserted_msgs
        if quarantine:
            con.executemany("INSERT INTO iot.telemetry_quarantine VALUES (?,?,?,?,?,?,?,?,?,?,?)", quarantine)
        if metas:
            con.executemany(
                "INSERT INTO iot.device_meta VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        m.device_id,
                        m.type,
                        m.location,
                        m.lat,
                        m.lon,
                        m.firmware,
                        "mqtt",
                        utc(rec.get("received_at", 0.0)),
                        run_id,
                    )
                    for m, rec in metas
                ],
            )
        if redelivered:
            # Per-file duplicate counts are of this load's own repeats; the rest are spread on the first file.
            files[0][4] += redelivered
        con.executemany("INSERT INTO iot._batch_files VALUES (?,?,?,?,?,?,?,?)", files)
    log(
        f"{folder.name}: {stats.files} files, {stats.records} records, {stats.messages} new messages "
        f"({stats.rows} rows), {stats.duplicates} duplicates, {stats.quarantined} quarantined, {stats.metas} metas"
    )
    return stats


def _watermark(con, name: str) -> datetime:
    row = con.execute("SELECT max(loaded_at) FROM iot._watermarks WHERE name = ?", [name]).fetchall()[0][0]
    return row or datetime(1970, 1, 1)


def _advance(con, name: str, to: datetime | None) -> None:
    if to is not None:
        con.execute("DELETE FROM iot._watermarks WHERE name = ?", [name])
        con.execute("INSERT INTO iot._watermarks VALUES (?, ?)", [name, to])


def refresh_rollups(con) -> int:
    """Recompute the (device, metric, hour) groups that rows loaded since the last refresh touch;
    late readings land in their own (earlier) hour. Returns the groups recomputed."""
    with transaction(con):
        mark = _watermark(con, "rollups")
        top = con.execute("SELECT max(loaded_at) FROM iot.telemetry").fetchall()[0][0]
        con.execute(
            """CREATE OR REPLACE TEMP TABLE dwc_touched AS
                       SELECT DISTINCT device_id, metric, date_trunc('hour', ts) AS hour
                       FROM iot.telemetry WHERE loaded_at > ?""",
            [mark],
        )
        n = con.execute("SELECT count(*) FROM dwc_touched").fetchall()[0][0]
        con.execute("""DELETE FROM iot.rollups_hourly r USING dwc_touched t
                       WHERE r.device_id = t.device_id AND r.metric = t.metric AND r.hour = t.hour""")
        con.execute(
            """INSERT INTO iot.rollups_hourly
                       SELECT t.device_id, t.metric, date_trunc('hour', t.ts) AS hour, count(*), min(value), max(value),
                              avg(value), quantile_cont(value, 0.95), ?
                       FROM iot.telemetry t
                       JOIN dwc_touched d ON d.device_id = t.device_id AND d.metric = t.metric
                                         AND d.hour = date_trunc('hour', t.ts)
                       GROUP BY 1, 2, 3""",
            [now()],
        )
        con.execute("DROP TABLE dwc_touched")
        _advance(con, "rollups", top)
    return n


def status_of(last_seen: datetime | None, at: datetime, online_s: float, offline_s: float) -> str:
    if last_seen is None:
        return "never_seen"
    age = (at - last_seen).total_seconds()
    return "online" if age <= online_s else "stale" if age <= offline_s else "offline"


def refresh_devices(con, registry: dict[str, Meta], online_s: float = 300, offline_s: float = 3600) -> list[tuple]:
    """Rebuild iot.devices: registered devices (latest meta wins, registry file below MQTT) with their
    traffic, and devices that sent telemetry without registering (flagged `unregistered`)."""
    at = now()
    with transaction(con):
        if registry:
            con.execute("DELETE FROM iot.device_meta WHERE source = 'registry'")
            con.executemany(
                "INSERT INTO iot.device_meta VALUES (?,?,?,?,?,?,'registry',?,'registry-file')",
                [
                    (m.device_id, m.type, m.location, m.lat, m.lon, m.firmware, datetime(1970, 1, 1))
                    for m in registry.values()
                ],
            )
        rows = con.execute("""
            WITH meta AS (
                SELECT device_id, arg_max(type, received_at) AS type, arg_max(location, received_at) AS location,
                       arg_max(lat, received_at) AS lat, arg_max(lon, received_at) AS lon,
                       arg_max(firmware, received_at) AS firmware,
                       (SELECT list(firmware ORDER BY first_at) FROM (
                            SELECT firmware, min(received_at) AS first_at FROM iot.device_meta f
                            WHERE f.device_id = d.device_id AND firmware IS NOT NULL GROUP BY 1)) AS fw_history
                FROM iot.device_meta d GROUP BY device_id),
            traffic AS (
                SELECT device_id, min(received_at) AS first_seen, max(received_at) AS last_seen, max(ts) AS last_ts,
                       count(DISTINCT seq) AS messages
                FROM iot.telemetry GROUP BY device_id),
            latest AS (
                SELECT device_id, to_json(map_from_entries(list({'k': metric, 'v': value}))) AS latest FROM (
                    SELECT device_id, metric, arg_max(value, ts) AS value FROM iot.telemetry GROUP BY 1, 2)
                GROUP BY device_id),
            bad AS (
                SELECT device_id, count(*) AS quarantined, max(received_at) AS last_bad,
                       bool_or(reason = 'unknown_device') AS unknown
                FROM iot.telemetry_quarantine WHERE device_id IS NOT NULL GROUP BY device_id)
            SELECT coalesce(m.device_id, t.device_id, b.device_id), m.type, m.location, m.lat, m.lon, m.firmware,
                   m.fw_history, m.device_id IS NOT NULL, t.first_seen, greatest(t.last_seen, b.last_bad), t.last_ts,
                   coalesce(t.messages, 0), coalesce(b.quarantined, 0), l.latest
            FROM meta m
            FULL JOIN traffic t ON t.device_id = m.device_id
            FULL JOIN bad b ON b.device_id = coalesce(m.device_id, t.device_id)
            LEFT JOIN latest l ON l.device_id = coalesce(m.device_id, t.device_id)
            ORDER BY 1""").fetchall()
        out = []
        for r in rows:
            status = status_of(r[9], at, online_s, offline_s) if r[7] else "unregistered"
            out.append(
                (
                    r[0],
                    r[1],
                    r[2],
                    r[3],
                    r[4],
                    r[5],
                    r[6] or [],
                    r[7],
                    r[8],
                    r[9],
                    r[10],
                    r[11],
                    r[12],
                    status,
                    str(r[13]) if r[13] is not None else None,
                    at,
                )
            )
        con.execute("DELETE FROM iot.devices")
        if out:
            con.executemany("INSERT INTO iot.devices VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", out)
    return out


def detect_anomalies(
    con,
    run_id: str,
    detectors: tuple[str, ...],
    thresholds: dict[str, float],
    lookback: int = 5000,
    log: Callable[[str], None] = lambda m: None,
) -> list[tuple]:
    """Score the series (device, metric) that received rows since the last pass; a point of a new
    row whose score reaches its detector's threshold becomes an anomaly (its id is deterministic, so
    a second pass over the same rows adds nothing)."""
    import hashlib

    import numpy as np

    from . import detectors as det

    found = []
    with transaction(con):
        mark = _watermark(con, "anomalies")
        top = con.execute("SELECT max(loaded_at) FROM iot.telemetry").fetchall()[0][0]
        # The last `lookback` points of every series that received rows, in one scan of the table
        # rather than one query per series (a query on the lake costs tens of milliseconds).
        recent = con.execute(
            """WITH touched AS (SELECT DISTINCT device_id, metric FROM iot.telemetry WHERE loaded_at > ?)
               SELECT device_id, metric, seq, ts, value, loaded_at > ? FROM (
                   SELECT t.*, row_number() OVER (PARTITION BY t.device_id, t.metric
                                                  ORDER BY t.ts DESC, t.seq DESC) AS back
                   FROM iot.telemetry t JOIN touched USING (device_id, metric))
               WHERE back <= ? ORDER BY device_id, metric, ts, seq""",
            [mark, mark, lookback],
        ).fetchall()
        series = [(key, [r[2:] for r in group]) for key, group in groupby(recent, key=lambda r: (r[0], r[1]))]
        known = {r[0] for r in con.execute("SELECT anomaly_id FROM iot.anomalies").fetchall()}
        at = now()
        for n, ((device, metric), rows) in enumerate(series, 1):
            values = np.array([r[2] for r in rows], dtype=float)
            for name in detectors:
                scores = det.score(name, values)
                threshold = thresholds[name]
                for i in np.nonzero(scores >= threshold)[0]:
                    seq, ts, value, new = rows[i]
                    aid = hashlib.sha256(f"{device}\0{metric}\0{seq}\0{name}".encode()).hexdigest()[:20]
                    if new and aid not in known:
                        known.add(aid)
                        found.append(
                            (aid, device, metric, seq, ts, value, name, float(scores[i]), threshold, at, run_id)
                        )
            if n % 50 == 0:
                log(f"scored {n}/{len(series)} series")
        if found:
            con.executemany("INSERT INTO iot.anomalies VALUES (?,?,?,?,?,?,?,?,?,?,?)", found)
        _advance(con, "anomalies", top)
    return found


def command_topic(device_id: str) -> str:
    return f"dwc/devices/{device_id}/commands"


def publish_commands(
    con, broker, run_id: str, action: str = "diagnose", cooldown_s: float = 3600.0, max_attempts: int = 5
) -> dict:
    """One command per device and cooldown for its new anomalies, published at QoS 1 and audited in
    iot.commands. A command whose publish failed is retried on the next pass (same command id, so a
    device can drop one it already executed)."""
    import hashlib

    at = now()
    with transaction(con):
        retry = con.execute(
            """SELECT command_id, device_id, anomaly_id, action, topic, payload, attempts
                               FROM iot.commands WHERE status = 'failed' AND attempts < ?
                               AND command_id NOT IN (SELECT command_id FROM iot.commands WHERE status = 'published')
                               QUALIFY row_number() OVER (PARTITION BY command_id ORDER BY attempts DESC) = 1""",
            [max_attempts],
        ).fetchall()
        fresh = con.execute(
            """
            SELECT a.device_id, arg_min(a.anomaly_id, a.ts), arg_min(a.metric, a.ts), min(a.ts), count(*)
            FROM iot.anomalies a
            WHERE a.anomaly_id NOT IN (SELECT anomaly_id FROM iot.commands WHERE anomaly_id IS NOT NULL)
              AND NOT EXISTS (SELECT 1 FROM iot.commands c WHERE c.device_id = a.device_id AND c.status = 'published'
                              AND c.published_at > ?::TIMESTAMP - to_seconds(?))
            GROUP BY a.device_id ORDER BY 1""",
            [at, cooldown_s],
        ).fetchall()
        pending = [
            (cid, dev, aid, act, topic, payload, attempts) for cid, dev, aid, act, topic, payload, attempts in retry
        ]
        for device, anomaly_id, metric, ts, count in fresh:
            command_id = hashlib.sha256(f"{device}\0{anomaly_id}\0{action}".encode()).hexdigest()[:20]
            payload = json.dumps(
                {
                    "command_id": command_id,
                    "action": action,
                    "reason": "anomaly",
                    "anomaly_id": anomaly_id,
                    "metric": metric,
                    "since": ts.isoformat() + "Z",
                    "anomalies": count,
                },
                sort_keys=True,
            )
            pending.append((command_id, device, anomaly_id, action, command_topic(device), payload, 0))
        results = broker.publish_many([(p[4], p[5]) for p in pending], qos=1)
        rows = [
            (
                cid,
                dev,
                aid,
                act,
                topic,
                payload,
                "published" if err is None else "failed",
                err,
                attempts + 1,
                at if err is None else None,
                run_id,
            )
            for (cid, dev, aid, act, topic, payload, attempts), err in zip(pending, results)
        ]
        if rows:
            con.executemany("INSERT INTO iot.commands VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    return {
        "published": sum(r[6] == "published" for r in rows),
        "failed": sum(r[6] == "failed" for r in rows),
        "errors": sorted({r[7] for r in rows if r[7]}),
    }
