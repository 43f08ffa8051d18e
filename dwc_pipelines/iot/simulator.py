"""A device fleet for demos, tests and benchmarks: `dwc simulate-devices`.

Each device first publishes its meta (retained, QoS 1), then telemetry at QoS 1 with its own
sequence numbers. Readings follow a daily cycle with noise (temperature, humidity, battery), or
replay the labelled NAB series. Faults are injected on request: spikes, a stuck sensor, a drift,
and bad payloads (not JSON, no sequence number, absurd values) plus an unregistered device.
With `backfill_hours`, device time starts that many hours ago and advances `interval_s` per
reading, so an hour of history takes seconds to publish.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TYPES = [
    ("thermostat", "hall-A", 51.50, -0.12),
    ("air-quality", "hall-B", 51.51, -0.10),
    ("cold-store", "warehouse-1", 51.49, -0.14),
    ("server-room", "dc-1", 51.52, -0.08),
]


@dataclass
class FleetStats:
    devices: int = 0
    telemetry: int = 0
    bad: int = 0
    faults: int = 0
    seconds: float = 0.0


def nab_series(root: Path) -> list[tuple[str, list[float]]]:
    import csv

    out = []
    for path in sorted(root.glob("*/*.csv")):
        with open(path, newline="") as fh:
            out.append((path.stem, [float(r["value"]) for r in csv.DictReader(fh)]))
    return out


class Device:
    def __init__(self, n: int, rng: random.Random, faults: float, replay: tuple[str, list[float]] | None):
        self.id = f"dev-{n:03d}"
        self.type, self.site, lat, lon = TYPES[n % len(TYPES)]
        self.meta = {
            "device_id": self.id,
            "type": self.type,
            "firmware": f"1.{n % 3}.{n % 5}",
            "location": {
                "name": self.site,
                "lat": round(lat + rng.uniform(-0.01, 0.01), 5),
                "lon": round(lon + rng.uniform(-0.01, 0.01), 5),
            },
        }
        self.rng, self.faults, self.replay = rng, faults, replay
        self.seq = 0
        self.base = {"thermostat": 21.0, "air-quality": 19.0, "cold-store": 4.0, "server-room": 24.0}[self.type]
        self.battery = rng.uniform(70, 100)
        self.stuck = 0
        self.drift = 0.0

    def reading(self, ts: float) -> tuple[dict, str | None]:
        """The next payload and the fault it carries, if any."""
        self.seq += 1
        fault = None
        if self.replay:
            name, values = self.replay
            value = values[(self.seq - 1) % len(values)]
            return {"device_id": self.id, "seq": self.seq, "ts": round(ts, 3), "value": value, "series": name}, None
        day = 2 * math.pi * ((ts % 86400) / 86400)
        temp = self.base + 2.5 * math.sin(day) + self.rng.gauss(0, 0.3) + self.drift
        hum = 45 - 8 * math.sin(day) + self.rng.gauss(0, 1.0)
        self.battery = max(0.0, self.battery - self.rng.uniform(0, 0.01))
        if self.stuck:
            self.stuck -= 1
            temp = self.last_temp
            fault = "stuck"
        elif self.rng.random() < self.faults:
            fault = self.rng.choice(["spike", "spike", "stuck", "drift"])
            if fault == "spike":
                temp += self.rng.choice([-1, 1]) * self.rng.uniform(12, 25)
            elif fault == "stuck":
                self.stuck = self.rng.randint(20, 60)
            else:
                self.drift += self.rng.uniform(3, 6)
        self.last_temp = temp
        return {
            "device_id": self.id,
            "seq": self.seq,
            "ts": round(ts, 3),
            "temperature": round(temp, 3),
            "humidity": round(min(max(hum, 0), 100), 2),
            "battery": round(self.battery, 2),
        }, fault


def bad_payloads(rng: random.Random, device_id: str, ts: float) -> list[tuple[str, bytes]]:
    """One of each kind of bad input a real fleet sends sooner or later."""
    t = f"dwc/devices/{device_id}/telemetry"
    return [
        (t, b"temperature=21.5;humidity=40"),  # not JSON
        (t, json.dumps({"device_id": device_id, "ts": ts, "temperature": 20.0}).encode()),  # no seq
        (
            t,
            json.dumps(
                {"device_id": device_id, "seq": 10**9 + rng.randint(0, 999), "ts": ts, "temperature": 9999.0}
            ).encode(),
        ),  # absurd value
        (
            t,
            json.dumps(
                {"device_id": device_id, "seq": 10**9 + 1000, "ts": ts, "pad": "x" * 20000, "temperature": 20.0}
            ).encode(),
        ),  # oversized
        (
            "dwc/devices/rogue-001/telemetry",
            json.dumps({"device_id": "rogue-001", "seq": 1, "ts": ts, "temperature": 20.0}).encode(),
        ),  # never registered
    ]


def simulate(
    broker,
    devices: int = 10,
    rate: float = 500.0,
    per_device: int = 100,
    backfill_hours: float = 0.0,
    interval_s: float = 60.0,
    faults: float = 0.0,
    bad: bool = False,
    replay: Path | None = None,
    seed: int = 7,
    log: Callable[[str], None] = print,
) -> FleetStats:
    """Publish `per_device` readings per device at about `rate` messages per second in all."""
    rng = random.Random(seed)
    series = nab_series(replay) if replay else []
    fleet = [
        Device(i + 1, random.Random(seed * 1000 + i), faults, series[i % len(series)] if series else None)
        for i in range(devices)
    ]
    client = broker.client(client_id=f"dwc-simulator-{seed}")
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(broker.host, broker.port, keepalive=broker.keepalive)
    client.loop_start()
    stats = FleetStats(devices=devices)
    start = time.time()
    t0 = start - backfill_hours * 3600 if backfill_hours else start
    infos = []
    try:
        for d in fleet:
            infos.append(client.publish(f"dwc/devices/{d.id}/meta", json.dumps(d.meta), qos=1, retain=True))
        sent = 0
        for step in range(per_device):
            for d in fleet:
                ts = t0 + step * interval_s if backfill_hours else time.time()
                payload, fault = d.reading(min(ts, time.time()))
                infos.append(client.publish(f"dwc/devices/{d.id}/telemetry", json.dumps(payload), qos=1))
                stats.telemetry += 1
                stats.faults += fault is not None
                sent += 1
                if rate > 0:
                    ahead = sent / rate - (time.time() - start)
                    if ahead > 0:
                        time.sleep(ahead)
            if len(infos) > 5000:
                for info in infos:
                    info.wait_for_publish(timeout=60)
                infos = []
            if step and step % max(per_device // 5, 1) == 0:
                log(f"published {stats.telemetry} readings from {devices} devices")
        if bad:
            for topic, payload in bad_payloads(rng, fleet[0].id, time.time()):
                infos.append(client.publish(topic, payload, qos=1))
                stats.bad += 1
        for info in infos:
            info.wait_for_publish(timeout=60)
    finally:
        client.loop_stop()
        client.disconnect()
    stats.seconds = time.time() - start
    log(
        f"published {stats.telemetry} readings ({stats.faults} with injected faults) and {stats.bad} bad payloads "
        f"from {devices} devices in {stats.seconds:.1f}s"
    )
    return stats
