"""Resource configuration per environment: DWC_ENV picks it, assets never branch on it."""

from __future__ import annotations

import os

import dagster as dg

from dwc_resources import BlobStoreResource, LandingZoneResource, WarehouseResource


def local_resources() -> dict:
    """Embedded defaults: everything under DWC_HOME (default .dwc), no service to install."""
    return {
        "warehouse": WarehouseResource.local(),
        "landing": LandingZoneResource.local(),
        "blob_store": BlobStoreResource.local(),
    }


def production_resources() -> dict:
    """Paths on shared storage, given by the deployment's environment."""
    return {
        "warehouse": WarehouseResource(
            path=dg.EnvVar("DWC_WAREHOUSE_PATH"), snapshot_path=dg.EnvVar("DWC_SNAPSHOT_PATH"),
            memory_limit=os.environ.get("DWC_WAREHOUSE_MEMORY", "4GB"),
        ),
        "landing": LandingZoneResource(path=dg.EnvVar("DWC_LANDING_PATH")),
        "blob_store": BlobStoreResource(root=dg.EnvVar("DWC_BLOB_ROOT")),
    }


def resources_for(env: str | None = None) -> dict:
    env = env or os.environ.get("DWC_ENV", "local")
    if env == "local":
        return local_resources()
    if env == "production":
        return production_resources()
    raise ValueError(f"DWC_ENV must be 'local' or 'production', not {env!r}")
