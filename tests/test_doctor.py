"""`dwc doctor`: every configured resource checked, failures explained, secrets never printed."""

import os
import subprocess
import sys

import pytest

from dwc_pipelines.doctor import exit_code, redact, run_checks
from dwc_resources import LLMResource
from dwc_resources.notify import NotificationsResource

from .conftest import ROOT, require_service
from .test_notifications import SMTPServer, free_port


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def by_component(checks):
    return {c.component: c for c in checks}


def test_healthy_deployment_is_all_ok(env, dagster_home):
    from dwc_resources.broker import BrokerResource

    require_service("127.0.0.1", 1883, "Mosquitto")
    from dwc_resources.xr_tools import XRToolsResource

    from .test_chain import embedded

    with SMTPServer() as smtp:
        res = {
            **env.resources(),
            "notifications": NotificationsResource(
                log_path=str(env.root / "n.sqlite"), smtp_host="127.0.0.1", smtp_port=smtp.port
            ),
            "broker": BrokerResource(host="127.0.0.1", port=1883),
            "chain": embedded(env.root),
            "xr_tools": XRToolsResource(scenes_dir=str(env.root / "xr")),
        }
        checks = by_component(run_checks(res))
    for name in (
        "warehouse",
        "instance",
        "landing",
        "ai",
        "mlflow",
        "quantum",
        "notifications",
        "model_store",
        "blob_store",
        "mqtt",
    ):
        assert checks[name].status == "OK", (name, checks[name].detail)
    assert "SMTP 127.0.0.1" in checks["notifications"].detail and "answers 220" in checks["notifications"].detail
    assert checks["chain embedded"].status == "OK" and "not created yet" in checks["chain embedded"].detail
    assert checks["xr tools"].status == "OK" and "viewer bundle" in checks["xr tools"].detail
    assert exit_code(list(checks.values())) == 0
    from dwc_pipelines.anchoring import ledger

    from .test_chain import embedded, hashes, warehouse

    chain = embedded(env.root)
    with chain.network("embedded") as net:
        ledger.anchor_pending(warehouse(env.root / "w.duckdb", hashes(2)), net, "r", log=lambda m: None)
    found = by_component(run_checks({**env.resources(), "chain": chain}))["chain embedded"]
    assert found.status == "OK" and "chain id 131277322940537" in found.detail and "AnchorRegistry 0x" in found.detail


def test_failures_name_the_reason_and_the_fix_and_hide_secrets(env, dagster_home, tmp_path):
    env.configure_landing(path=str(tmp_path / "missing-landing"))
    from dwc_resources.broker import BrokerResource
    from dwc_resources.chain import ChainResource, NetworkConfig

    secret_key, secret_pw = "sk-test-0123456789abcdef", "pw-4242-hunter2"
    chain_key = "0x" + "4f" * 32
    res = {
        **env.resources(),
        "broker": BrokerResource(host="127.0.0.1", port=free_port(), password=secret_pw, username="dev"),
        "ai": LLMResource(
            base_url=f"http://admin:{secret_pw}@127.0.0.1:{free_port()}/v1",
            model="m",
            api_key=secret_key,
            timeout_seconds=2,
            max_retries=0,
        ),
        "notifications": NotificationsResource(
            log_path=str(env.root / "n.sqlite"), smtp_host="127.0.0.1", smtp_port=free_port(), smtp_password=secret_pw
        ),
        "chain": ChainResource(
            networks=[
                NetworkConfig(
                    name="sepolia",
                    rpc_url=f"http://127.0.0.1:{free_port()}",
                    private_key=chain_key,
                    retries=0,
                    timeout_s=2,
                )
            ],
            deployments_path=str(tmp_path / "d.json"),
        ),
    }
    checks = run_checks(res)
    found = by_component(checks)
    assert found["landing"].status == "FAILED" and "does not exist" in found["landing"].detail and found["landing"].fix
    assert found["ai"].status == "FAILED" and "DWC_LLM_BASE_URL" in found["ai"].fix
    assert found["notifications"].status == "FAILED" and "ConnectionRefused" in found["notifications"].detail
    assert found["mqtt"].status == "FAILED" and "ConnectionRefused" in found["mqtt"].detail
    assert "deploy/mosquitto.conf" in found["mqtt"].fix
    assert found["chain sepolia"].status == "FAILED" and "DWC_CHAIN_SEPOLIA_RPC_URL" in found["chain sepolia"].fix
    assert exit_code(checks) == 1, "the landing zone is required"
    text = "\n".join(f"{c.detail} {c.fix}" for c in checks)
    assert secret_key not in text and secret_pw not in text and chain_key not in text and chain_key[2:] not in text
    assert redact(f"http://u:{secret_pw}@h/x token {secret_key}", [secret_key]) == "http://u:***@h/x token ***"


def test_blob_keys_are_checked_and_never_printed(env, dagster_home):
    from dwc_resources import BlobStoreResource
    from dwc_resources.cas import Keyring

    good = Keyring.new_key("k1")
    sealed = BlobStoreResource(root=env.blobs.root, encryption_keys=good)
    sealed.store().put_many([b"some bytes"])
    found = by_component(run_checks({**env.resources(), "blob_store": sealed}))
    assert found["blob_store"].status == "OK" and "sealed with key k1" in found["blob_store"].detail
    lost = by_component(
        run_checks(
            {
                **env.resources(),
                "blob_store": BlobStoreResource(root=env.blobs.root, encryption_keys=Keyring.new_key("k2")),
            }
        )
    )
    assert lost["blob_store"].status == "FAILED" and "no key configured for k1" in lost["blob_store"].detail
    bad = by_component(
        run_checks(
            {
                **env.resources(),
                "blob_store": BlobStoreResource(root=env.blobs.root, encryption_keys="k3:bm90IDMyIGJ5dGVz"),
            }
        )
    )
    assert bad["blob_store"].status == "FAILED" and "32" in bad["blob_store"].detail
    text = "\n".join(f"{c.detail} {c.fix}" for c in [found["blob_store"], lost["blob_store"]])
    assert good.split(":")[1] not in text


def test_doctor_command_exit_codes_and_no_secrets(tmp_path):
    secret = "sk-doctor-secret-987654321"
    env = {
        **os.environ,
        "DWC_HOME": str(tmp_path / "nothing-here"),
        "DAGSTER_HOME": str(ROOT),
        "DWC_DAGSTER_DIR": str(tmp_path / "dagster"),
        "DWC_DAGSTER_LOGS": str(tmp_path / "logs"),
        "DWC_AI_PROVIDER": "openai",
        "DWC_LLM_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
        "DWC_LLM_MODEL": "m",
        "DWC_LLM_API_KEY": secret,
    }
    out = subprocess.run(
        [sys.executable, "-m", "dwc_pipelines.cli", "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert "landing" in out.stdout and "FAILED" in out.stdout and "fix:" in out.stdout
    assert secret not in out.stdout + out.stderr
    assert not (tmp_path / "nothing-here" / "models").exists(), "the doctor creates nothing"
