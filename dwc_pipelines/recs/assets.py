"""Recommendations as assets: interactions from an events landing, item features, one asset per
model, the served recommendations (refreshed per affected user), similar items, and an offline
evaluation of every model side by side."""

import hashlib
from datetime import UTC, datetime, timedelta

import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.duck import transaction
from dwc_resources.landing import DropFolderResource
from dwc_resources.model_store import ModelStoreResource

from ..automation import eager
from ..enrichment.assets import DOCUMENT_ENRICHMENT
from ..enrichment.schema import DDL as AI_DDL
from ..ingestion.assets import DOCUMENTS, OWNERS
from ..ingestion.schema import DDL as DOCS_DDL
from ..plots import png_chart
from ..shared import markdown_table
from . import models as recmodels
from .evaluate import evaluate, stratified_split
from .schema import DDL
from .store import build_item_features, dataset, load_events, recommend, user_rows

INTERACTIONS = dg.AssetKey(["recs", "interactions"])
QUARANTINE = dg.AssetKey(["recs", "interactions_quarantine"])
ITEM_FEATURES = dg.AssetKey(["recs", "item_features"])
RECOMMENDATIONS = dg.AssetKey(["recs", "recommendations"])
SIMILAR_ITEMS = dg.AssetKey(["recs", "similar_items"])
EVALUATION = dg.AssetKey(["recs", "evaluation"])
BASE_MODELS = ["popularity", "popularity_recent", "user_knn", "item_knn", "als", "explicit_mf", "content", "ease"]
HYBRID_PARTS = recmodels.HYBRID_WEIGHTS
ALL_MODELS = BASE_MODELS + ["hybrid"]
ANONYMOUS = "*"
FULL_DDL = f"{DOCS_DDL};{AI_DDL};{DDL}"


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["recs", "models", name])


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _catalogue_digest(data: recmodels.Dataset) -> str:
    return hashlib.sha256("\n".join(data.items).encode()).hexdigest()[:16]


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            INTERACTIONS,
            deps=[DOCUMENTS],
            description="User-item interactions from the events landing.",
            kinds={"duckdb"},
            owners=OWNERS,
        ),
        dg.AssetSpec(
            QUARANTINE,
            description="Event rows that failed validation, with the reason.",
            kinds={"duckdb"},
            owners=OWNERS,
        ),
    ],
    group_name="recs",
)
def interactions(context: dg.AssetExecutionContext, warehouse: LakehouseResource, events_folder: DropFolderResource):
    """Load new and changed event files (JSON lines or CSV); bad rows are quarantined, never fatal."""
    root = events_folder.path
    with warehouse.writer(FULL_DDL) as con:
        stats = load_events(con, root, context.run.run_id, log=context.log.info)
        total, users, items = con.execute(
            "SELECT count(*), count(DISTINCT user_id), count(DISTINCT item_id) FROM recs.interactions"
        ).fetchall()[0]
        by_type = con.execute("SELECT type, count(*) FROM recs.interactions GROUP BY 1 ORDER BY 2 DESC").fetchall()
        reasons = con.execute("""SELECT source_file, line, reason FROM recs.interactions_quarantine
                                 ORDER BY source_file, line LIMIT 20""").fetchall()
        quarantined = con.execute("SELECT count(*) FROM recs.interactions_quarantine").fetchall()[0][0]
    yield dg.MaterializeResult(
        asset_key=INTERACTIONS,
        metadata={
            "dagster/row_count": total,
            "users": users,
            "items": items,
            **stats,
            "events_path": root,
            "by_type": dg.MetadataValue.md(markdown_table(["type", "events"], by_type)),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": quarantined,
            "rows": dg.MetadataValue.md(markdown_table(["file", "line", "reason"], reasons)),
        },
    )


@dg.asset(
    key=ITEM_FEATURES,
    deps=[DOCUMENTS, DOCUMENT_ENRICHMENT],
    group_name="recs",
    kinds={"duckdb"},
    owners=OWNERS,
    automation_condition=eager(),
)
def item_features(warehouse: LakehouseResource, events_folder: DropFolderResource) -> dg.MaterializeResult:
    """Items with their text and topic: every current document, and the rows of any item-features file."""
    with warehouse.writer(FULL_DDL) as con:
        stats = build_item_features(con, events_folder.path)
    return dg.MaterializeResult(metadata={"dagster/row_count": stats["items"], "feature_files": stats["feature_files"]})


def _model_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=model_key(name),
        deps=[INTERACTIONS, ITEM_FEATURES],
        group_name="recs",
        kinds={"python", "numpy"},
        owners=OWNERS,
        description=f"The `{name}` recommender, trained on every interaction.",
    )
    def _train(context: dg.AssetExecutionContext, warehouse: LakehouseResource, model_store: ModelStoreResource):
        with warehouse.reader() as con:
            data = dataset(con)
        if not data.users:
            raise dg.Failure(
                "no interactions yet: drop event files into the events folder and materialise recs/interactions"
            )
        model = recmodels.all_models()[name].fit(data)
        model_store.save(
            f"recs_{name}", {"model": model, "data": data}, context.run.run_id, catalogue=_catalogue_digest(data)
        )
        context.log.info(f"{name}: trained on {data.weights.nnz:,} user-item pairs in {model.fit_seconds:.2f}s")
        return dg.MaterializeResult(
            metadata={
                "users": len(data.users),
                "items": len(data.items),
                "pairs": int(data.weights.nnz),
                "fit_s": round(model.fit_seconds, 3),
                "catalogue": _catalogue_digest(data),
            }
        )

    return _train


@dg.asset(
    key=model_key("hybrid"),
    deps=[model_key(n) for n in HYBRID_PARTS],
    group_name="recs",
    kinds={"python", "numpy"},
    owners=OWNERS,
)
def hybrid_model(context: dg.AssetExecutionContext, model_store: ModelStoreResource) -> dg.MaterializeResult:
    """A blend of EASE, item-kNN, ALS, content and popularity; cold-start users get content and popularity."""
    parts, catalogues, data = {}, set(), None
    for name, weight in HYBRID_PARTS.items():
        stored, _ = model_store.load(f"recs_{name}")
        if stored is None:
            raise dg.Failure(f"model {name} is not trained: materialise {model_key(name).to_user_string()}")
        parts[name] = (stored["model"], weight)
        data = stored["data"]
        catalogues.add(_catalogue_digest(data))
    if len(catalogues) > 1:
        raise dg.Failure(
            "the hybrid's parts were trained on different catalogues: run recs_full_job to train them together"
        )
    model = recmodels.Hybrid(parts).fit(data)
    model_store.save("recs_hybrid", {"model": model, "data": data}, context.run.run_id, catalogue=catalogues.pop())
    return dg.MaterializeResult(
        metadata={"parts": ", ".join(f"{k} {w}" for k, w in HYBRID_PARTS.items()), "items": len(data.items)}
    )


class RecommendationsConfig(dg.Config):
    n: int = Field(default=10, description="Recommendations per user and model")
    exclude_seen: bool = Field(default=True, description="Leave out items the user already interacted with")
    models: list[str] = Field(default_factory=lambda: list(ALL_MODELS), description="Models to serve")


@dg.asset(
    key=RECOMMENDATIONS,
    deps=[INTERACTIONS, *[model_key(n) for n in ALL_MODELS]],
    group_name="recs",
    kinds={"duckdb"},
    owners=OWNERS,
    freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=48), warn_window=timedelta(hours=24)),
)
def recommendations(
    context: dg.AssetExecutionContext,
    config: RecommendationsConfig,
    warehouse: LakehouseResource,
    model_store: ModelStoreResource,
) -> dg.MaterializeResult:
    """Top-N per user and model. Only users with new interactions are refreshed (fold-in with the
    stored models), unless a model was retrained, which refreshes every user for it."""
    refreshed, now = {}, _now()
    with warehouse.writer(FULL_DDL) as con:
        # ANONYMOUS stands for a visitor with no history: what the models offer a brand-new user.
        all_users = [u for (u,) in con.execute("SELECT DISTINCT user_id FROM recs.interactions ORDER BY 1").fetchall()]
        all_users.append(ANONYMOUS)
        for name in config.models:
            stored, version = model_store.load(f"recs_{name}")
            if stored is None:
                context.log.warning(f"model {name} is not trained yet; skipped")
                continue
            served = con.execute(
                "SELECT DISTINCT model_version FROM recs.recommendations WHERE model = ?", [name]
            ).fetchall()
            if served != [(version,)]:
                users = all_users
            else:
                users = [
                    u
                    for (u,) in con.execute(
                        """
                    SELECT i.user_id FROM recs.interactions i
                    LEFT JOIN (SELECT user_id, max(generated_at) AS at FROM recs.recommendations WHERE model = ?
                               GROUP BY 1) r USING (user_id)
                    GROUP BY i.user_id, r.at HAVING r.at IS NULL OR max(i.loaded_at) > r.at ORDER BY 1""",
                        [name],
                    ).fetchall()
                ]
                if not con.execute(
                    "SELECT 1 FROM recs.recommendations WHERE model = ? AND user_id = ?", [name, ANONYMOUS]
                ).fetchall():
                    users.append(ANONYMOUS)
            if not users:
                refreshed[name] = 0
                continue
            rows = recommend(stored["model"], stored["data"], user_rows(con, users), config.n, config.exclude_seen)
            with transaction(con):
                con.execute(
                    "DELETE FROM recs.recommendations WHERE model = ? AND user_id IN (SELECT unnest(?::VARCHAR[]))",
                    [name, users],
                )
                con.executemany(
                    "INSERT INTO recs.recommendations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [(u, i, r, s, name, version, now, context.run.run_id) for u, i, r, s in rows],
                )
            refreshed[name] = len(users)
            context.log.info(f"{name}: recommendations refreshed for {len(users)} users")
        total = con.execute("SELECT count(*) FROM recs.recommendations").fetchall()[0][0]
        # Catalogue coverage: the share of items some user is offered; user coverage: the share of users served.
        coverage = con.execute(
            """SELECT model,
                      count(DISTINCT item_id) / nullif((SELECT count(DISTINCT item_id) FROM recs.item_features), 0),
                      count(DISTINCT user_id) FILTER (user_id <> ?)
                        / nullif((SELECT count(DISTINCT user_id) FROM recs.interactions), 0)
               FROM recs.recommendations GROUP BY 1 ORDER BY 1""",
            [ANONYMOUS],
        ).fetchall()
        sample = con.execute("""SELECT r.user_id, r.rank, coalesce(d.title, r.item_id), round(r.score, 3)
                                FROM recs.recommendations r LEFT JOIN docs.documents d
                                  ON d.doc_id = r.item_id AND d.is_current
                                WHERE r.model = 'hybrid' ORDER BY r.user_id, r.rank LIMIT 10""").fetchall()
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": total,
            "users": len(all_users) - 1,
            "users_refreshed": sum(refreshed.values()),
            **{f"refreshed/{k}": v for k, v in refreshed.items()},
            "sample (hybrid)": dg.MetadataValue.md(markdown_table(["user", "rank", "item", "score"], sample)),
            "coverage": dg.MetadataValue.md(
                markdown_table(
                    ["model", "catalogue coverage", "user coverage"],
                    [(m, f"{c or 0:.3f}", f"{u or 0:.3f}") for m, c, u in coverage],
                )
            ),
            "coverage_chart": dg.MetadataValue.md(
                png_chart(
                    {
                        "catalogue": [(m, c or 0.0) for m, c, _ in coverage],
                        "users": [(m, u or 0.0) for m, _, u in coverage],
                    },
                    "Served recommendations: share of the catalogue and of users covered",
                    "share",
                    kind="bar",
                )
                if coverage
                else "no recommendations yet"
            ),
        }
    )


@dg.asset(
    key=SIMILAR_ITEMS,
    deps=[model_key("item_knn"), model_key("content")],
    group_name="recs",
    kinds={"duckdb"},
    owners=OWNERS,
)
def similar_items(warehouse: LakehouseResource, model_store: ModelStoreResource) -> dg.MaterializeResult:
    """The 10 most similar items per item: by co-interaction (item_knn) and by content."""
    now, rows = _now(), []
    for name in ("item_knn", "content"):
        stored, _ = model_store.load(f"recs_{name}")
        if stored is None:
            continue
        items = stored["data"].items
        ranked: dict[int, int] = {}
        for i, j, score in stored["model"].similar(10):
            ranked[i] = ranked.get(i, 0) + 1
            rows.append((items[i], items[j], ranked[i], score, name, now))
    with warehouse.writer(FULL_DDL) as con, transaction(con):
        con.execute("DELETE FROM recs.similar_items")
        if rows:
            con.executemany("INSERT INTO recs.similar_items VALUES (?, ?, ?, ?, ?, ?)", rows)
    return dg.MaterializeResult(metadata={"dagster/row_count": len(rows)})


class EvaluationConfig(dg.Config):
    seed: int = Field(default=42, description="Seed of the per-user stratified 75/25 split")
    k: int = 10


@dg.asset(
    key=EVALUATION, deps=[INTERACTIONS, ITEM_FEATURES], group_name="recs", kinds={"duckdb", "numpy"}, owners=OWNERS
)
def evaluation(
    context: dg.AssetExecutionContext, config: EvaluationConfig, warehouse: LakehouseResource
) -> dg.MaterializeResult:
    """Every model on a held-out split (per-user stratified 75/25, seeded): precision, recall, nDCG, MAP at 10, coverage."""
    with warehouse.reader() as con:
        data = dataset(con)
    if not data.users:
        raise dg.Failure("no interactions to evaluate")
    train, test = stratified_split(data, seed=config.seed)
    results = {}
    for name, model in recmodels.all_models().items():
        results[name] = evaluate(model, train, test, config.k)
        context.log.info(f"{name}: nDCG@{config.k} {results[name][f'ndcg_at_{config.k}']:.4f}")
    now, k = _now(), config.k
    with warehouse.writer(FULL_DDL) as con:
        con.executemany(
            "INSERT INTO recs.evaluation VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    name,
                    r[f"precision_at_{k}"],
                    r[f"recall_at_{k}"],
                    r[f"ndcg_at_{k}"],
                    r[f"map_at_{k}"],
                    r["coverage"],
                    r["users"],
                    r["fit_s"],
                    r["ms_per_user"],
                    config.seed,
                    now,
                    context.run.run_id,
                )
                for name, r in results.items()
            ],
        )
        rows = con.execute("SELECT count(*) FROM recs.evaluation").fetchall()[0][0]
    best = max(results, key=lambda n: results[n][f"ndcg_at_{k}"])
    table = [
        (
            n,
            *(
                f"{r[m]:.4f}"
                for m in (f"precision_at_{k}", f"recall_at_{k}", f"ndcg_at_{k}", f"map_at_{k}", "coverage")
            ),
        )
        for n, r in sorted(results.items(), key=lambda kv: -kv[1][f"ndcg_at_{k}"])
    ]
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "best_model": best,
            f"best_ndcg_at_{k}": results[best][f"ndcg_at_{k}"],
            "test_users": results[best]["users"],
            "models": dg.MetadataValue.md(
                markdown_table(["model", "P@10", "R@10", "nDCG@10", "MAP@10", "coverage"], table)
            ),
            "chart": dg.MetadataValue.md(
                png_chart(
                    {
                        "nDCG@10": [(n, r[f"ndcg_at_{k}"]) for n, r in results.items()],
                        "P@10": [(n, r[f"precision_at_{k}"]) for n, r in results.items()],
                    },
                    "Models on the held-out split",
                    "score",
                    kind="bar",
                )
            ),
        }
    )


model_assets = [_model_asset(n) for n in BASE_MODELS] + [hybrid_model]
