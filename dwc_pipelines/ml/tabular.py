"""Generic tabular models ("create model, train, predict") from YAML specs in `models/` (plain
Python + scikit-learn): the spec names a source, a target, an algorithm and its parameters."""

from __future__ import annotations

import hashlib
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..yamlspec import Checker, SpecError, load_yaml

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sklearn.pipeline import Pipeline

# pandas and scikit-learn load inside the functions that train and predict: parsing specs (which
# the code location does when it loads) needs neither.

NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# algorithm -> (task, estimator by task as "module.Class", scale numeric features)
ALGORITHMS = {
    "random_forest": (
        "auto",
        {
            "classification": "sklearn.ensemble.RandomForestClassifier",
            "regression": "sklearn.ensemble.RandomForestRegressor",
        },
        False,
    ),
    "gradient_boosting": (
        "auto",
        {
            "classification": "sklearn.ensemble.GradientBoostingClassifier",
            "regression": "sklearn.ensemble.GradientBoostingRegressor",
        },
        False,
    ),
    "logistic_regression": ("classification", {"classification": "sklearn.linear_model.LogisticRegression"}, True),
    "linear_regression": ("regression", {"regression": "sklearn.linear_model.LinearRegression"}, True),
    "isolation_forest": ("anomaly", {"anomaly": "sklearn.ensemble.IsolationForest"}, False),
}
_FOREST = {
    "bootstrap",
    "max_features",
    "max_samples",
    "n_estimators",
    "n_jobs",
    "random_state",
    "verbose",
    "warm_start",
}
_TREE = {"ccp_alpha", "criterion", "max_depth", "max_features", "max_leaf_nodes", "min_impurity_decrease"}
_TREE |= {"min_samples_leaf", "min_samples_split", "min_weight_fraction_leaf", "random_state", "verbose", "warm_start"}
_BOOSTING = _TREE | {"init", "learning_rate", "loss", "n_estimators", "n_iter_no_change", "subsample", "tol"}
# Each estimator's parameter names (scikit-learn's get_params(), pinned with scikit-learn by
# tests/test_ml_tabular.py), so that checking a spec does not import scikit-learn (a second per load).
PARAMETERS = {
    "sklearn.ensemble.RandomForestClassifier": _FOREST | _TREE | {"class_weight", "monotonic_cst", "oob_score"},
    "sklearn.ensemble.RandomForestRegressor": _FOREST | _TREE | {"monotonic_cst", "oob_score"},
    "sklearn.ensemble.GradientBoostingClassifier": _BOOSTING | {"validation_fraction"},
    "sklearn.ensemble.GradientBoostingRegressor": _BOOSTING | {"alpha", "validation_fraction"},
    "sklearn.linear_model.LogisticRegression": {"C", "class_weight", "dual", "fit_intercept", "intercept_scaling"}
    | {"l1_ratio", "max_iter", "n_jobs", "penalty", "random_state", "solver", "tol", "verbose", "warm_start"},
    "sklearn.linear_model.LinearRegression": {"copy_X", "fit_intercept", "n_jobs", "positive", "tol"},
    "sklearn.ensemble.IsolationForest": _FOREST | {"contamination"},
}


def estimator_class(algorithm: str, task: str) -> type:
    module, _, name = ALGORITHMS[algorithm][1][task].rpartition(".")
    return getattr(importlib.import_module(module), name)


SOURCE_KINDS = ("csv", "table", "query")


@dataclass
class ModelSpec:
    name: str
    file: str
    description: str
    source: dict
    id_column: str
    target: str | None
    features: list[str] | None
    algorithm: str
    task: str
    params: dict
    version: str = ""
    lines: dict = field(default_factory=dict, repr=False)

    @property
    def registered_name(self) -> str:
        return f"dwc-model-{self.name}"

    @property
    def predictions_table(self) -> str:
        return f"ml.model_{self.name}_predictions"


def parse_model(text: str, file: str) -> ModelSpec:
    raw, lines = load_yaml(text, file)
    ck = Checker(file, lines)
    spec = ck.mapping(
        raw if raw is not None else {},
        (),
        {"name", "description", "source", "id", "target", "features", "algorithm", "params", "task"},
        {"source", "algorithm", "id"},
    )
    name = spec.get("name", Path(file).stem)
    if not isinstance(name, str) or not NAME.match(name):
        ck.fail(("name",), f"'{name}' is not a model name (lower case letters, digits, _)")
    source = ck.mapping(spec["source"], ("source",), set(SOURCE_KINDS))
    if len(source) != 1:
        ck.fail(("source",), f"name exactly one of {', '.join(SOURCE_KINDS)}")
    kind, value = next(iter(source.items()))
    ck.kind(value, ("source", kind), str, "a string")
    if kind == "table" and not re.match(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$", value):
        ck.fail(("source", "table"), "must be schema.table")
    algorithm = spec["algorithm"]
    if algorithm not in ALGORITHMS:
        ck.fail(("algorithm",), f"unknown algorithm '{algorithm}'; known: {', '.join(ALGORITHMS)}")
    fixed_task, factories, _ = ALGORITHMS[algorithm]
    task = spec.get("task", fixed_task if fixed_task != "auto" else "classification")
    if task not in factories:
        ck.fail(("task",), f"{algorithm} does {' or '.join(factories)}, not {task}")
    target = spec.get("target")
    if task != "anomaly" and not target:
        ck.fail(("target",) if "target" in spec else (), f"{algorithm} needs a target column")
    if task == "anomaly" and target:
        ck.fail(("target",), "an anomaly model learns without a target")
    features = spec.get("features")
    if features is not None and (
        not isinstance(features, list) or not all(isinstance(f, str) for f in features) or not features
    ):
        ck.fail(("features",), "must be a list of column names")
    params = ck.kind(spec.get("params") or {}, ("params",), dict, "a mapping of parameter to value")
    # scikit-learn estimators check values when they fit, not when they are made: names are what a
    # spec can get wrong here.
    for key in params:
        if key not in PARAMETERS[factories[task]]:
            ck.fail(("params", key), f"{factories[task].rpartition('.')[2]} has no parameter '{key}'")
    out = ModelSpec(
        name,
        file,
        ck.kind(spec.get("description", ""), ("description",), str, "text"),
        source,
        ck.kind(spec["id"], ("id",), str, "a column name"),
        target,
        features,
        algorithm,
        task,
        params,
        lines=lines,
    )
    out.version = hashlib.sha256(
        repr((source, out.id_column, target, features, algorithm, task, sorted(params.items()))).encode()
    ).hexdigest()[:16]
    return out


def load_models(*directories: str | Path) -> tuple[list[ModelSpec], list[SpecError]]:
    specs, errors = [], []
    paths = [p for d in map(Path, directories) if d.is_dir() for p in sorted(d.glob("*.y*ml"))]
    for path in paths:
        try:
            spec = parse_model(path.read_text(encoding="utf-8"), str(path))
        except SpecError as exc:
            errors.append(exc)
            continue
        if any(s.name == spec.name for s in specs):
            errors.append(
                SpecError(str(path), spec.lines.get(("name",)), "name", f"model '{spec.name}' is already declared")
            )
            continue
        specs.append(spec)
    return specs, errors


def read_source(spec: ModelSpec, con, base_dir: Path) -> pd.DataFrame:
    kind, value = next(iter(spec.source.items()))
    if kind == "csv":
        import pandas as pd

        path = Path(value) if Path(value).is_absolute() else base_dir / value
        return pd.read_csv(path)
    if kind == "table":
        return con.execute(f"SELECT * FROM {value}").df()
    return con.execute(value).df()


def columns(spec: ModelSpec, frame: pd.DataFrame) -> list[str]:
    """The feature columns, or a SpecError-style message naming the spec's field."""
    missing = [c for c in [spec.id_column, spec.target, *(spec.features or [])] if c and c not in frame.columns]
    if missing:
        field_name = (
            "features"
            if spec.features and set(missing) & set(spec.features)
            else ("id" if spec.id_column in missing else "target")
        )
        raise SpecError(
            spec.file,
            spec.lines.get((field_name,)),
            field_name,
            f"the source has no column {', '.join(missing)} (it has {', '.join(frame.columns)})",
        )
    return spec.features or [c for c in frame.columns if c not in (spec.id_column, spec.target)]


def build_pipeline(spec: ModelSpec, frame: pd.DataFrame, feature_cols: list[str]) -> Pipeline:
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    scale = ALGORITHMS[spec.algorithm][2]
    factory = estimator_class(spec.algorithm, spec.task)
    numeric = [c for c in feature_cols if pd.api.types.is_numeric_dtype(frame[c])]
    categorical = [c for c in feature_cols if c not in numeric]
    num_steps = [("impute", SimpleImputer(strategy="median"))] + ([("scale", StandardScaler())] if scale else [])
    features = ColumnTransformer(
        [
            ("numeric", Pipeline(num_steps), numeric),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                categorical,
            ),
        ]
    )
    params = dict(spec.params)
    if "random_state" in factory().get_params() and "random_state" not in params:
        params["random_state"] = 0  # reproducible trainings
    return Pipeline([("features", features), ("model", factory(**params))])


def held_out_mask(ids: pd.Series, percent: int = 20) -> np.ndarray:
    return ids.astype(str).map(lambda v: int(hashlib.sha256(v.encode()).hexdigest()[:8], 16) % 100 < percent).to_numpy()


def train(spec: ModelSpec, frame: pd.DataFrame) -> tuple[Pipeline, dict, list[str]]:
    """Fit on the training part, measure on the held-out part, refit on everything for serving."""
    from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, r2_score, roc_auc_score

    feature_cols = columns(spec, frame)
    X = frame[feature_cols]
    mask = held_out_mask(frame[spec.id_column])
    pipe = build_pipeline(spec, frame, feature_cols)
    if spec.task == "anomaly":
        pipe.fit(X)
        flags = pipe.predict(X) == -1
        return pipe, {"anomaly_rate": float(flags.mean()), "rows": len(frame)}, feature_cols
    y = frame[spec.target]
    pipe.fit(X[~mask], y[~mask])
    predicted = pipe.predict(X[mask])
    if spec.task == "classification":
        metrics = {
            "held_out_accuracy": float(accuracy_score(y[mask], predicted)),
            "held_out_f1": float(f1_score(y[mask], predicted, average="binary" if y.nunique() == 2 else "macro")),
        }
        if y.nunique() == 2 and hasattr(pipe, "predict_proba"):
            metrics["held_out_roc_auc"] = float(roc_auc_score(y[mask], pipe.predict_proba(X[mask])[:, 1]))
    else:
        metrics = {
            "held_out_r2": float(r2_score(y[mask], predicted)),
            "held_out_mae": float(mean_absolute_error(y[mask], predicted)),
        }
    metrics.update({"rows": len(frame), "held_out_rows": int(mask.sum())})
    final = build_pipeline(spec, frame, feature_cols).fit(X, y)
    return final, metrics, feature_cols


def predict(spec: ModelSpec, model: Pipeline, frame: pd.DataFrame, feature_cols: list[str]) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    X = frame[feature_cols]
    out = pd.DataFrame({"id": frame[spec.id_column].astype(str)})
    if spec.task == "anomaly":
        out["prediction"] = (model.predict(X) == -1).astype(int).astype(str)
        out["score"] = -model.score_samples(X)  # higher: more anomalous
    else:
        out["prediction"] = pd.Series(model.predict(X)).astype(str).to_numpy()
        if hasattr(model, "predict_proba"):
            proba = model.predict_proba(X)
            # Binary: the probability of the positive class (churn); otherwise that of the predicted one.
            out["score"] = proba[:, 1] if proba.shape[1] == 2 else proba.max(axis=1)
        else:
            out["score"] = np.nan
    return out
