"""The document classifier (plain Python + scikit-learn, no Dagster): candidate pipelines, model
selection by cross-validation, a deterministic held-out split, evaluation."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import VotingClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import RidgeClassifier
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.naive_bayes import ComplementNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

HELD_OUT_PERCENT = 20


def _tfidf(**kw) -> ColumnTransformer:
    # A DataFrame with a `text` column in, so the logged model serves the same input as pyfunc.
    return ColumnTransformer([("tfidf", TfidfVectorizer(**kw), "text")])


def candidates() -> dict[str, Pipeline]:
    """A few sensible text classifiers; cross-validation picks one."""
    return {
        "tfidf_linearsvc": Pipeline([("features", _tfidf()), ("model", LinearSVC())]),
        "tfidf_sublinear_linearsvc": Pipeline([("features", _tfidf(sublinear_tf=True)), ("model", LinearSVC(C=0.5))]),
        "tfidf_sublinear_ridge": Pipeline(
            [("features", _tfidf(sublinear_tf=True)), ("model", RidgeClassifier(alpha=1.0))]
        ),
        "tfidf_vote_svc_ridge_nb": Pipeline(
            [
                ("features", _tfidf(sublinear_tf=True, min_df=2)),
                (
                    "model",
                    VotingClassifier(
                        [("svc", LinearSVC()), ("ridge", RidgeClassifier()), ("nb", ComplementNB(alpha=0.3))],
                        voting="hard",
                    ),
                ),
            ]
        ),
        "tfidf_complement_nb": Pipeline(
            [("features", _tfidf(sublinear_tf=True, stop_words="english")), ("model", ComplementNB(alpha=0.3))]
        ),
    }


def is_held_out(text_id: str, percent: int = HELD_OUT_PERCENT) -> bool:
    """A stable split: the same texts are held out in every training, so models compare fairly."""
    return int(hashlib.sha256(text_id.encode()).hexdigest()[:8], 16) % 100 < percent


def split(data: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    mask = data["text_id"].map(is_held_out)
    return data[~mask].reset_index(drop=True), data[mask].reset_index(drop=True)


def digest(frame: pd.DataFrame) -> str:
    h = hashlib.sha256()
    for text_id, label in sorted(zip(frame["text_id"], frame["label"])):
        h.update(f"{text_id}\0{label}\n".encode())
    return h.hexdigest()[:16]


@dataclass
class Selection:
    name: str
    model: Pipeline
    cv_scores: dict[str, float]
    folds: int
    seconds: float


def select_model(train: pd.DataFrame, folds: int = 5, names: list[str] | None = None, log=print) -> Selection:
    """Cross-validated accuracy of each candidate on the training part; the best is refit on all of it."""
    counts = train["label"].value_counts()
    folds = int(max(2, min(folds, counts.min())))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    X = train[["text"]]
    y = train["label"].to_numpy()
    t0 = time.perf_counter()
    scores = {}
    for name, pipe in candidates().items():
        if names and name not in names:
            continue
        scores[name] = float(np.mean(cross_val_score(pipe, X, y, cv=cv, scoring="accuracy", n_jobs=1)))
        log(f"{name}: {folds}-fold accuracy {scores[name]:.4f}")
    best = max(scores, key=lambda k: (scores[k], k))
    model = clone(candidates()[best]).fit(X, y)
    return Selection(best, model, scores, folds, time.perf_counter() - t0)


def evaluate(model, held_out: pd.DataFrame) -> dict[str, float]:
    predicted = model.predict(held_out[["text"]])
    return {
        "accuracy": float(accuracy_score(held_out["label"], predicted)),
        "macro_f1": float(f1_score(held_out["label"], predicted, average="macro")),
    }


def predict_with_confidence(model, texts: list[str]) -> tuple[list[str], list[float | None]]:
    frame = pd.DataFrame({"text": texts})
    labels = model.predict(frame)
    est = model.named_steps["model"] if hasattr(model, "named_steps") else model
    if isinstance(est, VotingClassifier) and est.voting == "hard":
        # The share of the voters that agree with the majority.
        votes = est.transform(model[:-1].transform(frame))
        chosen = est.le_.transform(labels)
        return list(labels), [round(float(c), 4) for c in (votes == chosen[:, None]).mean(axis=1)]
    if hasattr(est, "predict_proba"):
        conf = model.predict_proba(frame).max(axis=1)
    elif hasattr(est, "decision_function"):
        scores = model.decision_function(frame)
        scores = scores.reshape(len(texts), -1)
        if scores.shape[1] == 1:
            conf = 1 / (1 + np.exp(-np.abs(scores[:, 0])))
        else:  # softmax of the margins: a ranking-consistent confidence in [0, 1]
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            conf = (e / e.sum(axis=1, keepdims=True)).max(axis=1)
    else:
        return list(labels), [None] * len(texts)
    return list(labels), [round(float(c), 4) for c in conf]
