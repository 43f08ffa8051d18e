"""The document classifier against MLflow's real local store (SQLite backend, local artifacts):
selection by cross-validation, registration, champion/challenger enforced by a blocking check,
and predictions carrying the model version."""

import random

import dagster as dg
import pandas as pd
import pytest

from dwc_pipelines import ml
from dwc_pipelines.ml import assets as ml_assets
from dwc_pipelines.ml import classifier
from dwc_resources.tracking import TrackingResource

VOCAB = {
    "contract": "agreement party parties term terminate liability governing law clause warranty signed renewal obligations",
    "invoice": "invoice amount due total vat subtotal payment terms iban quantity unit price receipt paid",
    "news": "officials announced city council residents minister public project critics opened spokesperson",
}
FILLER = "the a of and to in with for on this that it was will be".split()


def texts(label: str, n: int, seed: int) -> list[str]:
    rnd = random.Random(f"{label}{seed}")
    words = VOCAB[label].split()
    return [" ".join(rnd.choice(words if rnd.random() < 0.5 else FILLER) for _ in range(80)) for _ in range(n)]


def test_split_is_stable_and_selection_picks_by_cross_validation():
    data = pd.DataFrame(
        [
            {"text_id": f"{label}:{i}", "text": t, "label": label}
            for label in VOCAB
            for i, t in enumerate(texts(label, 20, 1))
        ]
    )
    train, held = classifier.split(data)
    again_train, again_held = classifier.split(data.sample(frac=1, random_state=3))
    assert set(held["text_id"]) == set(again_held["text_id"]) and 0 < len(held) < len(data) / 2
    assert classifier.digest(held) == classifier.digest(again_held)
    sel = classifier.select_model(train, folds=3, log=lambda *_: None)
    assert set(sel.cv_scores) == set(classifier.candidates()) and sel.cv_scores[sel.name] == max(sel.cv_scores.values())
    assert classifier.evaluate(sel.model, held)["accuracy"] == 1.0
    labels, conf = classifier.predict_with_confidence(sel.model, texts("invoice", 2, 9))
    assert labels == ["invoice", "invoice"] and all(0 < c <= 1 for c in conf)


@pytest.fixture
def ml_env(env, tmp_path):
    tracking = TrackingResource(
        tracking_uri=f"sqlite:///{tmp_path}/mlflow/mlflow.db", artifact_location=f"file://{tmp_path}/mlflow/artifacts"
    )
    labels_dir = tmp_path / "labels"
    labels_dir.mkdir()
    env.configure_folder("labels", str(labels_dir))
    rows = ["source_path,label"]
    for label in VOCAB:
        for i, t in enumerate(texts(label, 12, 2)):
            env.write(f"{label}/{i}.txt", t)
            rows.append(f"{label}/{i}.txt,{label}")
    (labels_dir / "kinds.csv").write_text("\n".join(rows + ["missing/file.txt,news"]) + "\n")
    (labels_dir / "broken.csv").write_text("path,kind\nx,y\n")
    return env, tracking


def run_ml(env, tracking, instance, selection=None, config=None):
    defs = dg.Definitions.merge(
        ml.defs,
        dg.Definitions(resources={**env.resources(), "tracking": tracking}),
    )
    job = defs.resolve_job_def("ml_classifier_job")
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config=config or {},
        asset_selection=[dg.AssetKey.from_user_string(k) for k in selection] if selection else None,
    )


def materializations(result) -> dict:
    return {
        ev.asset_key.to_user_string(): {
            k: v.value for k, v in ev.step_materialization_data.materialization.metadata.items()
        }
        for ev in result.all_events
        if ev.is_step_materialization
    }


def test_training_is_tracked_registered_and_promoted(ml_env, instance):
    env, tracking = ml_env
    assert env.run_ingest(instance).success
    result = run_ml(env, tracking, instance)
    assert result.success
    meta = materializations(result)
    assert meta["ml/labelled_texts"]["dagster/row_count"] == 36
    assert meta["ml/labelled_texts"]["unmatched_labels"] == 1 and meta["ml/labelled_texts"]["label_problems"] == 1
    trained = meta["ml/document_classifier"]
    assert trained["model_version"] == "1" and trained["held_out_accuracy"] == 1.0
    assert meta["ml/classifier_champion"]["decision"] == "promoted"
    assert meta["ml/document_predictions"]["predicted"] == 36

    client = tracking.client()
    run = client.get_run(trained["mlflow_run_id"])
    assert run.info.status == "FINISHED" and run.data.tags["dagster/run_id"] == result.run_id
    assert run.data.params["pipeline"] == trained["pipeline"] and "held_out_accuracy" in run.data.metrics
    assert any(k.startswith("cv_accuracy__") for k in run.data.metrics)
    version = client.get_model_version(ml_assets.MODEL_NAME, "1")
    assert version.run_id == run.info.run_id
    from mlflow.models import get_model_info

    info = get_model_info(f"models:/{ml_assets.MODEL_NAME}/1")
    assert info.signature.inputs.input_names() == ["text"] and info.saved_input_example_info is not None
    assert str(client.get_model_version_by_alias(ml_assets.MODEL_NAME, "champion").version) == "1"

    rows = env.query("""SELECT p.label, d.source_path, p.model_version FROM ml.document_predictions p
                        JOIN docs.documents d USING (doc_id, version)""")
    assert len(rows) == 36 and all(src.split("/")[0] == label and v == "1" for label, src, v in rows)

    # A second training of equal quality does not displace the champion, and the decision is recorded.
    again = materializations(run_ml(env, tracking, instance))
    assert again["ml/document_classifier"]["model_version"] == "2"
    assert again["ml/classifier_champion"]["decision"] == "kept_champion"
    decisions = env.query(
        "SELECT challenger_version, champion_version, decision FROM ml.model_decisions ORDER BY decided_at"
    )
    assert decisions == [("1", None, "promoted"), ("2", "1", "kept_champion")]


def test_a_worse_champion_is_caught_by_the_blocking_check(ml_env, instance):
    """Register a model that ignores its input; the decision keeps it out, and if someone moves
    the alias by hand, the blocking check stops predictions from using it."""
    from sklearn.compose import ColumnTransformer
    from sklearn.dummy import DummyClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import Pipeline

    env, tracking = ml_env
    assert env.run_ingest(instance).success
    assert run_ml(env, tracking, instance).success
    data = pd.DataFrame({"text": ["alpha beta", "gamma delta"], "label": ["news", "news"]})
    dummy = Pipeline(
        [
            ("features", ColumnTransformer([("t", TfidfVectorizer(), "text")])),
            ("model", DummyClassifier(strategy="most_frequent")),
        ]
    ).fit(data[["text"]], data["label"])
    with tracking.training(ml_assets.EXPERIMENT, "manual") as run:
        tracking.log_sklearn_model(
            run, dummy, data[["text"]], dummy.predict(data[["text"]]), register_as=ml_assets.MODEL_NAME
        )
    assert run.model_version == "2"
    with env.warehouse.writer(ml_assets.DDL) as con:
        con.execute(
            """INSERT INTO ml.trainings SELECT model_name, '2', ?, 'dummy', 0, 0, 0, held_out_digest, n_train,
                       n_held_out, label_distribution, now()::TIMESTAMP, 'manual' FROM ml.trainings LIMIT 1""",
            [run.run_id],
        )
    decided = materializations(run_ml(env, tracking, instance, selection=["ml/classifier_champion"]))
    assert decided["ml/classifier_champion"]["decision"] == "kept_champion"
    assert tracking.alias_version(ml_assets.MODEL_NAME, "champion") == "1"

    tracking.set_alias(ml_assets.MODEL_NAME, "champion", "2")  # a hand-made mistake
    env.write("news/extra.txt", texts("news", 1, 7)[0])
    assert env.run_ingest(instance).success
    result = run_ml(env, tracking, instance, selection=["ml/classifier_champion", "ml/document_predictions"])
    checks = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert checks and not checks[-1].passed
    assert "ml/document_predictions" not in materializations(result), "predictions never use a worse champion"


def test_psi_and_label_growth():
    from dwc_pipelines.ml.drift import labels_grew, psi

    assert psi({"a": 50, "b": 50}, {"a": 5, "b": 5}) == pytest.approx(0.0)
    assert psi({"a": 50, "b": 50}, {"a": 90, "b": 10}) > 0.25 > psi({"a": 50, "b": 50}, {"a": 55, "b": 45})
    assert labels_grew(100, 120, 0.2) and not labels_grew(100, 119, 0.2) and not labels_grew(3, 6, 0.2)


def test_retrain_sensor_fires_on_label_growth_and_on_drift(ml_env, instance):
    from dwc_sensors.ml import ml_retrain_sensor

    env, tracking = ml_env
    assert env.run_ingest(instance).success
    assert run_ml(env, tracking, instance).success

    def tick(cursor):
        ctx = dg.build_sensor_context(
            instance=instance,
            cursor=cursor,
            resources={"labels_folder": env.resources()["labels_folder"], "warehouse": env.warehouse},
        )
        return ml_retrain_sensor(ctx)

    first = tick(None)
    assert not first.run_requests, "the first look only sets the baseline"
    assert tick(first.cursor).run_requests == [], "nothing changed"
    labels = env.folders["labels"]
    extra = "\n".join(f"news/{i}.txt,news" for i in range(100, 110))
    with open(f"{labels}/more.csv", "w") as fh:
        fh.write("source_path,label\n" + extra + "\n")
    grown = tick(first.cursor)
    assert [r.run_key for r in grown.run_requests] == ["labels-47"]
    assert tick(grown.cursor).run_requests == [], "the same growth never requests twice"

    # Every current document now predicted `news`: far from the balanced labels the champion learnt.
    with env.warehouse.writer(ml_assets.DDL) as con:
        con.execute("UPDATE ml.document_predictions SET label = 'news'")
    drifted = tick(grown.cursor)
    assert [r.run_key for r in drifted.run_requests] == ["drift-v1"]
    assert float(drifted.run_requests[0].tags["dwc/psi"]) > 0.25


def test_labels_can_come_from_a_chain_and_from_a_corpus(ml_env, instance, tmp_path):
    env, tracking = ml_env
    env.write("inbox/unlabelled.txt", texts("invoice", 1, 5)[0])
    assert env.run_ingest(instance).success
    with env.warehouse.writer("CREATE SCHEMA IF NOT EXISTS chains") as con:
        con.execute("""CREATE TABLE chains.triage_kind AS
                       SELECT content_hash, '{"label": "urgent"}'::JSON AS output, 'ok' AS status
                       FROM docs.documents WHERE source_path LIKE 'news/%' OR source_path LIKE 'inbox/%'""")
    corpus = tmp_path / "corpus.csv"
    corpus.write_text("category,text\nsport,the team won the cup\ntech,a new phone was launched\n")
    config = {
        "ops": {
            "ml__labelled_texts": {
                "config": {"chain_labels": ["triage.kind"], "corpus_path": str(corpus), "corpus_name": "mini"}
            }
        }
    }
    result = run_ml(env, tracking, instance, selection=["ml/labelled_texts"], config=config)
    assert result.success
    by_source = dict(env.query("SELECT source, count(*) FROM ml.labelled_texts GROUP BY 1"))
    assert by_source == {"kinds.csv": 36, "chain:triage.kind": 1, "mini": 2}, (
        "a person's label wins over a chain's; the chain labels what nobody did"
    )
