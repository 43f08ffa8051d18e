"""XR asset builds: glTF 2.0 scenes (document map, device twin, workflow map) with viewer pages, and XR
session analytics."""

import dagster as dg

from .assets import DEVICE_TWIN, DOCUMENT_MAP, SESSION_EVENTS, SESSION_MARTS, WORKFLOW_MAP, xr_assets  # noqa: F401
from .checks import xr_checks

xr_job = dg.define_asset_job(
    "xr_job", selection=dg.AssetSelection.groups("xr"), description="Build the XR scenes and the XR session marts."
)

defs = dg.Definitions(assets=xr_assets, asset_checks=xr_checks, jobs=[xr_job])
