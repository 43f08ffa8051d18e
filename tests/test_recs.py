"""Recommendations: event validation, every model on data with a known answer, cold start, fold-in,
metrics by hand, and the assets end to end with incremental refresh."""

import json

import dagster as dg
import numpy as np
import pytest

from dwc_pipelines import enrichment, ingestion, recs
from dwc_pipelines.recs import models as M
from dwc_pipelines.recs.evaluate import ranking_metrics, stratified_split
from dwc_pipelines.recs.events import parse_file
from dwc_sensors.recs import recs_events_sensor

from .test_ingestion import PROSE


def test_event_files_are_validated_row_by_row(tmp_path):
    good = {"user": "u1", "item": "a.txt", "type": "view", "value": 1, "timestamp": "2024-05-01T10:00:00Z"}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps([1, 2]),
        json.dumps({**good, "type": "teleport"}),
        json.dumps({**good, "user": ""}),
        json.dumps({**good, "type": "rating", "value": 9}),
        json.dumps({**good, "timestamp": "soon"}),
        json.dumps({**good, "timestamp": 1714557600}),
        json.dumps({**good, "value": "lots"}),
        "",
        json.dumps({k: v for k, v in good.items() if k != "timestamp"}),
    ]
    (tmp_path / "e.jsonl").write_text("\n".join(lines) + "\n")
    events, bad = parse_file(str(tmp_path / "e.jsonl"))
    assert [(e.user, e.type, e.line) for e in events] == [("u1", "view", 1), ("u1", "view", 8)]
    reasons = {b.line: b.reason for b in bad}
    assert reasons[2].startswith("not JSON") and reasons[3] == "not a JSON object"
    assert "unknown type 'teleport'" in reasons[4] and reasons[5] == "missing user"
    assert "not between 0 and 5" in reasons[6] and "bad timestamp 'soon'" in reasons[7]
    assert "not a number" in reasons[9] and reasons[11] == "missing timestamp"
    (tmp_path / "empty.csv").write_text("")
    assert parse_file(str(tmp_path / "empty.csv"))[1][0].reason.startswith("CSV needs")
    (tmp_path / "latin.csv").write_bytes(
        "user,item,type,value,timestamp\nj\xf6rg,a,view,1,2024-01-01\n".encode("latin-1")
    )
    assert parse_file(str(tmp_path / "latin.csv"))[1][0].reason.startswith("not UTF-8")
    (tmp_path / "x.xml").write_text("<e/>")
    assert "unsupported" in parse_file(str(tmp_path / "x.xml"))[1][0].reason


def two_tribes(users_per_tribe: int = 12, items_per_tribe: int = 10, seed: int = 0):
    """Users of tribe A read A-items, tribe B reads B-items; one B-like item nobody has read yet."""
    rng = np.random.default_rng(seed)
    rows = []
    for tribe in "AB":
        for u in range(users_per_tribe):
            for i in rng.choice(items_per_tribe, 6, replace=False):
                rows.append((f"{tribe}-user{u}", f"{tribe}-item{i}", "view", 1, 1_700_000_000 + u))
    text = {
        f"{t}-item{i}": f"{'harbour ship cargo port' if t == 'A' else 'guitar concert music band'} {i}"
        for t in "AB"
        for i in range(items_per_tribe)
    }
    text["B-new"] = "guitar concert music band new"
    return M.build_dataset(rows, text)


@pytest.mark.parametrize("name", ["user_knn", "item_knn", "als", "ease", "content", "hybrid", "explicit_mf"])
def test_models_recommend_within_the_tribe_and_fold_in_new_users(name):
    data = two_tribes()
    model = M.all_models()[name].fit(data)
    newcomer = M.rows_for(data, {"new": {"A-item0": 1.0, "A-item1": 1.0, "A-item2": 1.0, "A-item3": 1.0}})
    idx, _ = M.top_n(model.score(newcomer), newcomer, 3)
    picked = [data.items[i] for i in idx[0]]
    if name == "explicit_mf":  # no ratings: it still ranks, from the implicit weights
        assert len(picked) == 3
        return
    assert all(p.startswith("A-") for p in picked), (name, picked)
    assert not {"A-item0", "A-item1", "A-item2", "A-item3"} & set(picked), "seen items are excluded"


def test_cold_start_users_and_new_items():
    data = two_tribes()
    models = M.all_models()
    hybrid = models["hybrid"].fit(data)
    popular = models["popularity"].fit(data)
    nobody = M.rows_for(data, {"nobody": {}})
    idx, _ = M.top_n(hybrid.score(nobody), nobody, 5)
    pidx, _ = M.top_n(popular.score(nobody), nobody, 5)
    assert set(idx[0]) == set(pidx[0]) or len(set(idx[0]) & set(pidx[0])) >= 3, "a new user gets popular items"
    fan = M.rows_for(data, {"fan": {"B-item0": 1.0}})
    idx, _ = M.top_n(models["content"].score(fan), fan, 12)
    assert data.item_index["B-new"] in idx[0], "an item nobody has read reaches users through its content"
    hidx, _ = M.top_n(hybrid.score(fan), fan, 10)
    assert all(data.items[i].startswith("B-") for i in hidx[0][:5]), "one interaction is enough to lean on content"


def test_split_and_metrics_by_hand():
    data = two_tribes()
    train, test = stratified_split(data, seed=1)
    assert train.weights.nnz + test.nnz == data.weights.nnz
    again, test2 = stratified_split(data, seed=1)
    assert (test != test2).nnz == 0, "the split is fixed by its seed"
    import scipy.sparse as sp

    truth = sp.csr_matrix(np.array([[1, 0, 1, 0, 0], [0, 1, 0, 0, 0]], dtype=float))
    recommended = np.array([[0, 1, 2], [3, 4, 1]])
    m = ranking_metrics(recommended, truth, np.array([0, 1]), 5, k=3)
    assert m["precision_at_3"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["recall_at_3"] == pytest.approx((1 + 1) / 2)
    dcg0 = 1 + 1 / np.log2(4)
    ideal0 = 1 + 1 / np.log2(3)
    assert m["ndcg_at_3"] == pytest.approx((dcg0 / ideal0 + (1 / np.log2(4)) / 1) / 2)
    assert m["map_at_3"] == pytest.approx(((1 + 2 / 3) / 2 + (1 / 3) / 1) / 2)
    assert m["coverage"] == pytest.approx(5 / 5)


def events(user_items: dict[str, list[str]], day: int = 1) -> str:
    return "".join(
        json.dumps({"user": u, "item": i, "type": "view", "value": 1, "timestamp": f"2024-05-{day:02d}T10:00:00Z"})
        + "\n"
        for u, items in user_items.items()
        for i in items
    )


def test_assets_end_to_end_with_incremental_refresh(env, instance):
    for i in range(6):
        env.write(f"ships/s{i}.txt", f"The harbour ship {i} moved cargo at the port terminal. " + PROSE)
        env.write(f"music/m{i}.txt", f"The band {i} played guitar at the concert hall. " + PROSE)
    events_dir = env.root / "events"
    events_dir.mkdir()
    (events_dir / "log.jsonl").write_text(
        events(
            {
                **{f"sailor{u}": [f"ships/s{(u + k) % 6}.txt" for k in range(3)] for u in range(5)},
                **{f"fan{u}": [f"music/m{(u + k) % 6}.txt" for k in range(3)] for u in range(5)},
                "newbie": ["music/m0.txt"],
            }
        )
    )
    (events_dir / "export.csv").write_text("user,item,type,value,timestamp\nx,,view,1,2024-05-01\n")
    env.configure_folder("events", str(events_dir))
    defs = dg.Definitions.merge(ingestion.defs, enrichment.defs, recs.defs, dg.Definitions(resources=env.resources()))
    assert env.run_ingest(instance).success
    enrich = dg.define_asset_job("enrich", selection=dg.AssetSelection.assets(["ai", "document_enrichment"]))
    assert (
        dg.Definitions.merge(defs, dg.Definitions(jobs=[enrich]))
        .resolve_job_def("enrich")
        .execute_in_process(instance=instance)
        .success
    )
    full = defs.resolve_job_def("recs_full_job").execute_in_process(instance=instance)
    assert full.success
    assert env.query("SELECT count(*), count(DISTINCT user_id) FROM recs.interactions") == [(31, 11)]
    assert env.query("SELECT reason FROM recs.interactions_quarantine") == [("missing item",)]
    items = env.query(
        "SELECT count(DISTINCT item_id) FROM recs.interactions i JOIN docs.documents d ON d.doc_id = i.item_id"
    )
    assert items == [(12,)], "items named by landing path become doc_ids"
    recs_of = lambda user, model="hybrid": env.query(  # noqa: E731
        """SELECT d.source_path FROM recs.recommendations r JOIN docs.documents d ON d.doc_id = r.item_id
           WHERE r.user_id = ? AND r.model = ? ORDER BY r.rank""",
        [user, model],
    )
    sailor = [p for (p,) in recs_of("sailor0")]
    assert sailor[:3] and all(p.startswith("ships/") for p in sailor[:3])
    assert not {"ships/s0.txt", "ships/s1.txt", "ships/s2.txt"} & set(sailor), "seen items are excluded"
    assert all(p.startswith("music/") for (p,) in recs_of("newbie")[:3]), "a one-event user leans on content"
    assert len(recs_of("*", "popularity")) == 10 and len(recs_of("*")) >= 5, "new users get recommendations too"
    assert env.query("SELECT count(*) > 0 FROM recs.similar_items WHERE model = 'content'") == [(True,)]
    assert env.query("SELECT count(embedding) FROM recs.item_features") == [(12,)], "items carry their embeddings"
    best = env.query("SELECT model FROM recs.evaluation ORDER BY ndcg_at_10 DESC LIMIT 1")
    assert best and env.query("SELECT count(DISTINCT model) FROM recs.evaluation") == [(9,)]

    # New events for one user: the incremental job refreshes that user only, without retraining.
    before = dict(
        env.query("SELECT user_id, max(generated_at) FROM recs.recommendations WHERE model = 'ease' GROUP BY 1")
    )
    (events_dir / "more.jsonl").write_text(events({"fan0": ["music/m4.txt", "music/m5.txt"]}, day=2))
    sensor_ctx = dg.build_sensor_context(
        instance=instance, resources={"events_folder": env.resources()["events_folder"]}
    )
    request = recs_events_sensor(sensor_ctx)
    assert request.run_requests[0].run_key.startswith("events-")
    assert recs_events_sensor(
        dg.build_sensor_context(
            instance=instance, cursor=request.cursor, resources={"events_folder": env.resources()["events_folder"]}
        )
    ).skip_message
    inc = defs.resolve_job_def("recs_incremental_job").execute_in_process(instance=instance)
    assert inc.success
    assert not any(e.asset_key.path[:2] == ["recs", "models"] for e in inc.all_events if e.is_step_materialization)
    meta = {
        e.asset_key.to_user_string(): e.step_materialization_data.materialization.metadata
        for e in inc.all_events
        if e.is_step_materialization
    }["recs/recommendations"]
    assert meta["refreshed/ease"].value == 1 and meta["refreshed/hybrid"].value == 1
    after = dict(
        env.query("SELECT user_id, max(generated_at) FROM recs.recommendations WHERE model = 'ease' GROUP BY 1")
    )
    assert [u for u in after if after[u] != before[u]] == ["fan0"]
    assert "music/m5.txt" not in [p for (p,) in recs_of("fan0", "ease")], "the new interaction counts at once"


def test_content_uses_embeddings_where_items_have_them():
    rows = [("u", "a", "view", 1, 0), ("v", "b", "view", 1, 0)]
    vectors = {"a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.9, 0.1, 0.0], "d": [0.0, 0.2, 0.9]}
    data = M.build_dataset(rows, {}, item_vectors=vectors)  # no text at all: only embeddings
    model = M.ContentBased().fit(data)
    row = M.rows_for(data, {"u": {"a": 1.0}})
    idx, _ = M.top_n(model.score(row), row, 1)
    assert data.items[idx[0][0]] == "c", "the item whose embedding is closest to what the user read"
