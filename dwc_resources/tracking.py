"""MLflow tracking and registry around `MlflowClient` (not the dagster-mlflow hook, which ends
MLflow runs wrongly in multi-step jobs): each training is one MLflow run that this resource opens
and closes itself, tagged with the Dagster run id."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg
from pydantic import Field

from .lakehouse import dwc_home

# MLflow reaches for its telemetry host unless told not to; the platform makes no call it was not asked to.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


@dataclass
class TrainingRun:
    run_id: str
    experiment_id: str
    link: str | None
    model_uri: str | None = None
    model_version: str | None = None


class TrackingResource(dg.ConfigurableResource):
    """Where trainings are tracked and models registered: a local SQLite-backed store by default,
    a tracking server in production (the file store is refused by MLflow 3)."""

    tracking_uri: str = Field(description="sqlite:///... (embedded) or http(s)://tracking-server")
    artifact_location: str | None = Field(default=None, description="Artifact root of new experiments (local store)")
    ui_url: str | None = Field(default=None, description="Base URL of the MLflow UI, for links in asset metadata")

    @classmethod
    def local(cls) -> TrackingResource:
        root = os.path.join(dwc_home(), "mlflow")
        return cls(
            tracking_uri=f"sqlite:///{os.path.join(root, 'mlflow.db')}",
            artifact_location=f"file://{os.path.join(root, 'artifacts')}",
            ui_url="http://127.0.0.1:5000",
        )

    def _setup(self):
        import mlflow

        if self.tracking_uri.startswith("sqlite:///"):
            os.makedirs(os.path.dirname(self.tracking_uri[len("sqlite:///") :]), exist_ok=True)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        return mlflow

    def client(self):
        from mlflow import MlflowClient

        self._setup()
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def experiment_id(self, name: str) -> str:
        client = self.client()
        exp = client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        return client.create_experiment(name, artifact_location=self.artifact_location)

    def link(self, experiment_id: str, run_id: str) -> str | None:
        return f"{self.ui_url.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}" if self.ui_url else None

    @contextmanager
    def training(self, experiment: str, dagster_run_id: str, tags: dict | None = None) -> Iterator[TrainingRun]:
        """One MLflow run, ended FINISHED on success and FAILED on an exception, whatever the step does."""
        client = self.client()
        exp_id = self.experiment_id(experiment)
        run = client.create_run(exp_id, tags={"dagster/run_id": dagster_run_id, **(tags or {})})
        info = TrainingRun(run.info.run_id, exp_id, self.link(exp_id, run.info.run_id))
        try:
            yield info
        except BaseException:
            client.set_terminated(run.info.run_id, status="FAILED")
            raise
        client.set_terminated(run.info.run_id, status="FINISHED")

    def log(self, run: TrainingRun, params: dict | None = None, metrics: dict | None = None) -> None:
        import time

        from mlflow.entities import Metric, Param

        now = int(time.time() * 1000)
        self.client().log_batch(
            run.run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
        )

    def log_sklearn_model(
        self, run: TrainingRun, model: Any, input_example, predictions, register_as: str | None = None
    ) -> TrainingRun:
        """The model with its signature and input example; requirements are given (inferring them
        costs seconds per model), and the version is registered when a name is given."""
        import sklearn

        mlflow = self._setup()
        from mlflow.models import infer_signature

        if hasattr(input_example, "select_dtypes"):
            # MLflow's own advice: an integer feature can be missing at inference time, and an integer
            # column cannot hold a missing value, so the signature declares it a double.
            ints = input_example.select_dtypes("integer").columns
            input_example = input_example.astype(dict.fromkeys(ints, "float64"))
        signature = infer_signature(input_example, predictions)
        requirements = [f"scikit-learn=={sklearn.__version__}", f"mlflow=={mlflow.__version__}"]
        from mlflow.exceptions import MlflowException

        def log(**extra):
            with mlflow.start_run(run_id=run.run_id):
                return mlflow.sklearn.log_model(
                    model,
                    name="model",
                    signature=signature,
                    input_example=input_example,
                    pip_requirements=requirements,
                    **extra,
                )

        try:
            info = log()
        except MlflowException as exc:
            if "untrusted types" not in str(exc):
                raise
            import skops.io as sio

            # MLflow 3 stores scikit-learn models with skops, which refuses types it does not know
            # (tree nodes, dtypes) unless named: these are ours, made in this process. Only models
            # that need it pay for the extra serialisation that finds them.
            info = log(skops_trusted_types=sio.get_untrusted_types(data=sio.dumps(model)))
        run.model_uri = info.model_uri
        if register_as:
            version = mlflow.register_model(info.model_uri, register_as, tags={"dagster/run_id": run.run_id})
            run.model_version = str(version.version)
        return run

    def alias_version(self, model_name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client().get_model_version_by_alias(model_name, alias).version)
        except MlflowException:
            return None

    def latest_version(self, model_name: str) -> str | None:
        versions = self.client().search_model_versions(f"name = '{model_name}'")
        return str(max(int(v.version) for v in versions)) if versions else None

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        self.client().set_registered_model_alias(model_name, alias, version)

    def load_model(self, model_name: str, version: str):
        mlflow = self._setup()
        return mlflow.sklearn.load_model(f"models:/{model_name}/{version}")
