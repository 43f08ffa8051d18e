"""bench/api's WebSocket load, in a process of its own: N subscribers on the `iot` topic, then events
published through the API (telemetry posted by a device); the time from each post to its receipt by
every subscriber. Prints one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time


async def main(url: str, token: str, device_token: str, n: int, events: int) -> dict:
    import httpx
    import websockets

    ws_url = url.replace("http", "ws") + f"/api/v3/ws/ws?token={token}"
    clients = []
    opened_at = time.perf_counter()
    for start in range(0, n, 100):
        batch = await asyncio.gather(
            *(websockets.connect(ws_url, open_timeout=60, max_queue=4096) for _ in range(start, min(n, start + 100))),
            return_exceptions=True,
        )
        clients += [c for c in batch if not isinstance(c, Exception)]
    for c in clients:
        await c.recv()  # connected
        await c.send(json.dumps({"type": "subscribe", "topics": ["iot"]}))
    for c in clients:
        await c.recv()  # subscribed
    open_s = time.perf_counter() - opened_at
    stats = httpx.get(url + "/api/v3/ws/stats").json()
    latencies: list[float] = []
    missed = 0
    async with httpx.AsyncClient(timeout=30) as http:
        for seq in range(1, events + 1):
            sent = time.perf_counter()
            r = await http.post(
                url + "/api/v3/iot/telemetry",
                json={"device_id": "bench-1", "readings": [{"seq": seq, "ts": time.time(), "temperature": 20.0}]},
                headers={"Authorization": f"Bearer {device_token}"},
            )
            assert r.status_code == 202, r.text

            async def until(c):
                while True:
                    msg = json.loads(await asyncio.wait_for(c.recv(), timeout=10))
                    if msg.get("type") == "telemetry":
                        return time.perf_counter()

            got = await asyncio.gather(*(until(c) for c in clients), return_exceptions=True)
            for g in got:
                if isinstance(g, Exception):
                    missed += 1
                else:
                    latencies.append((g - sent) * 1000)
            await asyncio.sleep(0.2)
    for c in clients:
        await c.close()
    latencies.sort()
    return {
        "ws_subscribers": len(clients),
        "ws_connections_seen_by_one_worker": stats.get("connections"),
        "ws_open_s": round(open_s, 1),
        "ws_events": events,
        "ws_event_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "ws_event_p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
        "ws_missed": missed,
    }


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("token")
    p.add_argument("device_token")
    p.add_argument("-n", type=int, default=1000)
    p.add_argument("--events", type=int, default=20)
    a = p.parse_args()
    print(json.dumps(asyncio.run(main(a.url, a.token, a.device_token, a.n, a.events))))
