"""User-declared workflow chains: YAML specs in `chains/` compiled to Dagster assets and jobs."""

from .assets import build_defs

defs = build_defs()
