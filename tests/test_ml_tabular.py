"""Tabular models from specs in models/: located spec errors, training tracked in MLflow, predictions."""

import textwrap

import dagster as dg
import pandas as pd
import pytest

from dwc_pipelines.ml import tabular
from dwc_pipelines.ml.tabular_assets import build_defs
from dwc_pipelines.yamlspec import SpecError
from dwc_resources.tracking import TrackingResource

from .conftest import ROOT

GOOD = """\
source:
  csv: activity.csv
id: user_id
target: churned
algorithm: random_forest
params: {n_estimators: 20, max_depth: 3}
"""


def error_of(text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        tabular.parse_model(textwrap.dedent(text), "models/m.yaml")
    return info.value


def test_shipped_specs_are_valid():
    specs, errors = tabular.load_models(ROOT / "models")
    assert errors == [] and {"churn", "unusual_users"} <= {s.name for s in specs}


def test_bad_specs_name_file_line_and_field():
    e = error_of(GOOD.replace("random_forest", "deep_magic"))
    assert (e.file, e.line, e.where) == ("models/m.yaml", 5, "algorithm") and "random_forest" in e.message
    e = error_of(GOOD.replace("n_estimators", "n_estimator"))
    assert (e.line, e.where) == (6, "params.n_estimator") and "RandomForestClassifier has no parameter" in e.message
    assert error_of(GOOD.replace("target: churned\n", "")).where == "spec"
    assert error_of(GOOD.replace("csv: activity.csv", "table: nodots")).where == "source.table"
    assert error_of(GOOD.replace("algorithm: random_forest", "algorithm: isolation_forest")).where == "target"
    assert tabular.parse_model(GOOD + "task: regression\n", "m.yaml").task == "regression", "random forests regress too"
    assert (
        error_of(
            GOOD.replace("random_forest", "logistic_regression").replace("{n_estimators: 20, max_depth: 3}", "{}")
            + "task: regression\n"
        ).where
        == "task"
    )


def test_parameter_names_are_scikit_learns():
    import importlib

    for path, names in tabular.PARAMETERS.items():
        module, _, cls = path.rpartition(".")
        assert names == set(getattr(importlib.import_module(module), cls)().get_params()), path
    assert {p for _, by_task, _ in tabular.ALGORITHMS.values() for p in by_task.values()} == set(tabular.PARAMETERS)


def test_checking_specs_does_not_import_scikit_learn():
    import subprocess
    import sys

    probe = (
        "import sys; from dwc_pipelines.ml import tabular; tabular.load_models('models'); "
        "print(sorted(m for m in ('sklearn', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


def test_missing_column_names_the_field(tmp_path):
    spec = tabular.parse_model(GOOD + "features: [sessions, nope]\n", "models/m.yaml")
    with pytest.raises(SpecError) as info:
        tabular.train(spec, pd.DataFrame({"user_id": ["a"], "churned": [1], "sessions": [3]}))
    assert info.value.where == "features" and info.value.line == 7 and "nope" in info.value.message


def test_spec_becomes_training_and_prediction_assets(env, instance, tmp_path):
    models = tmp_path / "project" / "models"
    models.mkdir(parents=True)
    (models / "churn.yaml").write_text(
        (ROOT / "models" / "churn.yaml")
        .read_text()
        .replace("samples/tabular/user_activity.csv", str(ROOT / "samples" / "tabular" / "user_activity.csv"))
    )
    (models / "broken.yaml").write_text("source: {csv: x.csv}\nid: a\nalgorithm: nope\n")
    tracking = TrackingResource(
        tracking_uri=f"sqlite:///{tmp_path}/mlflow.db", artifact_location=f"file://{tmp_path}/art"
    )
    defs = dg.Definitions.merge(build_defs(models), dg.Definitions(resources={**env.resources(), "tracking": tracking}))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys == {"ml/models/churn/model", "ml/models/churn/predictions"}, "the broken spec is reported, not loaded"
    result = defs.resolve_job_def("model_churn_job").execute_in_process(instance=instance)
    assert result.success
    meta = {
        ev.asset_key.to_user_string(): {
            k: v.value for k, v in ev.step_materialization_data.materialization.metadata.items()
        }
        for ev in result.all_events
        if ev.is_step_materialization
    }
    trained = meta["ml/models/churn/model"]
    assert trained["held_out_roc_auc"] > 0.85 and trained["model_version"] == "1"
    run = tracking.client().get_run(trained["mlflow_run_id"])
    assert run.data.tags["dagster/run_id"] == result.run_id and run.data.params["algorithm"] == "gradient_boosting"
    rows = env.query("SELECT id, prediction, score, model_version FROM ml.model_churn_predictions ORDER BY score DESC")
    assert len(rows) == 600 and rows[0][1] == "1" and rows[-1][1] == "0" and {r[3] for r in rows} == {"1"}
    predicted = meta["ml/models/churn/predictions"]
    assert predicted["dagster/row_count"] == 600 and predicted["dagster/table_name"] == "ml.model_churn_predictions"
    assert {"id", "prediction", "score"} <= {c.name for c in predicted["dagster/column_schema"].columns}
