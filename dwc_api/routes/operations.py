"""Health, readiness, Prometheus metrics, the audit log, service statistics and run status."""

from __future__ import annotations

import os
import time
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from .. import store
from ..deps import require, service
from ..problems import Problem
from ..security import Principal


class Health(BaseModel):
    status: str
    uptime_s: float


class Readiness(BaseModel):
    status: Literal["ready", "degraded"]
    dependencies: dict[str, dict]


class AuditEntry(BaseModel):
    id: int
    at: str
    request_id: str
    actor: str | None
    role: str | None
    credential: str | None
    method: str
    route: str
    status: int
    outcome: str
    client: str | None


class CounterBody(BaseModel):
    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_:][A-Za-z0-9_:.-]*$")
    value: float = 1.0
    metric_type: Literal["counter", "gauge"] = "counter"
    category: str = Field(default="custom", max_length=64)


class Counter(BaseModel):
    name: str
    category: str
    metric_type: str
    value: float


class RunStatus(BaseModel):
    run_id: str
    job_name: str | None
    status: str
    status_url: str
    dagster_url: str
    tags: dict[str, str] = {}
    created_at: str | None = None
    updated_at: str | None = None
    start_time: float | None = None
    end_time: float | None = None


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        detail = fn()
        return {"ok": True, "detail": detail, "ms": round((time.perf_counter() - started) * 1000, 1)}
    except Exception as exc:
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}


def routers():
    r = APIRouter(tags=["operations"])

    @r.get("/health", response_model=Health)
    async def health(request: Request):
        """Liveness: the process answers."""
        return {"status": "ok", "uptime_s": round(time.time() - service(request).started_at, 1)}

    @r.get("/api/v3/health", response_model=Readiness, responses={503: {"model": Readiness}})
    async def readiness(request: Request):
        """Readiness, naming each dependency: the API store, the lake catalog, the instance, the broker, Redis."""
        svc = service(request)
        p = svc.platform

        def lake():
            with p.reader(masked=True) as con:
                return f"{con.execute('SELECT count(*) FROM docs.documents').fetchone()[0]} document rows"

        def instance():
            return f"{len(p.instance.get_run_records(limit=1))} latest run readable"

        def broker():
            b = p.resources["broker"]
            import socket

            with socket.create_connection((b.host, b.port), timeout=1):
                return f"{b.host}:{b.port} reachable"

        def store_check():
            with svc.engine.connect() as con:
                return f"{con.execute(sa.select(sa.func.count()).select_from(store.users)).scalar_one()} users"

        def redis():
            if not svc.limits.shared:
                return "not configured: rate limits are per process"
            if not svc.limits.healthy():
                raise ConnectionError(svc.settings.redis_url)
            return "reachable"

        deps = {}
        for name, fn in (
            ("api_store", store_check),
            ("lake", lake),
            ("instance", instance),
            ("broker", broker),
            ("redis", redis),
        ):
            deps[name] = await run_in_threadpool(_check, fn)
        # The broker serves IoT only: its absence degrades the service but does not make it unready.
        required = ("api_store", "lake", "instance", "redis")
        ready = all(deps[k]["ok"] for k in required)
        status = "ready" if ready and deps["broker"]["ok"] else ("degraded" if ready else "degraded")
        return JSONResponse({"status": status, "dependencies": deps}, status_code=200 if ready else 503)

    @r.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
    async def metrics(request: Request):
        """Prometheus text format: requests, latency and the custom counters (unauthenticated, as scrapers expect)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        from ..metrics import REGISTRY, CustomCounters

        svc = service(request)
        if not getattr(svc, "_counters_registered", False):
            REGISTRY.register(CustomCounters(svc.engine))
            svc._counters_registered = True
        return Response(await run_in_threadpool(generate_latest, REGISTRY), media_type=CONTENT_TYPE_LATEST)

    a = APIRouter(prefix="/api/v3", tags=["operations"])

    @a.get("/security/audit/logs", response_model=list[AuditEntry])
    async def audit_logs(
        request: Request,
        limit: int = Query(50, ge=1, le=1000),
        outcome: str | None = Query(None, max_length=32),
        principal: Principal = Depends(require("admin")),
    ):
        """The newest audit entries: authentication events, writes and denied requests."""
        q = sa.select(store.audit_log).order_by(store.audit_log.c.id.desc()).limit(limit)
        if outcome:
            q = q.where(store.audit_log.c.outcome == outcome)
        with service(request).engine.connect() as con:
            rows = con.execute(q).all()
        return [{**r._asdict(), "at": store.iso(r.at)} for r in rows]

    @a.get("/security/stats")
    async def security_stats(request: Request, principal: Principal = Depends(require("admin"))) -> dict:
        """Users per role, API keys, and audited requests per outcome over the last 24 hours."""
        svc = service(request)
        since = time.time() - 86400
        with svc.engine.connect() as con:
            roles = dict(con.execute(sa.select(store.users.c.role, sa.func.count()).group_by(store.users.c.role)).all())
            keys = con.execute(
                sa.select(sa.func.count()).select_from(store.api_keys).where(store.api_keys.c.revoked_at.is_(None))
            ).scalar_one()
            outcomes = dict(
                con.execute(
                    sa.select(store.audit_log.c.outcome, sa.func.count())
                    .where(store.audit_log.c.at >= since)
                    .group_by(store.audit_log.c.outcome)
                ).all()
            )
            logins = dict(
                con.execute(
                    sa.select(store.audit_log.c.status, sa.func.count())
                    .where(store.audit_log.c.at >= since, store.audit_log.c.route == "/api/v3/security/auth/login")
                    .group_by(store.audit_log.c.status)
                ).all()
            )
        return {
            "users_by_role": roles,
            "active_api_keys": keys,
            "last_24h": {"by_outcome": outcomes, "logins_ok": logins.get(200, 0), "logins_failed": logins.get(401, 0)},
            "rate_limits": {
                "shared": svc.limits.shared,
                "per_credential": svc.settings.rate_credential,
                "per_address": svc.settings.rate_address,
                "login_per_address": svc.settings.rate_login,
            },
        }

    @a.post("/metrics/metrics/counter", response_model=Counter, status_code=201)
    async def post_counter(
        body: CounterBody, request: Request, principal: Principal = Depends(require("metrics:write"))
    ):
        """Add to a custom counter (or set a gauge); exported at /metrics as dwc_custom_metric."""
        svc = service(request)
        if body.metric_type == "counter" and body.value < 0:
            raise Problem(
                422, "invalid_request", "a counter only goes up: send a positive value (or metric_type gauge)"
            )

        def write():
            with svc.engine.begin() as con:
                key = (store.counters.c.name == body.name) & (store.counters.c.category == body.category)
                row = con.execute(sa.select(store.counters).where(key)).first()
                if row is None:
                    con.execute(
                        store.counters.insert().values(
                            name=body.name,
                            category=body.category,
                            metric_type=body.metric_type,
                            value=body.value,
                            updated_at=time.time(),
                        )
                    )
                    return body.value
                value = row.value + body.value if body.metric_type == "counter" else body.value
                con.execute(store.counters.update().where(key).values(value=value, updated_at=time.time()))
                return value

        value = await run_in_threadpool(write)
        return {"name": body.name, "category": body.category, "metric_type": body.metric_type, "value": value}

    @a.get("/metrics/metrics/system/overview")
    async def system_overview(request: Request, principal: Principal = Depends(require("metrics:read"))) -> dict:
        """The machine and this process: CPU, memory, disk of DWC_HOME, load."""
        import psutil

        from dwc_resources.lakehouse import dwc_home

        proc = psutil.Process()
        disk = psutil.disk_usage(dwc_home() if os.path.exists(dwc_home()) else "/")
        return {
            "cpu_percent": psutil.cpu_percent(interval=None),
            "cpu_count": psutil.cpu_count(),
            "load_average": list(os.getloadavg()),
            "memory": {"total": psutil.virtual_memory().total, "available": psutil.virtual_memory().available},
            "disk": {"total": disk.total, "free": disk.free},
            "process": {"pid": proc.pid, "rss": proc.memory_info().rss, "threads": proc.num_threads()},
        }

    @a.get("/metrics/service/stats")
    async def metrics_stats(request: Request, principal: Principal = Depends(require("metrics:read"))) -> dict:
        """Requests answered by this worker, by status class, and the custom counters."""
        from ..metrics import REQUESTS

        by_class: dict[str, float] = {}
        for metric in REQUESTS.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    cls = sample.labels["status"][0] + "xx"
                    by_class[cls] = by_class.get(cls, 0) + sample.value
        with service(request).engine.connect() as con:
            n = con.execute(sa.select(sa.func.count()).select_from(store.counters)).scalar_one()
        return {"worker_pid": os.getpid(), "requests_by_status": by_class, "custom_metrics": n}

    @a.get("/runs/{run_id}", response_model=RunStatus)
    async def run_status(run_id: str, request: Request, principal: Principal = Depends(require("runs:read"))):
        """A run's status, read from the instance."""
        run = await run_in_threadpool(service(request).platform.run, run_id)
        if run is None:
            raise Problem(404, "not_found", f"no run {run_id}")
        return run

    return [r, a]
