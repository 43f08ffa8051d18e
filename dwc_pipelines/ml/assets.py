"""The document classifier as assets: labelled texts -> a challenger trained and registered in
MLflow -> the champion decision -> predictions for every current document."""

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

from dwc_resources import LakehouseResource
from dwc_resources.landing import DropFolderResource
from dwc_resources.tracking import TrackingResource

from ..ingestion.assets import DOCUMENTS, OWNERS
from ..ingestion.schema import DDL as DOCS_DDL
from ..plots import png_chart
from ..shared import markdown_table
from .labels import chain_label_rows, load_labelled_texts, read_corpus, read_label_files
from .schema import DDL

if TYPE_CHECKING:
    import pandas as pd

LABELLED_TEXTS = dg.AssetKey(["ml", "labelled_texts"])
CLASSIFIER = dg.AssetKey(["ml", "document_classifier"])
CHAMPION = dg.AssetKey(["ml", "classifier_champion"])
PREDICTIONS = dg.AssetKey(["ml", "document_predictions"])
MODEL_NAME = "dwc-document-classifier"
EXPERIMENT = "dwc/document-classifier"
CHAMPION_ALIAS = "champion"


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class LabelsConfig(dg.Config):
    corpus_path: str = Field(
        default="", description="Optional labelled corpus CSV (text + category/label), e.g. bbc-text.csv"
    )
    corpus_name: str = Field(default="corpus", description="Prefix of the corpus texts' ids")
    chain_labels: list[str] = Field(
        default_factory=list, description="Classify steps whose labels join the training set, as <chain>.<step>"
    )


@dg.asset(key=LABELLED_TEXTS, deps=[DOCUMENTS], group_name="ml", kinds={"duckdb", "csv"}, owners=OWNERS)
def labelled_texts(
    context: dg.AssetExecutionContext,
    config: LabelsConfig,
    warehouse: LakehouseResource,
    labels_folder: DropFolderResource,
) -> dg.MaterializeResult:
    """Training texts: current documents labelled in the label files, plus an optional labelled corpus."""
    rows, problems = read_label_files(labels_folder.path)
    for p in problems:
        context.log.warning(f"label file: {p}")
    corpus = read_corpus(config.corpus_path, config.corpus_name) if config.corpus_path else []
    with warehouse.writer(f"{DOCS_DDL};{DDL}") as con:
        rows += chain_label_rows(con, config.chain_labels)
        stats = load_labelled_texts(con, rows, corpus, context.run.run_id)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": stats["labelled_texts"],
            "unmatched_labels": stats["unmatched_labels"],
            "label_problems": len(problems),
            "labels_path": labels_folder.path,
            "by_label": dg.MetadataValue.md(markdown_table(["label", "texts"], stats["by_label"])),
        }
    )


class TrainingConfig(dg.Config):
    folds: int = Field(default=5, description="Cross-validation folds for model selection")
    candidates: list[str] = Field(default_factory=list, description="Restrict the candidate pipelines (default: all)")


@dg.asset(key=CLASSIFIER, deps=[LABELLED_TEXTS], group_name="ml", kinds={"mlflow", "scikitlearn"}, owners=OWNERS)
def document_classifier(
    context: dg.AssetExecutionContext, config: TrainingConfig, warehouse: LakehouseResource, tracking: TrackingResource
) -> dg.MaterializeResult:
    """A challenger classifier: the best of several pipelines by cross-validation, registered in MLflow."""
    from . import classifier  # scikit-learn: loaded by the steps that train and score

    with warehouse.writer(DDL) as con:
        data = con.execute("SELECT text_id, text, label FROM ml.labelled_texts").df()
        if data["label"].nunique() < 2:
            raise dg.Failure(
                f"need texts of at least two labels to train, found {data['label'].nunique()}: "
                "add label files (see README, 'Models') and materialise ml/labelled_texts"
            )
        train, held_out = classifier.split(data)
        held_digest = classifier.digest(held_out)
        with tracking.training(EXPERIMENT, context.run.run_id, tags={"dwc/held_out": held_digest}) as run:
            sel = classifier.select_model(train, config.folds, config.candidates or None, log=context.log.info)
            scores = classifier.evaluate(sel.model, held_out)
            distribution = train["label"].value_counts().sort_index().to_dict()
            tracking.log(
                run,
                params={
                    "pipeline": sel.name,
                    "folds": sel.folds,
                    "n_train": len(train),
                    "n_held_out": len(held_out),
                    "held_out_digest": held_digest,
                    **{f"model__{k}": v for k, v in sel.model.named_steps["model"].get_params().items()},
                },
                metrics={
                    "held_out_accuracy": scores["accuracy"],
                    "held_out_macro_f1": scores["macro_f1"],
                    "selection_seconds": sel.seconds,
                    **{f"cv_accuracy__{k}": v for k, v in sel.cv_scores.items()},
                },
            )
            example = held_out[["text"]].head(3).assign(text=lambda f: f["text"].str.slice(0, 300))
            tracking.log_sklearn_model(run, sel.model, example, sel.model.predict(example), register_as=MODEL_NAME)
        con.execute(
            "INSERT INTO ml.trainings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                MODEL_NAME,
                run.model_version,
                run.run_id,
                sel.name,
                sel.cv_scores[sel.name],
                scores["accuracy"],
                scores["macro_f1"],
                held_digest,
                len(train),
                len(held_out),
                json.dumps(distribution),
                _now(),
                context.run.run_id,
            ],
        )
        history = con.execute(
            """SELECT model_version, held_out_accuracy, held_out_macro_f1 FROM ml.trainings
               WHERE model_name = ? ORDER BY trained_at DESC LIMIT 50""",
            [MODEL_NAME],
        ).fetchall()[::-1]
    context.log.info(
        f"registered {MODEL_NAME} version {run.model_version}: {sel.name}, held-out accuracy {scores['accuracy']:.4f}"
    )
    return dg.MaterializeResult(
        metadata={
            "model_version": run.model_version,
            "pipeline": sel.name,
            "mlflow_run_id": run.run_id,
            "mlflow_run": dg.MetadataValue.url(run.link) if run.link else run.run_id,
            "held_out_accuracy": scores["accuracy"],
            "held_out_macro_f1": scores["macro_f1"],
            "n_train": len(train),
            "n_held_out": len(held_out),
            "held_out_digest": held_digest,
            "metrics_by_version_chart": dg.MetadataValue.md(
                png_chart(
                    {
                        "held-out accuracy": [(int(v), a) for v, a, _ in history],
                        "held-out macro F1": [(int(v), f) for v, _, f in history],
                    },
                    f"{MODEL_NAME}: held-out metrics by registry version",
                    "score",
                )
            ),
            "cross_validation": dg.MetadataValue.md(
                markdown_table(
                    ["pipeline", f"{sel.folds}-fold accuracy"],
                    sorted(((k, f"{v:.4f}") for k, v in sel.cv_scores.items()), key=lambda r: r[1], reverse=True),
                )
            ),
        }
    )


def held_out_set(con) -> "pd.DataFrame":
    from . import classifier

    return classifier.split(con.execute("SELECT text_id, text, label FROM ml.labelled_texts").df())[1]


@dg.asset(key=CHAMPION, deps=[CLASSIFIER], group_name="ml", kinds={"mlflow"}, owners=OWNERS)
def classifier_champion(
    context: dg.AssetExecutionContext, warehouse: LakehouseResource, tracking: TrackingResource
) -> dg.MaterializeResult:
    """The registry alias `champion`: moved to the newest challenger only if it beats the champion on the same held-out set."""
    from . import classifier

    with warehouse.writer(DDL) as con:
        latest = con.execute(
            """SELECT model_version FROM ml.trainings WHERE model_name = ?
                                ORDER BY trained_at DESC LIMIT 1""",
            [MODEL_NAME],
        ).fetchall()
        if not latest:
            raise dg.Failure("no trained challenger: materialise ml/document_classifier first")
        challenger = latest[0][0]
        held_out = held_out_set(con)
        digest = classifier.digest(held_out)
        champion = tracking.alias_version(MODEL_NAME, CHAMPION_ALIAS)
        challenger_acc = classifier.evaluate(tracking.load_model(MODEL_NAME, challenger), held_out)["accuracy"]
        champion_acc = None
        if champion is None:
            decision, reason = "promoted", "there was no champion"
        elif champion == challenger:
            decision, reason = "kept_champion", "the challenger is the champion"
            champion_acc = challenger_acc
        else:
            champion_acc = classifier.evaluate(tracking.load_model(MODEL_NAME, champion), held_out)["accuracy"]
            if challenger_acc > champion_acc:
                decision, reason = "promoted", f"held-out accuracy {challenger_acc:.4f} > {champion_acc:.4f}"
            else:
                decision, reason = "kept_champion", f"held-out accuracy {challenger_acc:.4f} <= {champion_acc:.4f}"
        if decision == "promoted":
            tracking.set_alias(MODEL_NAME, CHAMPION_ALIAS, challenger)
        con.execute(
            "INSERT INTO ml.model_decisions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                MODEL_NAME,
                challenger,
                champion,
                challenger_acc,
                champion_acc,
                digest,
                decision,
                reason,
                _now(),
                context.run.run_id,
            ],
        )
    now_champion = tracking.alias_version(MODEL_NAME, CHAMPION_ALIAS)
    context.log.info(f"version {challenger}: {decision} ({reason}); champion is version {now_champion}")
    return dg.MaterializeResult(
        metadata={
            "decision": decision,
            "reason": reason,
            "champion_version": now_champion,
            "challenger_version": challenger,
            "challenger_accuracy": challenger_acc,
            "previous_champion_accuracy": champion_acc,
            "held_out_digest": digest,
        }
    )


@dg.asset_check(
    asset=CHAMPION,
    blocking=True,
    description="The champion is at least as accurate as every "
    "challenger evaluated on the current held-out set; otherwise predictions must not use it.",
)
def champion_is_best(warehouse: LakehouseResource, tracking: TrackingResource) -> dg.AssetCheckResult:
    from . import classifier

    with warehouse.reader() as con:
        held_out = held_out_set(con)
        digest = classifier.digest(held_out)
        rivals = con.execute(
            """SELECT challenger_version, max(challenger_accuracy) FROM ml.model_decisions
                                WHERE model_name = ? AND held_out_digest = ? GROUP BY 1""",
            [MODEL_NAME, digest],
        ).fetchall()
    champion = tracking.alias_version(MODEL_NAME, CHAMPION_ALIAS)
    if champion is None:
        return dg.AssetCheckResult(passed=False, metadata={"problem": "no model carries the champion alias"})
    accuracy = classifier.evaluate(tracking.load_model(MODEL_NAME, champion), held_out)["accuracy"]
    better = [(v, a) for v, a in rivals if a > accuracy + 1e-12]
    return dg.AssetCheckResult(
        passed=not better,
        metadata={
            "champion_version": champion,
            "champion_accuracy": accuracy,
            "challengers_compared": len(rivals),
            "better_challengers": dg.MetadataValue.md(markdown_table(["version", "accuracy"], better)),
        },
    )


@dg.asset(key=PREDICTIONS, deps=[CHAMPION, DOCUMENTS], group_name="ml", kinds={"duckdb", "scikitlearn"}, owners=OWNERS)
def document_predictions(
    context: dg.AssetExecutionContext, warehouse: LakehouseResource, tracking: TrackingResource
) -> dg.MaterializeResult:
    """The champion's label for every current document, with the model version on each row."""
    from . import classifier

    version = tracking.alias_version(MODEL_NAME, CHAMPION_ALIAS)
    if version is None:
        raise dg.Failure("no champion model yet: materialise ml/classifier_champion first")
    model = tracking.load_model(MODEL_NAME, version)
    with warehouse.writer(f"{DOCS_DDL};{DDL}") as con:
        pending = con.execute(
            """
            SELECT d.doc_id, d.version, d.content_hash, d.text FROM docs.documents d
            WHERE d.is_current AND d.status = 'active' AND NOT EXISTS (
              SELECT 1 FROM ml.document_predictions p WHERE p.doc_id = d.doc_id AND p.version = d.version
                AND p.model_name = ? AND p.model_version = ?)""",
            [MODEL_NAME, version],
        ).fetchall()
        if pending:
            labels, confidence = classifier.predict_with_confidence(model, [r[3] or "" for r in pending])
            now = _now()
            con.executemany(
                "INSERT INTO ml.document_predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (r[0], r[1], r[2], label, conf, MODEL_NAME, version, now, context.run.run_id)
                    for r, label, conf in zip(pending, labels, confidence)
                ],
            )
        counts = con.execute(
            """SELECT p.label, count(*) FROM ml.document_predictions p JOIN docs.documents d
                                  ON d.doc_id = p.doc_id AND d.version = p.version AND d.is_current AND d.status = 'active'
                                WHERE p.model_version = ? GROUP BY 1 ORDER BY 2 DESC, 1""",
            [version],
        ).fetchall()
    context.log.info(f"predicted {len(pending)} documents with {MODEL_NAME} version {version}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": sum(n for _, n in counts),
            "predicted": len(pending),
            "model_version": version,
            "by_label": dg.MetadataValue.md(markdown_table(["label", "documents"], counts)),
        }
    )
