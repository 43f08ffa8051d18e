"""No secret is ever stored: the demo runs with distinctive fake secrets in every secret env var and
its AI calls going to an OpenAI-compatible endpoint (the protocol double), then every file it wrote
(instance event log, compute logs, warehouse, snapshot, MLflow store, outbox, delivery log) and its
output are searched for them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from .conftest import ROOT
from .llm_double import LLMDouble

SECRETS = {
    "DWC_LLM_API_KEY": "sk-FAKE-llm-9f8e7d6c5b4a",
    "DWC_SMTP_PASSWORD": "FAKE-smtp-pass-31337",
    "DWC_WEBHOOK_URL": "https://hooks.example.invalid/FAKE-webhook-token-4711",
    "DWC_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/FAKE-slack-token-0815",
    "DWC_IBM_TOKEN": "FAKE-ibm-quantum-token-2718",
    "DAGSTER_PG_PASSWORD": "FAKE-postgres-password-1618",
    "MLFLOW_TRACKING_PASSWORD": "FAKE-mlflow-password-1414",
    "DWC_MQTT_PASSWORD": "FAKE-mqtt-password-1732",
    # A signer key for the embedded chain (funded from its development account on first use).
    "DWC_CHAIN_EMBEDDED_KEY": "0x" + "f4ce5ec7" * 8,
}


def value_for(schema: dict):
    """Any value that satisfies a (simple) JSON schema: the double answers every task validly."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type", "string")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        return {k: value_for(v) for k, v in schema.get("properties", {}).items()}
    return {"string": "An answer.", "number": 0.5, "integer": 1, "boolean": False, "array": [], "null": None}[kind]


def answer(body: dict) -> str:
    schema = json.loads(body["messages"][0]["content"].split("\n", 1)[1])
    return json.dumps(value_for(schema))


# The whole demo (every asset) runs in this test: on two cores, beside another test file, it takes
# several minutes, more than the suite's default limit.
@pytest.mark.timeout(1500)
def test_demo_stores_no_secret(tmp_path):
    home, dagster_dir = tmp_path / "dwc", tmp_path / "dagster"
    with LLMDouble(responder=answer) as double:
        env = {
            **os.environ,
            **SECRETS,
            "DWC_HOME": str(home),
            "DAGSTER_HOME": str(ROOT),
            "DWC_DAGSTER_DIR": str(dagster_dir),
            "DWC_DAGSTER_LOGS": str(dagster_dir / "logs"),
            "DWC_AI_PROVIDER": "openai",
            "DWC_LLM_BASE_URL": double.base_url,
            "DWC_LLM_MODEL": "double-model",
        }
        out = subprocess.run(
            [sys.executable, "-m", "dwc_pipelines.cli", "demo", "--samples", "samples/landing"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        requests = len(double.requests)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert requests > 64, "enrichment and chains went through the endpoint"
    headers = {k.lower(): v for k, v in double.requests[0]["headers"].items()}
    assert headers.get("authorization") == f"Bearer {SECRETS['DWC_LLM_API_KEY']}", "the key was used, where it belongs"
    assert "VERIFIED" in out.stdout, "the demo anchored with that key and verified a file"
    secrets = [s.encode() for s in SECRETS.values()] + [SECRETS["DWC_CHAIN_EMBEDDED_KEY"][2:].encode()]
    text = (out.stdout + out.stderr).encode()
    assert not [s for s in secrets if s in text], "the demo's output"
    scanned = 0
    for root in (home, dagster_dir):
        for path in Path(root).rglob("*"):
            if not path.is_file() or path.suffix in (".duckdb", ".parquet", ".wal"):
                continue
            data = path.read_bytes()
            leaked = [s for s in secrets if s in data]
            assert not leaked, f"{path} holds {leaked}"
            scanned += 1
    assert scanned > 10 and any(p.name.endswith(".db") for p in dagster_dir.rglob("*")), "event log and run storage"
    # DuckDB and Parquet compress strings, so search their values, not their bytes.
    from dwc_resources.lakehouse import LakehouseResource

    with LakehouseResource.local(str(home)).unmasked_reader() as con:
        columns = con.execute("""SELECT schema_name, table_name, column_name FROM duckdb_columns()
                                 WHERE database_name = 'lake' AND (data_type IN ('VARCHAR', 'JSON')
                                 OR data_type LIKE 'VARCHAR%')""").fetchall()
        assert len(columns) > 50
        for schema, table, column in columns:
            for s in [*SECRETS.values(), SECRETS["DWC_CHAIN_EMBEDDED_KEY"][2:]]:
                hits = con.execute(
                    f'SELECT count(*) FROM "{schema}"."{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?', [f"%{s}%"]
                ).fetchall()[0][0]
                assert hits == 0, f"{schema}.{table}.{column} holds a secret"
    for parquet in [*(home / "lake").rglob("*.parquet"), *(home / "analyst").rglob("*.parquet")]:
        rel = duckdb.connect().execute(f"SELECT * FROM read_parquet('{parquet}')").fetchall()
        blob = repr(rel).encode()
        assert not [s for s in secrets if s in blob], parquet
