"""bench/ml: the document classifier on ../shared/data/bbc-news (1,249 labelled articles).

    python -m bench.ml [--repeats 3]

- quality: nested cross-validation. 5 outer folds; in each, the platform's model selection (5-fold CV
  over its candidate pipelines on the outer training part) picks and fits a pipeline, scored on the
  outer test part. Beside it, on the same outer folds, the anchor: TF-IDF + LinearSVC with defaults.
- train_s: one whole training as the asset does it (selection by 5-fold CV on all texts, then the fit).
- tracking_overhead_s: the same fit with and without MLflow tracking (params, metrics, the model with
  signature and input example, registry version) against a local SQLite store; median difference.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd

from bench.common import run_context, write_results

ROOT = Path(__file__).resolve().parents[1]
BBC = Path(os.environ.get("DWC_SHARED_DATA") or ROOT.parent / "shared" / "data") / "bbc-news" / "bbc-text.csv"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    from sklearn.base import clone
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from dwc_pipelines.ml import classifier
    from dwc_resources.tracking import TrackingResource

    data = pd.read_csv(BBC).rename(columns={"category": "label"})
    data["text_id"] = [f"bbc:{i}" for i in range(len(data))]
    outer = StratifiedKFold(n_splits=5, shuffle=True, random_state=42)
    acc, f1, base_acc, base_f1, picked = [], [], [], [], []
    for k, (tr, te) in enumerate(outer.split(data, data["label"])):
        train, test = data.iloc[tr].reset_index(drop=True), data.iloc[te].reset_index(drop=True)
        sel = classifier.select_model(train, folds=5, log=lambda *_: None)
        scores = classifier.evaluate(sel.model, test)
        acc.append(scores["accuracy"])
        f1.append(scores["macro_f1"])
        picked.append(sel.name)
        base = make_pipeline(TfidfVectorizer(), LinearSVC()).fit(train["text"], train["label"])
        predicted = base.predict(test["text"])
        base_acc.append(accuracy_score(test["label"], predicted))
        base_f1.append(f1_score(test["label"], predicted, average="macro"))
        print(f"fold {k + 1}: {sel.name} {scores['accuracy']:.4f} | baseline {base_acc[-1]:.4f}", flush=True)

    t0 = time.perf_counter()
    sel = classifier.select_model(data, folds=5, log=lambda *_: None)
    train_s = time.perf_counter() - t0

    plain, tracked = [], []
    with tempfile.TemporaryDirectory() as tmp:
        tracking = TrackingResource(
            tracking_uri=f"sqlite:///{tmp}/mlflow.db", artifact_location=f"file://{tmp}/artifacts"
        )
        tracking.experiment_id("bench")  # creating the database once is set-up, not per-training overhead
        example = data[["text"]].head(3)
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            model = clone(sel.model).fit(data[["text"]], data["label"])
            plain.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            with tracking.training("bench", "bench") as run:
                model = clone(sel.model).fit(data[["text"]], data["label"])
                tracking.log(run, params={"pipeline": sel.name}, metrics={"cv_accuracy": sel.cv_scores[sel.name]})
                tracking.log_sklearn_model(run, model, example, model.predict(example), register_as="bench-model")
            tracked.append(time.perf_counter() - t0)
    overhead = statistics.median(tracked) - statistics.median(plain)

    result = {
        "accuracy": round(statistics.mean(acc), 4),
        "macro_f1": round(statistics.mean(f1), 4),
        "baseline_accuracy": round(statistics.mean(base_acc), 4),
        "baseline_macro_f1": round(statistics.mean(base_f1), 4),
        "train_s": round(train_s, 2),
        "tracking_overhead_s": round(overhead, 3),
        "fit_s": round(statistics.median(plain), 3),
        "selected_per_fold": picked,
        "selected_on_all": sel.name,
        "articles": len(data),
        **run_context("ml", args.repeats),
    }
    table = [
        "| measure | DWC classifier (selected by CV) | TF-IDF + LinearSVC |",
        "|---|---:|---:|",
        f"| accuracy, nested 5-fold | {result['accuracy']:.4f} | {result['baseline_accuracy']:.4f} |",
        f"| macro-F1, nested 5-fold | {result['macro_f1']:.4f} | {result['baseline_macro_f1']:.4f} |",
        f"| training as the asset does it (selection + fit), s | {train_s:.1f} | |",
        f"| one fit, s (median of {args.repeats}) | {result['fit_s']:.2f} | |",
        f"| MLflow tracking overhead per training, s (median of {args.repeats}) | {overhead:.2f} | |",
        "",
        f"Selected per outer fold: {', '.join(picked)}; on all texts: {sel.name}.",
    ]
    write_results("ml", result, f"BBC News, {len(data)} articles.", table)


if __name__ == "__main__":
    main()
