"""Recommendation calls: interactions and item features land as files the recs assets load (and
the events sensor picks up); recommendations are answered in real time from the stored model, folding
in the user's interactions so far, including those posted a moment ago."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from .. import store
from ..deps import require, service
from ..problems import Problem
from ..security import Principal
from .common import Declared, RunRef, Stats, atomic_write, declare, get_declared, runs_by_status

# The specification's algorithm names -> the platform's recommenders (dwc_pipelines/recs/models.py).
ALGORITHMS = {
    "user_based_cf": "user_knn",
    "item_based_cf": "item_knn",
    "matrix_factorization": "als",
    "als": "als",
    "explicit_mf": "explicit_mf",
    "content_based": "content",
    "popularity": "popularity",
    "ease": "ease",
    "hybrid": "hybrid",
}
CHAMPION = "hybrid"


class InteractionIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    item_id: str = Field(min_length=1, max_length=256)
    interaction_type: str = Field(default="view", max_length=32)
    rating: float | None = Field(default=None, ge=0)
    timestamp: datetime | None = None


class ItemFeaturesIn(BaseModel):
    item_id: str = Field(min_length=1, max_length=256)
    features: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    content: str = Field(default="", max_length=100_000)
    title: str | None = Field(default=None, max_length=1000)


class RecModelIn(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    recommendation_type: str = Field(default="collaborative_filtering", max_length=64)
    algorithm: str = Field(default="hybrid", max_length=64)
    parameters: dict = Field(default_factory=dict)


class RecommendIn(BaseModel):
    user_id: str = Field(min_length=1, max_length=256)
    model_id: str | None = Field(default=None, max_length=64)
    num_recommendations: int = Field(default=10, ge=1, le=100)
    exclude_interacted: bool = True


class Item(BaseModel):
    rank: int
    item_id: str
    score: float


class Recommendations(BaseModel):
    user_id: str
    model: str
    model_version: str
    interactions: int
    new_user: bool
    items: list[Item]


class Accepted(BaseModel):
    accepted: bool = True
    file: str


def _drop(folder: Path, name: str, data: bytes) -> str:
    """Write a file into the events folder atomically; its path relative to the folder."""
    return atomic_write(folder / name, data).relative_to(folder).as_posix()


class _Models:
    """Stored recommenders, loaded once per process and reloaded when the file changes."""

    def __init__(self):
        self._lock, self._cache = threading.Lock(), {}

    def get(self, model_store, name: str):
        path = Path(model_store.path) / f"recs_{name}.pkl"
        try:
            mtime = path.stat().st_mtime_ns
        except FileNotFoundError:
            return None, None
        with self._lock:
            hit = self._cache.get(name)
            if hit and hit[2] == mtime:
                return hit[0], hit[1]
        stored, version = model_store.load(f"recs_{name}")
        with self._lock:
            self._cache[name] = (stored, version, mtime)
        return stored, version


MODELS = _Models()


def _user_interactions(svc, user: str) -> dict[str, float]:
    """What the lake has loaded for the user (files not posted through the API) plus every interaction
    posted through the API (kept in the store): each counted once."""
    weights: dict[str, float] = {}
    try:
        with svc.platform.reader(masked=False) as con:
            for item, w in con.execute(
                """SELECT item_id, sum(weight) FROM recs.interactions
                   WHERE user_id = ? AND NOT starts_with(source_file, 'api/') GROUP BY 1""",
                [user],
            ).fetchall():
                weights[item] = weights.get(item, 0.0) + w
    except Problem:
        pass
    except Exception as exc:  # no recs tables yet
        if "does not exist" not in str(exc):
            raise
    with svc.engine.connect() as con:
        for item, w in con.execute(
            sa.select(store.interactions.c.item_id, sa.func.sum(store.interactions.c.weight))
            .where(store.interactions.c.user_id == user)
            .group_by(store.interactions.c.item_id)
        ).all():
            weights[item] = weights.get(item, 0.0) + w
    return weights


def recommend_now(svc, user: str, model_name: str, n: int, exclude: bool) -> dict:
    import numpy as np

    from dwc_pipelines.recs.models import rows_for, top_n

    stored, version = MODELS.get(svc.platform.resource("model_store"), model_name)
    if stored is None:
        raise Problem(
            409, "not_trained", f"the {model_name} recommender is not trained yet: POST .../models/{{id}}/train"
        )
    model, data = stored["model"], stored["data"]
    seen = _user_interactions(svc, user)
    rows = rows_for(data, {user: seen})
    idx, scores = top_n(model.score(rows), rows if exclude else None, n)
    items = [
        {"rank": k, "item_id": data.items[i], "score": float(s)}
        for k, (i, s) in enumerate(((i, s) for i, s in zip(idx[0], scores[0]) if np.isfinite(s)), 1)
    ]
    return {
        "user_id": user,
        "model": model_name,
        "model_version": version,
        "interactions": len(seen),
        "new_user": user not in data.user_index,
        "items": items,
    }


def routers():
    r = APIRouter(prefix="/api/v3/recommendations", tags=["recommendations"])

    @r.post("/interactions", response_model=Accepted, status_code=202)
    async def interaction(body: InteractionIn, request: Request, principal: Principal = Depends(require("recs:write"))):
        """An interaction: an event file for the recs assets, and at once part of the user's recommendations."""
        from dwc_pipelines.recs.events import validate
        from dwc_pipelines.recs.models import interaction_weight

        svc = service(request)
        ts = (body.timestamp or datetime.now(UTC)).astimezone(UTC)
        # A rating is the value of a `rating` event; beside another type (a purchase rated 5) it is kept
        # in the record but is not that event's value (a quantity).
        kind = body.interaction_type.lower()
        record = {
            "user_id": body.user_id,
            "item_id": body.item_id,
            "type": kind,
            "value": body.rating if kind == "rating" else None,
            "rating": body.rating,
            "timestamp": ts.isoformat(),
        }
        try:
            event = validate(record, 1)
        except ValueError as exc:
            raise Problem(422, "invalid_request", str(exc)) from exc
        folder = Path(svc.platform.resources["events_folder"].path)
        name = f"api/{ts:%Y-%m-%d}/{time.time_ns()}-{uuid.uuid4().hex[:8]}.jsonl"
        rel = await run_in_threadpool(_drop, folder, name, (json.dumps(record) + "\n").encode())

        def keep():
            with svc.engine.begin() as con:
                con.execute(
                    store.interactions.insert().values(
                        user_id=event.user,
                        item_id=event.item,
                        type=event.type,
                        value=event.value,
                        weight=interaction_weight(event.type, event.value),
                        at=time.time(),
                    )
                )

        await run_in_threadpool(keep)
        return {"accepted": True, "file": rel}

    @r.post("/items/features", response_model=Accepted, status_code=202)
    async def item_features(
        body: ItemFeaturesIn, request: Request, principal: Principal = Depends(require("recs:write"))
    ):
        """Item features as a CSV file in the events folder's items/ (what recs/item_features reads)."""
        svc = service(request)
        buf = io.StringIO()
        cols = ["item_id", "title", *[k for k in body.features if k not in ("item_id", "title")], "content"]
        w = csv.DictWriter(buf, fieldnames=cols)
        w.writeheader()
        w.writerow({"item_id": body.item_id, "title": body.title or "", **body.features, "content": body.content})
        folder = Path(svc.platform.resources["events_folder"].path)
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in body.item_id)[:64]
        rel = await run_in_threadpool(
            _drop, folder, f"items/api-{safe}-{uuid.uuid4().hex[:8]}.csv", buf.getvalue().encode()
        )
        return {"accepted": True, "file": rel}

    @r.post("/models", response_model=Declared, status_code=201)
    async def create_model(body: RecModelIn, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """Declare a recommender: one of the platform's models (user_based_cf is user_knn, ...)."""
        model = ALGORITHMS.get(body.algorithm)
        if model is None:
            raise Problem(
                422, "invalid_request", f"unknown algorithm {body.algorithm!r}: one of {', '.join(ALGORITHMS)}"
            )
        return declare(request, "rec_model", body.model_dump(), principal, model=model)

    @r.post("/models/{model_id}/train", response_model=RunRef, status_code=202)
    async def train(model_id: str, request: Request, principal: Principal = Depends(require("runs:launch"))):
        """Launch recs_full_job: load the events, train every recommender, evaluate, serve."""
        get_declared(request, "rec_model", model_id)
        svc = service(request)
        run = await run_in_threadpool(
            svc.platform.launch, "recs_full_job", {}, {"dwc/api": "recs_train", "dwc/rec_model": model_id}
        )
        svc.objects("rec_model").update_state(model_id, run=run)
        return run

    @r.post("/recommendations", response_model=Recommendations)
    async def recommendations(
        body: RecommendIn, request: Request, principal: Principal = Depends(require("recs:read"))
    ):
        """Top-N for a user now, from the stored model (the champion, hybrid, unless model_id names another)."""
        svc = service(request)
        name = get_declared(request, "rec_model", body.model_id)["model"] if body.model_id else CHAMPION
        return await run_in_threadpool(
            recommend_now, svc, body.user_id, name, body.num_recommendations, body.exclude_interacted
        )

    @r.get("/stats", response_model=Stats)
    async def stats(request: Request, principal: Principal = Depends(require("recs:read"))):
        svc = service(request)
        ms = svc.platform.resource("model_store")
        trained = {}
        for name in sorted(set(ALGORITHMS.values())):
            path = Path(ms.path) / f"recs_{name}.pkl"
            if path.exists():
                trained[name] = datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
        with svc.engine.connect() as con:
            posted = con.execute(sa.select(sa.func.count()).select_from(store.interactions)).scalar_one()
        return {
            "declared_models": svc.objects("rec_model").count(),
            "trained_models": trained,
            "interactions_posted": posted,
            "runs": await run_in_threadpool(runs_by_status, svc.platform, "recs_"),
        }

    return [r]
