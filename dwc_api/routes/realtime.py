"""Server-sent events and the WebSocket channel: run status changes, document and device events,
filtered by the caller's role."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Depends, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse

from ..deps import require, service
from ..events import TOPIC_SCOPES
from ..security import AuthError, Principal


def routers():
    r = APIRouter(prefix="/api/v3", tags=["real-time"])

    @r.get("/events", response_class=StreamingResponse, responses={200: {"content": {"text/event-stream": {}}}})
    async def events(
        request: Request,
        topics: str = Query(
            "runs,documents,iot",
            max_length=200,
            description="comma-separated: runs, documents, iot, metrics, workflows",
        ),
        principal: Principal = Depends(require("runs:read")),
    ):
        """A server-sent event stream of the topics asked for (those the caller's role may read)."""
        hub = service(request).hub
        sub = hub.subscribe(principal, [t.strip() for t in topics.split(",") if t.strip()], kind="sse")

        async def stream():
            try:
                yield ": connected\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(sub.queue.get(), timeout=15)
                    except TimeoutError:
                        if await request.is_disconnected():
                            return
                        yield ": keep-alive\n\n"
                        continue
                    if event.get("type") == "closed":
                        yield f"event: closed\ndata: {json.dumps(event)}\n\n"
                        return
                    yield f"id: {event.get('id')}\nevent: {event.get('type', 'message')}\ndata: {json.dumps(event, default=str)}\n\n"
            finally:
                hub.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    @r.websocket("/ws/ws")
    async def ws(
        websocket: WebSocket,
        connection_id: str = Query("", max_length=128),
        user_id: str = Query("", max_length=128),
        token: str | None = Query(None, max_length=4096),
    ):
        """JSON messages: ping, join_workflow {workflow_id}, leave_workflow, subscribe {topics}; a token is
        required (query `token`, or Authorization / X-API-Key headers)."""
        svc = websocket.app.state.service
        credential = (
            token
            or websocket.headers.get("x-api-key")
            or websocket.headers.get("authorization", "").removeprefix("Bearer ").strip()
        )
        try:
            if not credential:
                raise AuthError("no credential")
            principal = (
                svc.auth.from_api_key(credential) if credential.startswith("dwc_") else svc.auth.from_bearer(credential)
            )
        except AuthError as exc:
            await websocket.close(code=4401, reason=str(exc)[:120])
            return
        await websocket.accept()
        sub = svc.hub.subscribe(principal, [], kind="ws")
        await websocket.send_json(
            {"type": "connected", "connection_id": connection_id or sub.id, "user": principal.username}
        )

        async def sender():
            while True:
                event = await sub.queue.get()
                if event.get("type") == "closed":
                    await websocket.close(code=1008, reason=event["reason"][:120])
                    return
                await websocket.send_text(json.dumps(event, default=str))

        async def receiver():
            while True:
                try:
                    msg = json.loads(await websocket.receive_text())
                    if not isinstance(msg, dict):
                        raise ValueError
                except ValueError:
                    await _reply(sub, {"type": "error", "detail": "send a JSON object with a type"})
                    continue
                kind = msg.get("type")
                if kind == "ping":
                    await _reply(sub, {"type": "pong"})
                elif kind == "join_workflow" and msg.get("workflow_id") is not None:
                    room = f"workflow:{msg['workflow_id']}"
                    sub.rooms.add(room)
                    await _reply(sub, {"type": "joined", "room": room})
                elif kind == "leave_workflow" and msg.get("workflow_id") is not None:
                    sub.rooms.discard(f"workflow:{msg['workflow_id']}")
                    await _reply(sub, {"type": "left", "room": f"workflow:{msg['workflow_id']}"})
                elif kind == "subscribe":
                    wanted = set(msg.get("topics") or [])
                    allowed = {t for t in wanted if TOPIC_SCOPES.get(t) in principal.scopes}
                    sub.topics |= allowed
                    await _reply(
                        sub, {"type": "subscribed", "topics": sorted(sub.topics), "refused": sorted(wanted - allowed)}
                    )
                else:
                    await _reply(sub, {"type": "error", "detail": f"unknown message type {kind!r}"})

        tasks = [asyncio.create_task(sender()), asyncio.create_task(receiver())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except WebSocketDisconnect:
            pass
        finally:
            for t in tasks:
                t.cancel()
            svc.hub.unsubscribe(sub)

    @r.get("/ws/stats")
    async def ws_stats(request: Request) -> dict:
        """Open connections, rooms and their members, events delivered (this worker)."""
        return service(request).hub.stats()

    return [r]


async def _reply(sub, message: dict) -> None:
    try:
        sub.queue.put_nowait(message)
    except asyncio.QueueFull:
        pass
