"""No telemetry is lost between the broker and the landing area: a Mosquitto of our own, started with
deploy/mosquitto.conf, a publisher at QoS 1, and the consumer killed (SIGKILL) and restarted, then the
broker restarted, mid-stream. Every (device, sequence) must reach the landing files; duplicates are
allowed there (the warehouse load removes them)."""

import base64
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dwc_pipelines.iot import mosquitto

from .conftest import ROOT, require

MOSQUITTO = mosquitto.binary() or "/usr/sbin/mosquitto"


def consumer(landing: Path, port: int, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dwc_pipelines.iot.consumer",
            str(landing),
            "--port",
            str(port),
            "--client-id",
            "dwc-loss-test",
            "--batch-size",
            "50",
            "--batch-seconds",
            "0.2",
        ],
        cwd=ROOT,
        stdout=open(log, "a"),
        stderr=subprocess.STDOUT,
    )


def landed(landing: Path) -> list[tuple[str, int]]:
    out = []
    for path in sorted(landing.rglob("batch-*.jsonl")):
        for line in path.read_text().splitlines():
            payload = json.loads(base64.b64decode(json.loads(line)["payload_b64"]))
            out.append((payload["device_id"], payload["seq"]))
    return out


def test_consumer_kill_and_broker_restart_lose_nothing(tmp_path):
    require(Path(MOSQUITTO).exists(), "the mosquitto binary is not installed")
    import paho.mqtt.client as mqtt

    # Outside pytest's private (0700) tmp tree, which the mosquitto user could not enter.
    broker = mosquitto.Mosquitto()
    landing = tmp_path / "landing"
    broker.start()
    log = tmp_path / "consumer.log"
    cons = consumer(landing, broker.port, log)
    pub = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2, client_id="dwc-loss-publisher", clean_session=False
    )
    pub.max_queued_messages_set(0)
    pub.reconnect_delay_set(min_delay=1, max_delay=2)
    pub.connect("127.0.0.1", broker.port)
    pub.loop_start()
    devices, per_device = [f"dev-{i:02d}" for i in range(5)], 600
    total = len(devices) * per_device
    try:
        time.sleep(2)  # the consumer's persistent session exists before the first message
        sent = 0
        for seq in range(per_device):
            for d in devices:
                pub.publish(
                    f"dwc/devices/{d}/telemetry",
                    json.dumps({"device_id": d, "seq": seq, "ts": time.time(), "temperature": 20 + seq % 7}),
                    qos=1,
                )
                sent += 1
            if sent == total // 3:
                cons.send_signal(signal.SIGKILL)  # mid-stream, with messages in memory and unacknowledged
                cons.wait()
                time.sleep(1)
                cons = consumer(landing, broker.port, log)
            if sent == 2 * total // 3:
                broker.stop()  # the broker goes away with the consumer's queue in it
                time.sleep(1)
                broker.start()
            time.sleep(0.001)
        deadline = time.time() + 120
        while time.time() < deadline and len(set(landed(landing))) < total:
            time.sleep(1)
    finally:
        pub.loop_stop()
        pub.disconnect()
        if cons.poll() is None:
            cons.terminate()
            cons.wait(timeout=20)
        broker.remove()
    got = landed(landing)
    expected = {(d, s) for d in devices for s in range(per_device)}
    missing = expected - set(got)
    assert not missing, f"{len(missing)} lost, e.g. {sorted(missing)[:5]}\n{log.read_text()[-2000:]}"
    assert len(got) >= total and set(got) == expected
    assert "session present: True" in log.read_text(), "the restarted consumer found its session on the broker"
    # From the landing to the warehouse: every message exactly once, the redelivered copies dropped.
    import duckdb

    from dwc_pipelines.iot.schema import DDL
    from dwc_pipelines.iot.store import hour_folders, load_folder

    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    con.execute(DDL)
    for folder in hour_folders(landing):
        load_folder(con, folder, "loss-test", {}, require_registration=False)
    assert con.execute("SELECT count(*), count(DISTINCT (device_id, seq)) FROM iot.telemetry").fetchall() == [
        (total, total)
    ]


def test_a_load_that_dies_midway_is_redone_whole(tmp_path, monkeypatch):
    """A Dagster run killed during a load (a restart, an OOM) commits nothing; the next run loads it all."""
    import duckdb

    from dwc_pipelines.iot import store
    from dwc_pipelines.iot.consumer import hour_folder, write_batch
    from dwc_pipelines.iot.schema import DDL

    folder = tmp_path / hour_folder(time.time())
    for part in range(3):
        write_batch(
            folder,
            [
                {
                    "topic": "dwc/devices/d1/telemetry",
                    "received_at": time.time(),
                    "dup": False,
                    "payload_b64": base64.b64encode(
                        json.dumps({"device_id": "d1", "seq": part * 10 + i, "ts": time.time(), "t": 1.0}).encode()
                    ).decode(),
                }
                for i in range(10)
            ],
        )
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(DDL)
    real = store.transaction

    class Crash(Exception):
        pass

    def dying(c):
        ctx = real(c)

        class Wrapped:
            def __enter__(self):
                return ctx.__enter__()

            def __exit__(self, *exc):
                crash = Crash("killed before COMMIT")
                ctx.__exit__(Crash, crash, None)  # rolls back, as a dead process's open transaction is
                raise crash

        return Wrapped()

    monkeypatch.setattr(store, "transaction", dying)
    with pytest.raises(Crash):
        store.load_folder(con, folder, "r1", {}, require_registration=False)
    assert con.execute("SELECT count(*) FROM iot.telemetry").fetchall() == [(0,)]
    monkeypatch.setattr(store, "transaction", real)
    assert store.load_folder(con, folder, "r2", {}, require_registration=False).messages == 30
    assert store.load_folder(con, folder, "r3", {}, require_registration=False).files == 0
    assert con.execute("SELECT count(*) FROM iot.telemetry").fetchall() == [(30,)]
