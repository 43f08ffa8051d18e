"""Recommendations: interactions, item features, models, served recommendations, evaluation."""

import dagster as dg

from .assets import (
    INTERACTIONS,
    QUARANTINE,
    RECOMMENDATIONS,
    evaluation,
    interactions,
    item_features,
    model_assets,
    recommendations,
    similar_items,
)

recs_full_job = dg.define_asset_job(
    "recs_full_job",
    selection=dg.AssetSelection.groups("recs"),
    description="Load events, retrain every recommender, refresh every recommendation, evaluate.",
)
recs_incremental_job = dg.define_asset_job(
    "recs_incremental_job",
    selection=dg.AssetSelection.assets(INTERACTIONS, QUARANTINE, RECOMMENDATIONS),
    description="Load new events and refresh the recommendations of the users they concern, without retraining.",
)
recs_weekly_retrain = dg.ScheduleDefinition(
    name="recs_weekly_retrain",
    job=recs_full_job,
    cron_schedule="30 2 * * 1",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[interactions, item_features, *model_assets, recommendations, similar_items, evaluation],
    jobs=[recs_full_job, recs_incremental_job],
    schedules=[recs_weekly_retrain],
)
