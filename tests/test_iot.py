"""IoT telemetry: payload validation, detectors and NAB scoring (pure), the hourly load with
duplicates and bad payloads, the registry, rollups, anomalies and commands (assets, with commands
received from the Mosquitto on 127.0.0.1:1883), the sensor, and the simulator through the
embedded broker."""

import base64
import json
import math
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import numpy as np
import pytest

from dwc_pipelines import iot
from dwc_pipelines.iot import detectors, nab
from dwc_pipelines.iot.consumer import write_batch
from dwc_pipelines.iot.payloads import parse_records
from dwc_resources.broker import BrokerResource
from dwc_sensors.telemetry import telemetry_sensor

from .conftest import require_service, require_shared_data

NOW = time.time()


def rec(topic: str, payload, received_at: float | None = None) -> dict:
    received_at = time.time() if received_at is None else received_at
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return {"topic": topic, "payload_b64": base64.b64encode(raw).decode(), "received_at": received_at, "dup": False}


def reading(device: str, seq: int, ts: float, **metrics) -> dict:
    return rec(f"dwc/devices/{device}/telemetry", {"device_id": device, "seq": seq, "ts": ts, **metrics})


def meta(device: str, received_at: float | None = None, **fields) -> dict:
    return rec(
        f"dwc/devices/{device}/meta",
        {"type": "thermostat", "firmware": "1.0.0", "location": {"name": "hall", "lat": 51.5, "lon": -0.1}, **fields},
        received_at,
    )


def test_payload_validation_names_every_reason():
    t = "dwc/devices/d1/telemetry"
    parsed = parse_records(
        [
            reading("d1", 1, NOW - 10, temperature=21.5, humidity=40, status="ok"),
            reading("d1", 2, datetime.fromtimestamp(NOW - 5, UTC).isoformat(), temperature=21.0),
            reading("d1", 3, (NOW - 5) * 1000, temperature=21.0),  # milliseconds
            rec(t, b"temperature=21"),
            rec(t, b"\xff\xfe"),
            rec(t, [1, 2]),
            rec(t, {"device_id": "d1", "ts": NOW, "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": -1, "ts": NOW, "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": 4, "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": 5, "ts": "yesterday", "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": 6, "ts": NOW + 3600, "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": 7, "ts": 5, "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": 8, "ts": NOW, "temperature": 999.0}),
            rec(t, {"device_id": "d1", "seq": 9, "ts": NOW, "humidity": 140}),
            rec(t, b'{"device_id": "d1", "seq": 10, "ts": 1763800000, "x": NaN}'),
            rec(t, {"device_id": "d1", "seq": 11, "ts": NOW, "status": "ok"}),
            rec(t, {"device_id": "d2", "seq": 12, "ts": NOW, "temperature": 1.0}),
            rec(t, {"device_id": "d1", "seq": 13, "ts": NOW, "pad": "x" * 9000, "temperature": 1.0}),
            rec("dwc/other/d1", {"x": 1}),
            meta("d1"),
            meta("d1", location={"lat": 95, "lon": 0}),
            rec("dwc/devices/d1/meta", b""),  # a cleared retained meta
        ]
    )
    assert [(r.seq, r.metrics) for r, _ in parsed.readings] == [
        (1, {"temperature": 21.5, "humidity": 40.0}),
        (2, {"temperature": 21.0}),
        (3, {"temperature": 21.0}),
    ]
    assert parsed.readings[2][0].ts == pytest.approx(NOW - 5, abs=0.01)
    reasons = [r.reason for r, _ in parsed.rejected]
    assert reasons == [
        "not_json",
        "not_json",
        "not_json",
        "schema",
        "schema",
        "schema",
        "schema",
        "bad_timestamp",
        "bad_timestamp",
        "absurd_value",
        "absurd_value",
        "absurd_value",
        "schema",
        "device_mismatch",
        "oversized",
        "schema",
        "absurd_value",
    ]
    assert [m.firmware for m, _ in parsed.metas] == ["1.0.0"]


def test_nab_scoring_matches_its_definition():
    series = [
        nab.Series("a", [str(i) for i in range(1000)], np.zeros(1000), [(400, 499)]),
        nab.Series("b", [str(i) for i in range(1000)], np.zeros(1000), [(700, 799)]),
    ]
    perfect = {"a": np.eye(1, 1000, 400)[0], "b": np.eye(1, 1000, 700)[0]}
    assert nab.corpus_score(series, perfect)["score"] == pytest.approx(100.0)
    assert nab.corpus_score(series, {"a": np.zeros(1000), "b": np.zeros(1000)}, thresholds=[0.5])["score"] == 0.0
    # At the right edge of its window a detection is worth almost nothing; a false positive costs 0.11.
    late = {"a": np.eye(1, 1000, 499)[0], "b": np.eye(1, 1000, 200)[0]}
    r = nab.corpus_score(series, late, thresholds=[0.5])
    expected_raw = (nab.scaled_sigmoid(-1 / 100) / nab.scaled_sigmoid(-1.0)) - 0.11 - 1.0
    assert r["raw"] == pytest.approx(expected_raw) and r["windows_hit"] == 1 and r["false_positives"] == 1
    assert nab.probation(1000) == 150 and nab.probation(100_000) == 750


def test_detectors_flag_a_spike_early_and_once():
    rng = np.random.default_rng(3)
    values = 20 + np.sin(np.arange(2000) / 50) + rng.normal(0, 0.2, 2000)
    values[1500:1520] += 8  # a fault lasting 20 readings
    for name in detectors.DETECTORS:
        scores = detectors.score(name, values)
        flagged = np.nonzero(scores >= detectors.THRESHOLDS[name])[0]
        assert 1500 in flagged or 1501 in flagged, (name, flagged)
        assert len([i for i in flagged if 1500 <= i < 1520]) <= 5, f"{name}: a few alerts per burst, not twenty"
        assert len(flagged) <= 12, (name, flagged)


def test_detectors_beat_the_windowed_gaussian_on_nab():
    root = require_shared_data("nab")
    corpus = [s for s in nab.load_corpus(root) if len(s.values) <= 5000][:6]  # a quick slice; the bench runs all
    ours = nab.corpus_score(corpus, {s.name: detectors.score("ewma_gaussian", s.values) for s in corpus})
    baseline = nab.corpus_score(corpus, {s.name: detectors.score("windowed_gaussian", s.values) for s in corpus})
    assert ours["score"] > baseline["score"], (ours, baseline)


def land(root: Path, hour: str, records: list[dict]) -> Path:
    return write_batch(root / hour, records)


def hour_of(epoch: float) -> str:
    return time.strftime("%Y-%m-%d-%H", time.gmtime(epoch))


@pytest.fixture
def mqtt_broker() -> BrokerResource:
    require_service("127.0.0.1", 1883, "Mosquitto")
    return BrokerResource(host="127.0.0.1", port=1883)


def commands_listener(broker: BrokerResource, got: list):
    client = broker.client()
    client.on_message = lambda c, u, m: got.append((m.topic, json.loads(m.payload), m.qos))
    client.connect(broker.host, broker.port)
    client.subscribe("dwc/devices/+/commands", qos=1)
    client.loop_start()
    time.sleep(0.5)
    return client


def test_telemetry_assets_end_to_end(env, instance, mqtt_broker):
    now = time.time()  # "online" means seen within 5 minutes of the registry's refresh
    root = env.root / "telemetry"
    env.configure_folder("telemetry", str(root))
    (root).mkdir()
    (root / "devices.yaml").write_text("- device_id: d3\n  type: cold-store\n  firmware: 2.0.0\n  location: dock\n")
    h1, h2 = hour_of(now - 3600), hour_of(now)
    base = now - 3 * 3600
    rng = np.random.default_rng(0)
    d1 = [
        reading("d1", s, base + 10 * s, temperature=float(20 + np.sin(s / 30) + rng.normal(0, 0.1)), humidity=40.0)
        for s in range(600)
    ]
    d1[500] = reading("d1", 500, base + 5000, temperature=45.0, humidity=40.0)  # a fault
    land(root, h1, [meta("d1"), meta("d2", firmware="1.0.0")] + d1[:300])
    land(root, h1, d1[290:400] + [reading("d3", 1, base, temperature=4.0)])  # 10 redelivered
    land(
        root,
        h2,
        d1[390:]
        + [
            meta("d2", now + 1, firmware="1.1.0"),
            reading("d2", 1, base, temperature=5.0),
            reading("ghost", 1, base, temperature=1.0),
            rec("dwc/devices/d1/telemetry", b"{bad"),
        ],
    )
    defs = dg.Definitions.merge(iot.defs, dg.Definitions(resources={**env.resources(), "broker": mqtt_broker}))
    load = defs.resolve_job_def("telemetry_load_job")

    sensor_ctx = dg.build_sensor_context(
        instance=instance, resources={"telemetry_folder": env.resources()["telemetry_folder"]}
    )
    result = telemetry_sensor(sensor_ctx)
    assert sorted(r.partition_key for r in result.run_requests) == [f"{h1}:00", f"{h2}:00"]
    # The landed hours become partitions (the daemon applies the request): the bar starts where data starts.
    (add,) = result.dynamic_partitions_requests
    assert add.partitions_def_name == "iot_landed_hours" and sorted(add.partition_keys) == [f"{h1}:00", f"{h2}:00"]
    instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
    dropped = 0
    for r in result.run_requests:
        run = load.execute_in_process(instance=instance, partition_key=r.partition_key)
        assert run.success
        dropped += run.asset_materializations_for_node("telemetry")[0].metadata["duplicates_dropped"].value
    again = telemetry_sensor(
        dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"telemetry_folder": env.resources()["telemetry_folder"]}
        )
    )
    assert again.skip_message, "an unchanged landing makes no run"
    # A sensor without a cursor (a new instance; runs it did not launch) compares what the loads recorded.
    first_look = telemetry_sensor(
        dg.build_sensor_context(instance=instance, resources={"telemetry_folder": env.resources()["telemetry_folder"]})
    )
    assert not first_look.run_requests and first_look.cursor == result.cursor, "the loaded hours are not loaded again"

    assert env.query("SELECT count(*), count(DISTINCT (device_id, seq)) FROM iot.telemetry WHERE device_id = 'd1'") == [
        (1200, 600)
    ], "each of d1's 600 messages once, with two metrics, though 20 were delivered twice"
    assert dropped == 20
    assert env.query("SELECT device_id, reason FROM iot.telemetry_quarantine ORDER BY 1") == [
        ("d1", "not_json"),
        ("ghost", "unknown_device"),
    ]
    # Loading an hour again adds nothing (its files are known; a crash before commit would reload them).
    assert load.execute_in_process(instance=instance, partition_key=f"{h2}:00").success
    assert env.query("SELECT count(*) FROM iot.telemetry") == [(1202,)]

    got: list = []
    listener = commands_listener(mqtt_broker, got)
    try:
        assert defs.resolve_job_def("iot_job").execute_in_process(instance=instance).success
        deadline = time.time() + 10
        while not got and time.time() < deadline:
            time.sleep(0.2)
    finally:
        listener.loop_stop()
        listener.disconnect()
    devices = {
        r[0]: r[1:]
        for r in env.query(
            "SELECT device_id, status, firmware, firmware_history, registered, messages FROM iot.devices"
        )
    }
    assert devices["d1"][0] == "online" and devices["d1"][4] == 600
    assert devices["d2"][1:3] == ("1.1.0", ["1.0.0", "1.1.0"]), "the latest meta wins; the history is kept"
    assert devices["d3"][1] == "2.0.0" and devices["d3"][3] is True, "registered through the registry file"
    assert devices["ghost"][0] == "unregistered" and devices["ghost"][3] is False
    # Rollups agree with the readings, hour by hour.
    rollup = env.query("""SELECT r.n, r.min, r.max, r.mean, r.p95, t.n, t.mn, t.mx, t.avg, t.p95
                          FROM iot.rollups_hourly r JOIN (
                              SELECT date_trunc('hour', ts) AS hour, count(*) n, min(value) mn, max(value) mx,
                                     avg(value) avg, quantile_cont(value, 0.95) p95
                              FROM iot.telemetry WHERE device_id = 'd1' AND metric = 'temperature' GROUP BY 1) t
                          ON t.hour = r.hour WHERE r.device_id = 'd1' AND r.metric = 'temperature'""")
    assert rollup and all(math.isclose(a, b) for row in rollup for a, b in zip(row[:5], row[5:]))
    found = env.query("SELECT DISTINCT seq FROM iot.anomalies WHERE device_id = 'd1' AND metric = 'temperature'")
    assert (500,) in found, found
    sent = env.query("SELECT device_id, status, topic, payload FROM iot.commands")
    assert [(d, s, t) for d, s, t, _ in sent] == [("d1", "published", "dwc/devices/d1/commands")]
    assert got and got[0][0] == "dwc/devices/d1/commands" and got[0][1]["action"] == "diagnose"
    assert got[0][1]["command_id"] == json.loads(sent[0][3])["command_id"]
    assert len(list((env.root / "outbox").glob("*.eml"))) == 1, "the anomalies raised one notification"
    # A second pass finds nothing new: no second command, no second notification.
    assert defs.resolve_job_def("iot_job").execute_in_process(instance=instance).success
    assert env.query("SELECT count(*) FROM iot.commands") == [(1,)]
    assert len(list((env.root / "outbox").glob("*.eml"))) == 1


def test_commands_are_audited_when_the_broker_is_down_and_retried(env, instance, mqtt_broker):
    from dwc_pipelines.iot.schema import DDL
    from dwc_pipelines.iot.store import publish_commands

    down = BrokerResource(host="127.0.0.1", port=1)
    with env.warehouse.writer(DDL) as con:
        con.execute("""INSERT INTO iot.anomalies VALUES ('a1', 'd9', 'temperature', 7, TIMESTAMP '2026-01-01 10:00:00',
                       50.0, 'ewma_gaussian', 0.99999, 0.9996, now()::TIMESTAMP, 'r0')""")
        first = publish_commands(con, down, "r1")
        assert first["failed"] == 1 and "cannot connect" in first["errors"][0]
        second = publish_commands(con, mqtt_broker, "r2")
        assert second == {"published": 1, "failed": 0, "errors": []}
        rows = con.execute("SELECT command_id, status, attempts FROM iot.commands ORDER BY attempts").fetchall()
        assert [(s, a) for _, s, a in rows] == [("failed", 1), ("published", 2)] and rows[0][0] == rows[1][0]
        assert publish_commands(con, mqtt_broker, "r3") == {"published": 0, "failed": 0, "errors": []}


def test_simulator_through_the_embedded_broker_lands_every_message(tmp_path):
    from dwc_pipelines.iot.demo import landed_records, run_fleet
    from dwc_pipelines.iot.embedded import EmbeddedBroker

    with EmbeddedBroker() as embedded:
        broker = BrokerResource(host=embedded.host, port=embedded.port)
        hours = run_fleet(
            broker,
            str(tmp_path / "telemetry"),
            devices=3,
            per_device=50,
            backfill_hours=1,
            faults=0.05,
            log=lambda m: None,
        )
    assert hours and landed_records(str(tmp_path / "telemetry")) == 3 + 150 + 5
    records = [
        json.loads(line) for p in (tmp_path / "telemetry").rglob("batch-*.jsonl") for line in p.read_text().splitlines()
    ]
    parsed = parse_records(records)
    fleet = [r for r, _ in parsed.readings if r.device_id.startswith("dev-")]
    assert len(parsed.metas) == 3 and len(fleet) == 150
    assert [r.device_id for r, _ in parsed.readings if r not in fleet] == ["rogue-001"], "refused at load: unregistered"
    assert sorted(r.reason for r, _ in parsed.rejected) == ["absurd_value", "not_json", "oversized", "schema"]
    assert {(r.device_id, r.seq) for r in fleet} == {(f"dev-{d:03d}", s) for d in (1, 2, 3) for s in range(1, 51)}


def test_simulator_replays_the_nab_series(tmp_path):
    from dwc_pipelines.iot.consumer import Consumer
    from dwc_pipelines.iot.demo import landed_records
    from dwc_pipelines.iot.embedded import EmbeddedBroker
    from dwc_pipelines.iot.simulator import nab_series, simulate

    root = require_shared_data("nab")
    series = nab_series(root)
    with EmbeddedBroker() as embedded:
        broker = BrokerResource(host=embedded.host, port=embedded.port)
        consumer = Consumer(broker, tmp_path / "t", batch_seconds=0.2, log=lambda m: None)
        stop = threading.Event()
        thread = threading.Thread(target=consumer.run, kwargs={"until": stop.is_set}, daemon=True)
        thread.start()
        assert consumer._connected.wait(20)
        time.sleep(0.5)
        simulate(broker, devices=2, per_device=25, rate=0, replay=root, log=lambda m: None)
        deadline = time.time() + 20
        while landed_records(str(tmp_path / "t")) < 52 and time.time() < deadline:
            time.sleep(0.2)
        stop.set()
        thread.join(timeout=20)
    records = [json.loads(line) for p in (tmp_path / "t").rglob("batch-*.jsonl") for line in p.read_text().splitlines()]
    readings = {(r.device_id, r.seq): r.metrics["value"] for r, _ in parse_records(records).readings}
    for d in (0, 1):
        assert [readings[(f"dev-{d + 1:03d}", s)] for s in range(1, 26)] == series[d][1][:25]
