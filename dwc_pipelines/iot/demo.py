"""The demo fleet: a simulated fleet published through a broker, consumed into the telemetry landing
and loaded hour by hour, as the sensor would (`make demo`)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from .consumer import Consumer
from .simulator import simulate
from .store import batch_files, hour_folders, partition_key


def landed_records(root: str) -> int:
    n = 0
    for folder in hour_folders(root):
        for path in batch_files(folder):
            with open(path, "rb") as fh:
                n += sum(1 for _ in fh)
    return n


def run_fleet(
    broker,
    telemetry_root: str,
    devices: int = 8,
    per_device: int = 360,
    backfill_hours: float = 6.0,
    faults: float = 0.01,
    log=print,
) -> list[str]:
    """Publish a fleet's history and consume it into the landing; returns the hour partitions that
    received micro-batches."""
    before = landed_records(telemetry_root)
    consumer = Consumer(broker, telemetry_root, batch_size=500, batch_seconds=0.5, log=lambda m: None)
    stop = threading.Event()
    thread = threading.Thread(target=consumer.run, kwargs={"until": stop.is_set}, daemon=True)
    thread.start()
    if not consumer._connected.wait(20):
        stop.set()
        raise RuntimeError(f"the telemetry consumer could not reach the broker at {broker.host}:{broker.port}")
    time.sleep(0.5)  # the subscription is in place before the first message
    stats = simulate(
        broker,
        devices=devices,
        per_device=per_device,
        backfill_hours=backfill_hours,
        interval_s=60,
        faults=faults,
        bad=True,
        rate=0,
        log=log,
    )
    expected = before + stats.telemetry + stats.bad + stats.devices
    deadline = time.time() + 60
    while landed_records(telemetry_root) < expected and time.time() < deadline:
        time.sleep(0.5)
    stop.set()
    thread.join(timeout=30)
    got = landed_records(telemetry_root) - before
    log(f"the consumer landed {got} of {expected - before} messages in {telemetry_root}")
    return [partition_key(f.name) for f in hour_folders(Path(telemetry_root))]
