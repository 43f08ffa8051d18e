"""ML calls: a declared tabular model becomes a model spec the code location loads; training is a
run of its job (tracked and registered in MLflow); predictions come from the latest registered
version, loaded once per process and reloaded when a newer version is registered."""

from __future__ import annotations

import csv
import threading
import time

import yaml
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from ..deps import require, service
from ..problems import Problem
from ..security import Principal
from .common import Declared, RunRef, Stats, atomic_write, declare, declared_name, get_declared, runs_by_status

TASKS = {"classification", "regression", "anomaly"}


class ModelIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    model_type: str = Field(default="classification", pattern="^(classification|regression|anomaly)$")
    algorithm: str = Field(default="random_forest", max_length=64)
    description: str = Field(default="", max_length=2000)
    parameters: dict = Field(default_factory=dict)


class TrainIn(BaseModel):
    training_data: list[dict] = Field(min_length=10, max_length=200_000)
    target_column: str | None = Field(default=None, max_length=128)
    test_size: float = Field(default=0.2, gt=0, lt=1)


class PredictIn(BaseModel):
    input_data: list[dict] = Field(min_length=1, max_length=10_000)
    return_probabilities: bool = False


class Prediction(BaseModel):
    model_id: str
    model_version: str
    predictions: list
    probabilities: list[dict[str, float]] | None = None


def spec_name(obj: dict) -> str:
    return declared_name(obj, "model")


class _Champions:
    """The latest registered version of each model, loaded once and re-checked every few seconds."""

    def __init__(self, ttl_s: float = 5.0):
        self.ttl_s, self._lock, self._cache = ttl_s, threading.Lock(), {}

    def get(self, tracking, registered: str):
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(registered)
            if hit and now - hit[2] < self.ttl_s:
                return hit[0], hit[1]
        version = tracking.latest_version(registered)
        if version is None:
            return None, None
        with self._lock:
            hit = self._cache.get(registered)
            if hit and hit[1] == version:
                self._cache[registered] = (hit[0], version, now)
                return hit[0], version
        model = tracking.load_model(registered, version)
        with self._lock:
            self._cache[registered] = (model, version, now)
        return model, version


CHAMPIONS = _Champions()


def routers():
    r = APIRouter(prefix="/api/v3/ml", tags=["ml"])

    @r.post("/models", response_model=Declared, status_code=201)
    async def create_model(body: ModelIn, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """Declare a tabular model (algorithm and parameters are checked as a model spec would be)."""
        from dwc_pipelines.ml.tabular import ALGORITHMS, PARAMETERS

        if body.algorithm not in ALGORITHMS:
            raise Problem(
                422, "invalid_request", f"unknown algorithm {body.algorithm!r}: one of {', '.join(ALGORITHMS)}"
            )
        factories = ALGORITHMS[body.algorithm][1]
        if body.model_type not in factories:
            raise Problem(
                422, "invalid_request", f"{body.algorithm} does {' or '.join(factories)}, not {body.model_type}"
            )
        unknown = [k for k in body.parameters if k not in PARAMETERS[factories[body.model_type]]]
        if unknown:
            raise Problem(422, "invalid_request", f"{body.algorithm} has no parameter {', '.join(unknown)}")
        obj = declare(request, "ml_model", body.model_dump(), principal, status="declared")
        return service(request).objects("ml_model").update_state(obj["id"], spec=spec_name(obj))

    @r.get("/models/{model_id}", response_model=Declared)
    async def get_model(model_id: str, request: Request, principal: Principal = Depends(require("runs:read"))):
        return get_declared(request, "ml_model", model_id)

    @r.post("/models/{model_id}/train", response_model=RunRef, status_code=202)
    async def train(
        model_id: str, body: TrainIn, request: Request, principal: Principal = Depends(require("runs:launch"))
    ):
        """Write the records and a model spec the code location loads, reload it and launch the model's job."""
        from dwc_pipelines.ml.tabular import parse_model
        from dwc_pipelines.ml.tabular_assets import declared_models_dir
        from dwc_pipelines.yamlspec import SpecError

        obj = get_declared(request, "ml_model", model_id)
        svc = service(request)
        columns = list(dict.fromkeys(k for row in body.training_data for k in row))
        target = body.target_column
        if obj["model_type"] != "anomaly" and (not target or target not in columns):
            raise Problem(
                422, "invalid_request", f"target_column must name a column of the records ({', '.join(columns)})"
            )
        id_column = "id" if "id" in columns else "_row"
        name = obj["spec"]
        folder = declared_models_dir()
        folder.mkdir(parents=True, exist_ok=True)
        data_path = folder / f"{name}.csv"
        spec = {
            "name": name,
            "description": obj.get("description") or f"declared through the API as {model_id}",
            "source": {"csv": str(data_path)},
            "id": id_column,
            "algorithm": obj["algorithm"],
            "task": obj["model_type"],
            "params": obj.get("parameters") or {},
            **({"target": target} if obj["model_type"] != "anomaly" else {}),
        }
        text = yaml.safe_dump(spec, sort_keys=False)
        try:
            parse_model(text, f"{name}.yaml")
        except SpecError as exc:
            raise Problem(422, "invalid_request", str(exc)) from exc

        def write():
            tmp = data_path.with_suffix(".csv.tmp")
            with open(tmp, "w", newline="", encoding="utf-8") as f:
                w = csv.DictWriter(f, fieldnames=([id_column] if id_column == "_row" else []) + columns)
                w.writeheader()
                for i, row in enumerate(body.training_data):
                    w.writerow({"_row": i, **row} if id_column == "_row" else row)
            tmp.replace(data_path)
            atomic_write(folder / f"{name}.yaml", text)
            svc.platform.reload_location()
            return svc.platform.launch(f"model_{name}_job", {}, {"dwc/api": "ml_train", "dwc/ml_model": model_id})

        run = await run_in_threadpool(write)
        svc.objects("ml_model").update_state(
            model_id,
            status="training",
            run=run,
            features=[c for c in columns if c not in (target, id_column)],
            test_size_note="the held-out share is the platform's fixed 20% (docs/api.md)",
        )
        return run

    @r.post("/models/{model_id}/predict", response_model=Prediction)
    async def predict(
        model_id: str, body: PredictIn, request: Request, principal: Principal = Depends(require("ml:predict"))
    ):
        """Predictions (and class probabilities) from the latest registered version of the model."""
        obj = get_declared(request, "ml_model", model_id)
        tracking = service(request).platform.resource("tracking")

        def run():
            import pandas as pd

            model, version = CHAMPIONS.get(tracking, f"dwc-model-{obj['spec']}")
            if model is None:
                raise Problem(409, "not_trained", f"{model_id} has no registered version yet: train it first")
            features = obj.get("features") or []
            frame = pd.DataFrame(body.input_data)
            missing = [f for f in features if f not in frame.columns]
            if missing:
                raise Problem(422, "invalid_request", f"input_data lacks the features {', '.join(missing)}")
            X = frame[features] if features else frame
            out = {"model_id": model_id, "model_version": version, "predictions": model.predict(X).tolist()}
            if body.return_probabilities and hasattr(model, "predict_proba"):
                classes = [str(c) for c in model.classes_]
                out["probabilities"] = [dict(zip(classes, map(float, p))) for p in model.predict_proba(X)]
            return out

        return await run_in_threadpool(run)

    @r.get("/stats", response_model=Stats)
    async def stats(request: Request, principal: Principal = Depends(require("runs:read"))):
        svc = service(request)
        declared = svc.objects("ml_model").list(1000)
        return {
            "declared_models": len(declared),
            "by_status": {
                s: sum(1 for m in declared if m.get("status") == s) for s in {m.get("status") for m in declared}
            },
            "runs": await run_in_threadpool(runs_by_status, svc.platform, "model_"),
        }

    return [r]
