"""From the broker to durable micro-batches on disk, without loss (plain Python + paho).

The consumer holds a persistent session (clean_session false, a fixed client id) subscribed at QoS 1
with manual acknowledgement. Messages collect in memory; a batch is written to a temporary file,
fsynced, renamed into the landing area (and the directory fsynced), and only then is every message
in it acknowledged. Batches land in one folder per UTC hour (`2026-11-22-08/`), the hour partition
of `iot/telemetry` that loads them. A crash before the rename loses nothing (the broker still holds the unacknowledged
messages and sends them again); a crash between the rename and the acknowledgements duplicates some,
which the warehouse load removes by (device, sequence). The landing files are picked up by a sensor.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

TOPICS = ("dwc/devices/+/telemetry", "dwc/devices/+/meta")
HOUR_FORMAT = "%Y-%m-%d-%H"


def hour_folder(epoch_s: float) -> str:
    return time.strftime(HOUR_FORMAT, time.gmtime(epoch_s))


def write_batch(directory: Path, records: list[dict | str]) -> Path:
    """Atomically and durably write one micro-batch (JSON lines: records, or lines already
    formatted); returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"batch-{time.time_ns()}-{os.getpid()}.jsonl"
    tmp = directory / f".{name}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("".join(r if isinstance(r, str) else json.dumps(r, separators=(",", ":")) + "\n" for r in records))
        fh.flush()
        os.fsync(fh.fileno())
    target = directory / name
    os.replace(tmp, target)
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)  # the rename itself survives a power cut
    finally:
        os.close(fd)
    return target


class Consumer:
    def __init__(
        self,
        broker,
        landing: str | os.PathLike,
        batch_size: int = 500,
        batch_seconds: float = 1.0,
        log: Callable[[str], None] = print,
        client_id: str | None = None,
        share_group: str | None = None,
    ):
        """`share_group`: several consumers (each with its own client id) split the stream through an
        MQTT shared subscription ($share/<group>/...), one way past a single process's rate."""
        self.broker, self.landing = broker, Path(landing)
        self.topics = [f"$share/{share_group}/{t}" if share_group else t for t in TOPICS]
        self.batch_size, self.batch_seconds, self.log = batch_size, batch_seconds, log
        self._pending: list[tuple[int, int, str]] = []  # (mid, qos, JSON line)
        self._topics: dict[str, str] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._connected = threading.Event()
        self.written = 0
        self.client = broker.client(client_id=client_id or broker.client_id, persistent=True, manual_ack=True)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a, **k: self._connected.clear()
        # Keep reconnecting (broker restarts): the session and its queue wait on the broker.
        self.client.reconnect_delay_set(min_delay=1, max_delay=5)
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            self.log(f"broker refused the connection: {reason_code}")
            return
        client.subscribe([(t, self.broker.qos) for t in self.topics])
        self._connected.set()
        self.log(f"connected to {self.broker.host}:{self.broker.port} (session present: {flags.session_present})")

    def _on_message(self, client, userdata, msg):
        topic = msg.topic
        quoted = self._topics.get(topic)
        if quoted is None:
            quoted = self._topics[topic] = json.dumps(topic)
        # One JSON line per message, formatted by hand: this runs for every message at full rate.
        line = (
            f'{{"topic":{quoted},"payload_b64":"{base64.b64encode(msg.payload).decode("ascii")}",'
            f'"received_at":{time.time():.6f}}}\n'
        )
        with self._lock:
            self._pending.append((msg.mid, msg.qos, line))
            full = len(self._pending) >= self.batch_size
        if full:
            self.flush()

    def flush(self) -> int:
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        write_batch(self.landing / hour_folder(time.time()), [r for _, _, r in batch])
        for mid, qos, _ in batch:
            if qos > 0:
                self.client.ack(mid, qos)  # only now may the broker forget the message
        self.written += len(batch)
        return len(batch)

    def run(self, until: Callable[[], bool] | None = None) -> None:
        self.client.connect_async(self.broker.host, self.broker.port, keepalive=self.broker.keepalive)
        self.client.loop_start()
        try:
            while not self._stop.is_set() and not (until and until()):
                time.sleep(self.batch_seconds)
                n = self.flush()
                if n:
                    self.log(f"wrote {n} messages ({self.written} in all)")
        finally:
            self.flush()
            self.client.loop_stop()
            self.client.disconnect()

    def stop(self, *_):
        self._stop.set()


def main(argv: list[str] | None = None) -> int:
    """`python -m dwc_pipelines.iot.consumer LANDING [--host H --port P]`: the long-running consumer."""
    import argparse

    from dwc_resources.mqtt import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("landing")
    ap.add_argument("--host", default=os.environ.get("DWC_MQTT_HOST", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("DWC_MQTT_PORT", "1883")))
    ap.add_argument("--client-id", default=os.environ.get("DWC_MQTT_CLIENT_ID", "dwc-consumer"))
    ap.add_argument("--batch-size", type=int, default=500)
    ap.add_argument("--batch-seconds", type=float, default=1.0)
    ap.add_argument("--share-group", default=None, help="split the stream with other consumers of this group")
    args = ap.parse_args(argv)
    settings = Settings.from_env()
    settings.host, settings.port, settings.client_id = args.host, args.port, args.client_id
    broker = settings
    consumer = Consumer(
        broker,
        args.landing,
        args.batch_size,
        args.batch_seconds,
        log=lambda m: print(m, flush=True),
        share_group=args.share_group,
    )
    signal.signal(signal.SIGTERM, consumer.stop)
    signal.signal(signal.SIGINT, consumer.stop)
    consumer.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
