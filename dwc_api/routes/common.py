"""What the platform routes share: declared objects, their response model, run references."""

from __future__ import annotations

import os
import re
from pathlib import Path

from fastapi import Request
from pydantic import BaseModel, ConfigDict

from ..deps import service
from ..problems import Problem
from ..security import Principal


class Declared(BaseModel):
    """A declared object: its id, kind and times, the fields it was declared with and its state."""

    model_config = ConfigDict(extra="allow")
    id: str
    kind: str
    owner: str | None = None
    created_at: str
    updated_at: str


class RunRef(BaseModel):
    model_config = ConfigDict(extra="allow")
    run_id: str
    job_name: str | None
    status: str
    status_url: str
    dagster_url: str


class Stats(BaseModel):
    model_config = ConfigDict(extra="allow")


def declare(request: Request, kind: str, body: dict, principal: Principal, **state) -> dict:
    obj = service(request).objects(kind).create(body, principal.username, state)
    request.state.audit_detail = {"id": obj["id"]}
    return obj


def get_declared(request: Request, kind: str, ident: str) -> dict:
    obj = service(request).objects(kind).get(ident)
    if obj is None:
        raise Problem(404, "not_found", f"no {kind.replace('_', ' ')} {ident!r}")
    return obj


def runs_by_status(platform, job_prefix: str | None = None, tag: tuple[str, str] | None = None, limit: int = 1000):
    """Runs of the instance by status (of jobs starting with job_prefix, or carrying a tag)."""
    import dagster as dg

    filters = dg.RunsFilter(tags={tag[0]: tag[1]}) if tag else None
    counts: dict[str, int] = {}
    for record in platform.instance.get_run_records(filters=filters, limit=limit):
        run = record.dagster_run
        if job_prefix and not run.job_name.startswith(job_prefix):
            continue
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    return counts


def atomic_write(path: Path, data: bytes | str) -> Path:
    """Write a file whole or not at all: the sensors and loaders reading the folder never see half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.tmp"
    tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)
    return path


def declared_name(obj: dict, fallback: str) -> str:
    """The platform name of a declared object (chain, model spec): api_<slug>_<seq>, lower case, digits, _."""
    slug = re.sub(r"[^a-z0-9_]+", "_", obj["name"].lower()).strip("_")[:40] or fallback
    return f"api_{slug}_{obj['id'].rsplit('_', 1)[1]}"
