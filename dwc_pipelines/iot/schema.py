"""The `iot` schema of the warehouse."""

DDL = """
CREATE SCHEMA IF NOT EXISTS iot;
CREATE TABLE IF NOT EXISTS iot.telemetry (
    device_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,               -- the device's sequence number; (device_id, seq) is unique
    ts TIMESTAMP NOT NULL,             -- when the device measured (UTC)
    metric VARCHAR NOT NULL,
    value DOUBLE NOT NULL,
    received_at TIMESTAMP NOT NULL,    -- when the consumer took it from the broker
    landed_hour TIMESTAMP NOT NULL,    -- the hourly partition (the hour its micro-batch landed)
    batch_file VARCHAR NOT NULL,
    loaded_at TIMESTAMP NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS iot.telemetry_quarantine (
    batch_file VARCHAR NOT NULL, line INTEGER NOT NULL, topic VARCHAR, device_id VARCHAR,
    reason VARCHAR NOT NULL,           -- oversized | not_json | schema | device_mismatch | bad_timestamp | absurd_value | unknown_device
    detail VARCHAR, payload VARCHAR, received_at TIMESTAMP, landed_hour TIMESTAMP NOT NULL,
    quarantined_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS iot._batch_files (
    batch_file VARCHAR NOT NULL, landed_hour TIMESTAMP NOT NULL, records INTEGER NOT NULL, readings INTEGER NOT NULL,
    duplicates INTEGER NOT NULL, quarantined INTEGER NOT NULL, loaded_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS iot.device_meta (
    device_id VARCHAR NOT NULL, type VARCHAR, location VARCHAR, lat DOUBLE, lon DOUBLE, firmware VARCHAR,
    source VARCHAR NOT NULL,           -- mqtt (retained dwc/devices/<id>/meta) | registry (the registry file)
    received_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS iot.devices (
    device_id VARCHAR NOT NULL, type VARCHAR, location VARCHAR, lat DOUBLE, lon DOUBLE, firmware VARCHAR,
    firmware_history VARCHAR[], registered BOOLEAN NOT NULL, first_seen TIMESTAMP, last_seen TIMESTAMP,
    last_ts TIMESTAMP, messages BIGINT NOT NULL, quarantined BIGINT NOT NULL,
    status VARCHAR NOT NULL,           -- online | stale | offline | never_seen | unregistered
    latest VARCHAR,                    -- the latest reading per metric, JSON
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS iot.rollups_hourly (
    device_id VARCHAR NOT NULL, metric VARCHAR NOT NULL, hour TIMESTAMP NOT NULL, n BIGINT NOT NULL,
    min DOUBLE, max DOUBLE, mean DOUBLE, p95 DOUBLE, computed_at TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS iot._watermarks (name VARCHAR NOT NULL, loaded_at TIMESTAMP NOT NULL);
CREATE TABLE IF NOT EXISTS iot.anomalies (
    anomaly_id VARCHAR NOT NULL, device_id VARCHAR NOT NULL, metric VARCHAR NOT NULL, seq BIGINT NOT NULL,
    ts TIMESTAMP NOT NULL, value DOUBLE NOT NULL, detector VARCHAR NOT NULL, score DOUBLE NOT NULL,
    threshold DOUBLE NOT NULL, detected_at TIMESTAMP NOT NULL, run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS iot.commands (
    command_id VARCHAR NOT NULL, device_id VARCHAR NOT NULL, anomaly_id VARCHAR, action VARCHAR NOT NULL,
    topic VARCHAR NOT NULL, payload VARCHAR NOT NULL,
    status VARCHAR NOT NULL,           -- published (PUBACK received) | failed (retried on the next run)
    error VARCHAR, attempts INTEGER NOT NULL, published_at TIMESTAMP, run_id VARCHAR NOT NULL
);
"""
