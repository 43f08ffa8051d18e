"""Background tasks and the scheduler: a task is a run of the job its type names; a schedule is a
declared, persisted Dagster schedule that the code location loads (dwc_pipelines/ops/declared_schedules.py)."""

from __future__ import annotations

import re

import yaml
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import require, service
from ..problems import Problem
from ..security import Principal
from .common import Declared, Stats, atomic_write, declare, runs_by_status

# Task types -> the jobs that do that work.
TASK_JOBS = {
    "data_processing": "documents_followup_job",
    "ingestion": "ingest_job",
    "enrichment": "enrich_job",
    "ml_training": "ml_classifier_job",
    "recommendations": "recs_full_job",
    "analytics": "ops_marts_job",
    "maintenance": "lake_maintenance_job",
    "anchoring": "anchor_job",
    "quantum": "quantum_job",
    "xr": "xr_job",
}
# Dagster's run priority tag: higher runs first in the run queue.
PRIORITIES = {"low": -1, "normal": 0, "medium": 0, "high": 1, "critical": 2}
INTERVALS = {"hourly": "0 * * * *", "daily": "0 0 * * *", "weekly": "0 0 * * 1", "monthly": "0 0 1 * *"}


class TaskIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    task_type: str = Field(default="data_processing", max_length=64)
    priority: str | int = Field(default="normal")
    job_name: str | None = Field(default=None, max_length=128, description="any job of the code location instead")


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    cron_expression: str = Field(min_length=9, max_length=100)
    job_name: str = Field(default="documents_followup_job", max_length=128)
    timezone: str = Field(default="UTC", max_length=64)
    enabled: bool = True


class IntervalIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    interval: str = Field(pattern="^(hourly|daily|weekly|monthly)$")
    job_name: str = Field(default="documents_followup_job", max_length=128)


def _priority(value) -> int:
    if isinstance(value, int):
        return max(-10, min(10, value))
    if value not in PRIORITIES:
        raise Problem(422, "invalid_request", f"priority is one of {', '.join(PRIORITIES)} or an integer")
    return PRIORITIES[value]


def _schedule(
    request: Request, principal: Principal, name: str, cron: str, job: str, tz: str, enabled: bool, body: dict
):
    from dagster._utils.schedules import is_valid_cron_string

    from dwc_pipelines.ops.declared_schedules import declared_schedules_dir, schedule_name

    if not is_valid_cron_string(cron):
        raise Problem(422, "invalid_request", f"{cron!r} is not a cron expression (five fields)")
    slug = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or "schedule"
    svc = service(request)

    def write():
        path = declared_schedules_dir() / f"{slug}.yaml"
        if path.exists():
            raise Problem(409, "conflict", f"a schedule {slug} is declared already")
        spec = {"name": slug, "cron_expression": cron, "job_name": job, "timezone": tz, "enabled": enabled}
        atomic_write(path, yaml.safe_dump(spec))
        try:
            svc.platform.reload_location()
        except Problem:
            path.unlink()
            raise

    return write, slug, schedule_name(slug)


def routers():
    b = APIRouter(prefix="/api/v3/background", tags=["background"])

    @b.post("/tasks/submit", response_model=Declared, status_code=202)
    async def submit(body: TaskIn, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """Submit a task: a run of the job its type names, queued with its priority."""
        job = body.job_name or TASK_JOBS.get(body.task_type)
        if job is None:
            raise Problem(
                422, "invalid_request", f"unknown task type {body.task_type!r}: one of {', '.join(TASK_JOBS)}"
            )
        svc = service(request)
        tags = {"dwc/api": "task", "dwc/task": body.name[:60], "dagster/priority": _priority(body.priority)}
        run = await run_in_threadpool(svc.platform.launch, job, {}, tags)
        return declare(request, "task", body.model_dump(), principal, job_name=job, run=run)

    @b.get("/service/stats", response_model=Stats)
    async def background_stats(request: Request, principal: Principal = Depends(require("runs:read"))):
        """Runs of the instance by status (the queue, what runs, what ended) and submitted tasks."""
        svc = service(request)
        return {
            "submitted_tasks": svc.objects("task").count(),
            "runs_by_status": await run_in_threadpool(runs_by_status, svc.platform),
            "task_runs_by_status": await run_in_threadpool(runs_by_status, svc.platform, None, ("dwc/api", "task")),
            "task_types": TASK_JOBS,
        }

    s = APIRouter(prefix="/api/v3/scheduler", tags=["scheduler"])

    @s.post("/schedules/cron", response_model=Declared, status_code=201)
    async def cron(body: ScheduleIn, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """Declare a cron schedule of a job: persisted, loaded by the code location, run by the daemon."""
        write, slug, dagster_name = _schedule(
            request,
            principal,
            body.name,
            body.cron_expression,
            body.job_name,
            body.timezone,
            body.enabled,
            body.model_dump(),
        )
        await run_in_threadpool(write)
        return declare(request, "schedule", body.model_dump(), principal, schedule=dagster_name)

    @s.post("/schedules/interval", response_model=Declared, status_code=201)
    async def interval(body: IntervalIn, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """hourly, daily, weekly or monthly (as the cron expression it stands for)."""
        cron_expr = INTERVALS[body.interval]
        write, slug, dagster_name = _schedule(
            request, principal, body.name, cron_expr, body.job_name, "UTC", True, body.model_dump()
        )
        await run_in_threadpool(write)
        return declare(
            request, "schedule", {**body.model_dump(), "cron_expression": cron_expr}, principal, schedule=dagster_name
        )

    @s.get("/service/stats", response_model=Stats)
    async def scheduler_stats(request: Request, principal: Principal = Depends(require("runs:read"))):
        """The instance's schedules and sensors (running or stopped) and the declared schedules."""
        svc = service(request)

        def states():
            from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

            out = {"schedules_running": 0, "schedules_stopped": 0, "sensors_running": 0}
            for st in svc.platform.instance.all_instigator_state():
                running = st.status in (InstigatorStatus.RUNNING, InstigatorStatus.DECLARED_IN_CODE)
                if st.instigator_type == InstigatorType.SCHEDULE:
                    out["schedules_running" if running else "schedules_stopped"] += 1
                elif running:
                    out["sensors_running"] += 1
            return out

        return {"declared_schedules": svc.objects("schedule").count(), **await run_in_threadpool(states)}

    return [b, s]
