"""Each model spec in `models/` as two assets: `ml/models/<name>/model` (trained, tracked and
registered in MLflow) and `ml/models/<name>/predictions` (a warehouse table)."""

import os
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from dwc_resources import LakehouseResource
from dwc_resources.tracking import TrackingResource

from ..ingestion.assets import OWNERS
from ..shared import markdown_table
from ..tables import materialized_schema
from ..yamlspec import SpecError
from . import tabular
from .schema import DDL

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def models_dir() -> Path:
    return Path(os.environ.get("DWC_MODELS_DIR") or MODELS_DIR)


def declared_models_dir() -> Path:
    """Where model specs declared through the API are written (`POST /api/v3/ml/models/{id}/train`)."""
    from dwc_resources.lakehouse import dwc_home

    return Path(os.environ.get("DWC_DECLARED_MODELS_DIR") or Path(dwc_home()) / "api" / "models")


def _frame(spec: tabular.ModelSpec, warehouse: LakehouseResource, base: Path):
    if "csv" in spec.source:
        return tabular.read_source(spec, None, base)
    # Tables and queries read the analyst snapshot: reading never waits for, or blocks, a writer.
    with warehouse.reader() as con:
        return tabular.read_source(spec, con, base)


def model_definitions(spec: tabular.ModelSpec, base: Path) -> list[dg.AssetsDefinition]:
    model_key = dg.AssetKey(["ml", "models", spec.name, "model"])
    group = f"model_{spec.name}"

    @dg.asset(
        key=model_key,
        group_name=group,
        kinds={"mlflow", "scikitlearn"},
        owners=OWNERS,
        code_version=spec.version,
        description=f"{spec.algorithm} model `{spec.name}` ({spec.task}). {spec.description}",
    )
    def _model(
        context: dg.AssetExecutionContext, warehouse: LakehouseResource, tracking: TrackingResource
    ) -> dg.MaterializeResult:
        frame = _frame(spec, warehouse, base)
        try:
            model, metrics, feature_cols = tabular.train(spec, frame)
        except SpecError as exc:
            raise dg.Failure(str(exc)) from None
        with tracking.training(f"dwc/models/{spec.name}", context.run.run_id, tags={"dwc/spec": spec.file}) as run:
            tracking.log(
                run,
                params={
                    "algorithm": spec.algorithm,
                    "task": spec.task,
                    "features": ",".join(feature_cols),
                    "spec_version": spec.version,
                    **spec.params,
                },
                metrics=metrics,
            )
            example = frame[feature_cols].head(3)
            tracking.log_sklearn_model(run, model, example, model.predict(example), register_as=spec.registered_name)
        context.log.info(f"{spec.name}: version {run.model_version}, {metrics}")
        return dg.MaterializeResult(
            metadata={
                **metrics,
                "model_version": run.model_version,
                "mlflow_run_id": run.run_id,
                "mlflow_run": dg.MetadataValue.url(run.link) if run.link else run.run_id,
                "features": ", ".join(feature_cols),
            }
        )

    @dg.asset(
        key=dg.AssetKey(["ml", "models", spec.name, "predictions"]),
        deps=[model_key],
        group_name=group,
        kinds={"duckdb", "scikitlearn"},
        owners=OWNERS,
        code_version=spec.version,
        description=f"Predictions of model `{spec.name}` for every row of its source, in {spec.predictions_table}.",
    )
    def _predictions(
        context: dg.AssetExecutionContext, warehouse: LakehouseResource, tracking: TrackingResource
    ) -> dg.MaterializeResult:
        version = tracking.latest_version(spec.registered_name)
        if version is None:
            raise dg.Failure(
                f"model {spec.registered_name} is not registered: materialise {model_key.to_user_string()} first"
            )
        model = tracking.load_model(spec.registered_name, version)
        frame = _frame(spec, warehouse, base)
        feature_cols = tabular.columns(spec, frame)
        out = tabular.predict(spec, model, frame, feature_cols)
        out["model_version"] = version
        out["predicted_at"] = datetime.now(UTC).replace(tzinfo=None)
        out["run_id"] = context.run.run_id
        with warehouse.writer(DDL) as con:
            con.register("incoming", out)
            try:
                con.execute(f"CREATE OR REPLACE TABLE {spec.predictions_table} AS SELECT * FROM incoming")
            finally:
                con.unregister("incoming")
            top = con.execute(f"""SELECT id, prediction, round(score, 4) FROM {spec.predictions_table}
                                  ORDER BY score DESC NULLS LAST, id LIMIT 10""").fetchall()
            counts = con.execute(
                f"SELECT prediction, count(*) FROM {spec.predictions_table} GROUP BY 1 ORDER BY 1"
            ).fetchall()
            table = materialized_schema(con, spec.predictions_table)  # CREATE TABLE AS: no DDL to read
        return dg.MaterializeResult(
            metadata={
                **table,
                "model_version": version,
                "by_prediction": dg.MetadataValue.md(markdown_table(["prediction", "rows"], counts)),
                "highest_scores": dg.MetadataValue.md(markdown_table(["id", "prediction", "score"], top)),
            }
        )

    return [_model, _predictions]


def build_defs(directory: Path | None = None) -> dg.Definitions:
    directory = directory or models_dir()
    specs, errors = tabular.load_models(directory, declared_models_dir())
    for e in errors:
        dg.get_dagster_logger().error(f"model spec not loaded: {e}")
    assets = [a for spec in specs for a in model_definitions(spec, directory.parent)]
    jobs = [
        dg.define_asset_job(
            f"model_{s.name}_job",
            selection=dg.AssetSelection.groups(f"model_{s.name}"),
            description=f"Train model {s.name} and predict with it.",
        )
        for s in specs
    ]
    return dg.Definitions(assets=assets, jobs=jobs)
