"""The anchoring domain's Dagster definitions: assets, checks and jobs."""

import dagster as dg

from .assets import CERTIFICATES, PROOFS, anchoring_assets
from .checks import anchoring_checks

anchor_job = dg.define_asset_job(
    "anchor_job",
    selection=dg.AssetSelection.assets(PROOFS),
    description="Anchor the documents not anchored yet, one transaction per batch per chain.",
)
certify_job = dg.define_asset_job(
    "certify_job",
    selection=dg.AssetSelection.assets(CERTIFICATES),
    description="Mint certificate NFTs for the documents named in the run config.",
)

defs = dg.Definitions(assets=anchoring_assets, asset_checks=anchoring_checks, jobs=[anchor_job, certify_job])
