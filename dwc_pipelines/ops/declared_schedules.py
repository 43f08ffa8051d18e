"""Schedules declared through the API (`POST /api/v3/scheduler/schedules/cron`): one YAML file each,
loaded with the code location, so they are ordinary Dagster schedules (the daemon runs them, the UI
shows them) and survive restarts."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import yaml

from dwc_resources.lakehouse import dwc_home


def declared_schedules_dir() -> Path:
    return Path(os.environ.get("DWC_DECLARED_SCHEDULES_DIR") or Path(dwc_home()) / "api" / "schedules")


def schedule_name(name: str) -> str:
    return f"api_{name}_schedule"


def declared_schedules(job_names: set[str]) -> list[dg.ScheduleDefinition]:
    from dagster._utils.schedules import is_valid_cron_string

    folder = declared_schedules_dir()
    out = []
    for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        try:
            spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            name, cron, job = spec["name"], spec["cron_expression"], spec["job_name"]
        except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
            dg.get_dagster_logger().error(f"declared schedule {path.name} not loaded: {exc}")
            continue
        if job not in job_names or not is_valid_cron_string(cron):
            dg.get_dagster_logger().error(f"declared schedule {path.name} not loaded: unknown job or invalid cron")
            continue
        out.append(
            dg.ScheduleDefinition(
                name=schedule_name(name),
                cron_schedule=cron,
                job_name=job,
                execution_timezone=spec.get("timezone", "UTC"),
                default_status=dg.DefaultScheduleStatus.RUNNING
                if spec.get("enabled", True)
                else dg.DefaultScheduleStatus.STOPPED,
                tags={"dwc/declared_schedule": name, **{str(k): str(v) for k, v in (spec.get("tags") or {}).items()}},
                description=spec.get("description") or f"Declared through the API: {job} on '{cron}'.",
            )
        )
    return out
