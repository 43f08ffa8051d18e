"""Real-time push: an in-process hub of subscribers, each with a bounded queue (a stalled client is
dropped with a reason once its queue is full, so memory does not grow), fed by the run status
changes of the Dagster instance and by what the API itself does (uploads, telemetry, counters).
With Redis configured, the API's own events go through a Redis channel, so every worker's
subscribers see them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass, field

log = logging.getLogger("dwc_api")

CHANNEL = "events"  # under the service's Redis prefix

# The scope a caller needs to receive an event of each topic.
TOPIC_SCOPES = {
    "runs": "runs:read",
    "documents": "documents:read",
    "iot": "iot:read",
    "metrics": "metrics:read",
    "workflows": "runs:read",
}


@dataclass(eq=False)
class Subscriber:
    principal: object
    topics: set[str]
    queue: asyncio.Queue
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    rooms: set[str] = field(default_factory=set)
    closed: str | None = None
    connected_at: float = field(default_factory=time.time)
    kind: str = "sse"

    def wants(self, event: dict) -> bool:
        topic = event.get("topic")
        needed = TOPIC_SCOPES.get(topic)
        p = self.principal
        if p.role == "device":
            return topic == "iot" and event.get("device_id") == p.device_id
        if needed is None or needed not in p.scopes:
            return False
        room = event.get("room")
        return topic in self.topics or "*" in self.topics or (room is not None and room in self.rooms)


class Hub:
    def __init__(self, queue_size: int):
        self.queue_size = queue_size
        self.subscribers: set[Subscriber] = set()
        self.delivered = 0
        self.dropped = 0
        self._tasks: list[asyncio.Task] = []
        self._redis = None
        self._service = None

    async def start(self, service) -> None:
        self._service = service
        if service.settings.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(service.settings.redis_url)
            self._channel = f"{service.settings.redis_prefix}:{CHANNEL}"
            self._tasks.append(asyncio.create_task(self._listen()))
        self._tasks.append(asyncio.create_task(self._poll_runs()))
        self._tasks.append(asyncio.create_task(self._poll_anomalies()))

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._redis is not None:
            await self._redis.aclose()

    def subscribe(self, principal, topics, kind: str = "sse") -> Subscriber:
        sub = Subscriber(principal, set(topics), asyncio.Queue(self.queue_size), kind=kind)
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def publish(self, event: dict) -> None:
        """Send an event to every worker's subscribers (through Redis when configured)."""
        event = {"id": uuid.uuid4().hex, "at": time.time(), **event}
        if self._redis is not None:
            try:
                await self._redis.publish(self._channel, json.dumps(event, default=str))
                return
            except Exception as exc:  # Redis down: this worker's subscribers still get it
                log.warning("event not shared through Redis: %s", exc)
        self.deliver(event)

    def deliver(self, event: dict) -> None:
        for sub in list(self.subscribers):
            if sub.closed or not sub.wants(event):
                continue
            try:
                sub.queue.put_nowait(event)
                self.delivered += 1
            except asyncio.QueueFull:
                sub.closed = "queue_full: the client did not keep up with its events"
                self.dropped += 1
                self.subscribers.discard(sub)
                with contextlib.suppress(asyncio.QueueFull):
                    # Wakes the sender, which sees `closed` and ends the stream with the reason.
                    sub.queue.get_nowait()
                    sub.queue.put_nowait({"type": "closed", "reason": sub.closed})

    async def _listen(self) -> None:
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(self._channel)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self.deliver(json.loads(message["data"]))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("event channel lost (%s); reconnecting", exc)
                await asyncio.sleep(1)

    async def _poll_runs(self, interval: float = 1.0) -> None:
        """Run status changes from the instance, while anyone listens."""
        import datetime as dt

        seen: dict[str, str] = {}
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
        while True:
            await asyncio.sleep(interval)
            if not self.subscribers:
                continue
            try:
                records = await asyncio.to_thread(self._changed_runs, since)
            except Exception as exc:
                log.debug("run status poll failed: %s", exc)
                continue
            for record in records:
                run = record.dagster_run
                since = max(since, record.update_timestamp.replace(tzinfo=record.update_timestamp.tzinfo or dt.UTC))
                if seen.get(run.run_id) == run.status.value:
                    continue
                seen[run.run_id] = run.status.value
                event = {
                    "id": f"{run.run_id}:{run.status.value}",
                    "at": time.time(),
                    "topic": "runs",
                    "type": "run_status",
                    "run_id": run.run_id,
                    "job_name": run.job_name,
                    "status": run.status.value,
                }
                workflow = run.tags.get("dwc/workflow_id")
                if workflow:
                    event["room"] = f"workflow:{workflow}"
                    event["workflow_id"] = workflow
                self.deliver(event)

    async def _poll_anomalies(self, interval: float = 5.0) -> None:
        """Device anomalies as the telemetry assets detect them (iot.anomalies), while anyone listens."""
        import datetime as dt

        since = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        while True:
            await asyncio.sleep(interval)
            if not self.subscribers:
                continue
            try:
                rows = await asyncio.to_thread(self._new_anomalies, since)
            except Exception as exc:  # no lake or no iot tables yet
                log.debug("anomaly poll failed: %s", exc)
                continue
            for anomaly_id, device, metric, ts, value, score, detected_at in rows:
                since = max(since, detected_at)
                self.deliver(
                    {
                        "id": anomaly_id,
                        "at": time.time(),
                        "topic": "iot",
                        "type": "anomaly",
                        "device_id": device,
                        "metric": metric,
                        "ts": ts.isoformat(),
                        "value": value,
                        "score": score,
                    }
                )

    def _new_anomalies(self, since):
        with self._service.platform.reader(masked=True) as con:
            return con.execute(
                """SELECT anomaly_id, device_id, metric, ts, value, score, detected_at FROM iot.anomalies
                   WHERE detected_at > ? ORDER BY detected_at LIMIT 1000""",
                [since],
            ).fetchall()

    def _changed_runs(self, since):
        import dagster as dg

        instance = self._service.platform.instance
        return list(instance.get_run_records(filters=dg.RunsFilter(updated_after=since), limit=200, ascending=True))

    def stats(self) -> dict:
        rooms: dict[str, int] = {}
        for sub in self.subscribers:
            for room in sub.rooms:
                rooms[room] = rooms.get(room, 0) + 1
        return {
            "connections": sum(1 for s in self.subscribers if s.kind == "ws"),
            "sse_streams": sum(1 for s in self.subscribers if s.kind == "sse"),
            "rooms": rooms,
            "events_delivered": self.delivered,
            "clients_dropped": self.dropped,
            "shared_through_redis": self._redis is not None,
        }
