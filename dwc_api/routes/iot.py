"""IoT calls: telemetry posted over HTTP by devices without MQTT goes into the same micro-batch
folder the MQTT consumer writes (so the same loader de-duplicates it: exactly once per device and
seq); the device registry, anomalies and commands are read from the lake; commands are published
to the device's MQTT topic at QoS 1. A device credential posts and reads for its own device only."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import require, service
from ..problems import Problem
from ..security import Principal
from .common import Stats


class TelemetryIn(BaseModel):
    device_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")
    readings: list[dict] = Field(
        min_length=1, max_length=1000, description="each: seq (per device, increasing), ts, and numeric metrics"
    )


class TelemetryAccepted(BaseModel):
    accepted: int
    rejected: list[dict]
    batch: str | None


class CommandIn(BaseModel):
    action: str = Field(min_length=1, max_length=64, pattern=r"^[a-z_]+$")
    parameters: dict = Field(default_factory=dict)


def _own_device(principal: Principal, device_id: str) -> None:
    if principal.role == "device" and principal.device_id != device_id:
        raise Problem(403, "forbidden", f"this credential belongs to device {principal.device_id!r}, not {device_id!r}")


def _rows(svc, sql: str, params: list) -> list[dict]:
    try:
        with svc.platform.reader(masked=True) as con:
            rel = con.execute(sql, params)
            cols = [d[0] for d in rel.description]
            return [
                {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in zip(cols, row)}
                for row in rel.fetchall()
            ]
    except Problem:
        raise
    except Exception as exc:
        if "does not exist" in str(exc):
            return []
        raise


def routers():
    r = APIRouter(prefix="/api/v3/iot", tags=["iot"])

    @r.post("/telemetry", response_model=TelemetryAccepted, status_code=202)
    async def telemetry(body: TelemetryIn, request: Request, principal: Principal = Depends(require("iot:write"))):
        """Readings of one device, validated as MQTT payloads are, written as one durable micro-batch."""
        from dwc_pipelines.iot.consumer import hour_folder, write_batch
        from dwc_pipelines.iot.payloads import Rejected, parse_reading

        _own_device(principal, body.device_id)
        svc = service(request)
        now = time.time()
        topic = f"dwc/devices/{body.device_id}/telemetry"
        lines, rejected = [], []
        for i, reading in enumerate(body.readings):
            raw = json.dumps(reading).encode()
            parsed = parse_reading(body.device_id, raw, now, 8192)
            if isinstance(parsed, Rejected):
                rejected.append({"index": i, "reason": parsed.reason, "detail": parsed.detail})
                continue
            lines.append({"topic": topic, "payload_b64": base64.b64encode(raw).decode(), "received_at": now})
        batch = None
        if lines:
            folder = Path(svc.platform.resources["telemetry_folder"].path) / hour_folder(now)
            batch = (await run_in_threadpool(write_batch, folder, lines)).name
            await svc.hub.publish(
                {"topic": "iot", "type": "telemetry", "device_id": body.device_id, "readings": len(lines)}
            )
        request.state.audit_detail = {"device_id": body.device_id, "accepted": len(lines), "rejected": len(rejected)}
        return {"accepted": len(lines), "rejected": rejected, "batch": batch}

    @r.get("/devices")
    async def devices(request: Request, principal: Principal = Depends(require("iot:read"))) -> list[dict]:
        """The device registry with status and latest readings (iot.devices)."""
        return await run_in_threadpool(_rows, service(request), "SELECT * FROM iot.devices ORDER BY device_id", [])

    @r.get("/devices/{device_id}/anomalies")
    async def anomalies(
        device_id: str,
        request: Request,
        limit: int = Query(100, ge=1, le=1000),
        principal: Principal = Depends(require("iot:read")),
    ) -> list[dict]:
        return await run_in_threadpool(
            _rows,
            service(request),
            "SELECT * FROM iot.anomalies WHERE device_id = ? ORDER BY ts DESC LIMIT ?",
            [device_id, limit],
        )

    @r.get("/devices/{device_id}/commands")
    async def commands(
        device_id: str, request: Request, principal: Principal = Depends(require("iot:write"))
    ) -> list[dict]:
        """The commands sent to a device (a device credential: its own only)."""
        _own_device(principal, device_id)
        return await run_in_threadpool(
            _rows,
            service(request),
            "SELECT * FROM iot.commands WHERE device_id = ? ORDER BY published_at DESC NULLS LAST LIMIT 200",
            [device_id],
        )

    @r.post("/devices/{device_id}/commands", status_code=202)
    async def send_command(
        device_id: str, body: CommandIn, request: Request, principal: Principal = Depends(require("iot:command"))
    ) -> dict:
        """Publish a command on dwc/devices/<id>/commands at QoS 1 (acknowledged by the broker)."""
        from dwc_pipelines.iot.store import command_topic

        svc = service(request)
        payload = json.dumps(
            {
                "command_id": request.state.request_id,
                "action": body.action,
                "parameters": body.parameters,
                "by": principal.username,
            }
        )
        (error,) = await run_in_threadpool(
            svc.platform.resources["broker"].publish_many, [(command_topic(device_id), payload)]
        )
        if error:
            raise Problem(503, "broker_unavailable", f"the command was not acknowledged: {error}")
        return {"command_id": request.state.request_id, "topic": command_topic(device_id), "status": "published"}

    @r.get("/stats", response_model=Stats)
    async def stats(request: Request, principal: Principal = Depends(require("iot:read"))):
        svc = service(request)
        rows = await run_in_threadpool(_rows, svc, "SELECT status, count(*) AS n FROM iot.devices GROUP BY 1", [])
        return {"devices_by_status": {r["status"]: r["n"] for r in rows}}

    return [r]
