"""The deployment files agree with the code: every environment variable the production resources read
through dg.EnvVar is set for the code location in the compose file and in the Helm values, and the
processes are separate. (Images are built where a Docker daemon runs; this machine has none.)"""

from pathlib import Path

import yaml

from .conftest import ROOT

OPTIONAL = {
    "DWC_SMTP_PASSWORD",
    "DWC_WEBHOOK_URL",
    "DWC_SLACK_WEBHOOK_URL",
    "DWC_IBM_TOKEN",
    "DWC_LLM_API_KEY",
    "DWC_BLOB_KEYS",
    "DWC_BLOB_ACTIVE_KEY",
}  # secrets: set only where that channel or key is used


def required_env_vars() -> set[str]:
    from dwc_pipelines.resources import production_resources

    names = set()

    def walk(value):
        if isinstance(value, dict):
            if set(value) == {"env"}:
                names.add(value["env"])
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    for res in production_resources().values():
        walk(res._convert_to_config_dictionary())
    return names - OPTIONAL


def test_compose_runs_every_process_separately_with_the_variables_the_resources_need():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "code", "webserver", "webserver-readonly", "daemon"} <= set(services)
    assert services["code"]["build"]["dockerfile"] == "deploy/Dockerfile"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert "--read-only" in services["webserver-readonly"]["command"]
    missing = required_env_vars() - set(services["code"]["environment"])
    assert not missing, f"the code service lacks {sorted(missing)}"
    text = (ROOT / "deploy" / "docker-compose.yaml").read_text()
    assert "PASSWORD: ${DAGSTER_PG_PASSWORD" in text, "the password comes from the environment"
    # Telemetry: the broker with the project's configuration, and the consumer writing where the sensor reads.
    assert "./mosquitto.conf:/mosquitto/config/mosquitto.conf" in services["mosquitto"]["volumes"][0]
    consumer = services["telemetry-consumer"]
    assert consumer["command"][:3] == ["python", "-m", "dwc_pipelines.iot.consumer"]
    assert consumer["command"][3] == services["code"]["environment"]["DWC_TELEMETRY_PATH"]
    assert consumer["restart"] == "always"


def test_helm_values_use_the_k8s_run_launcher_and_set_the_same_variables():
    values = yaml.safe_load((ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    deployment = values["dagster-user-deployments"]["deployments"][0]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "dwc_pipelines.definitions"]
    missing = required_env_vars() - {e["name"] for e in deployment["env"]}
    assert not missing, f"the user deployment lacks {sorted(missing)}"
    assert values["dagsterDaemon"]["runRetries"]["enabled"] and values["dagsterDaemon"]["runMonitoring"]["enabled"]


def test_the_image_installs_what_the_code_location_imports():
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for folder in ("dwc_pipelines", "dwc_resources", "dwc_sensors", "chains", "models", "policies"):
        assert f"COPY {folder} ./{folder}" in dockerfile, folder
        assert (ROOT / folder).is_dir()
    # The code finds these beside its sources: the install is editable, so they are found in the image too.
    from dwc_pipelines.chains.assets import CHAINS_DIR
    from dwc_pipelines.ml.tabular_assets import MODELS_DIR
    from dwc_resources.chain import ARTIFACTS
    from dwc_resources.xr_tools import XR_DIR

    for path in (CHAINS_DIR, MODELS_DIR, ARTIFACTS, XR_DIR / "dist", XR_DIR / "validate.js"):
        rel = path.relative_to(ROOT).as_posix()
        assert f"COPY {rel} ./{rel}" in dockerfile, rel
        assert path.exists(), rel
    assert 'pip install -e ".[deploy]"' in dockerfile
    assert Path(ROOT / "deploy" / "dagster.postgres.yaml").exists() and "dagster.postgres.yaml" in dockerfile


def test_what_the_image_copies_is_enough_to_load_the_code_location(tmp_path):
    """The image's /opt/dwc, staged from the Dockerfile's COPY lines (no Docker here), imported from
    outside the checkout: the chains, model specs, contract artifacts and viewer bundle are all found."""
    import os
    import re
    import shutil
    import subprocess
    import sys

    staged = tmp_path / "opt" / "dwc"
    staged.mkdir(parents=True)
    # The COPY lines into the work dir (COPY <path> ./<path>); the config files go elsewhere.
    for src, dst in re.findall(r"^COPY (\S+) \./(\S+)$", (ROOT / "deploy" / "Dockerfile").read_text(), re.M):
        path, target = ROOT / src, staged / dst
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    env = {
        **os.environ,
        "PYTHONPATH": str(staged),
        "DWC_ENV": "production",
        "DAGSTER_HOME": str(tmp_path),
        **{name: str(tmp_path / name.lower()) for name in required_env_vars()},
    }
    env.pop("DWC_CHAINS_DIR", None)
    probe = (
        "import dwc_pipelines, dwc_pipelines.definitions as d; from dwc_resources.chain import artifact;"
        "from dwc_resources.xr_tools import XRToolsResource;"
        f"assert dwc_pipelines.__file__.startswith({str(staged)!r}), dwc_pipelines.__file__;"
        "jobs = {j.name for j in d.defs.get_repository_def().get_all_jobs()};"
        "assert {'workflow_contract_review_job', 'model_churn_job', 'anchor_job', 'xr_job'} <= jobs, jobs;"
        "assert artifact('AnchorRegistry')['bytecode'].startswith('0x');"
        "print(XRToolsResource(scenes_dir='/tmp').bundle())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip().startswith(str(staged))


def test_compose_and_kubernetes_run_the_api_as_its_own_service():
    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yaml").read_text())
    api = compose["services"]["api"]
    assert api["command"][:3] == ["dwc", "api", "serve"]
    env = api["environment"]
    assert env["DWC_API_REDIS_URL"].startswith("redis://") and env["DWC_API_DATABASE_URL"].startswith("postgresql://")
    assert env["DWC_LAKE_CATALOG"] == compose["services"]["code"]["environment"]["DWC_LAKE_CATALOG"]
    assert compose["services"]["api-migrate"]["command"] == ["dwc", "api", "migrate"]
    assert "${DWC_API_SECRET:?" in (ROOT / "deploy" / "docker-compose.yaml").read_text()
    docs = list(yaml.safe_load_all((ROOT / "deploy" / "helm" / "dwc-api.yaml").read_text()))
    kinds = {d["kind"] for d in docs}
    assert kinds == {"Job", "Deployment", "Service"}
    assert "COPY dwc_api ./dwc_api" in (ROOT / "deploy" / "Dockerfile").read_text()
