"""Resource configuration per environment: DWC_ENV picks it, assets never branch on it."""

from __future__ import annotations

import os

import dagster as dg

from dwc_resources import BlobStoreResource, LakehouseResource, LandingZoneResource, LLMResource, LocalAIResource
from dwc_resources.blobs import encryption_from_env
from dwc_resources.broker import BrokerResource
from dwc_resources.chain import ChainResource, NetworkConfig
from dwc_resources.landing import DROP_FOLDERS, DropFolderResource
from dwc_resources.model_store import ModelStoreResource
from dwc_resources.notify import NotificationsResource
from dwc_resources.quantum import QuantumResource
from dwc_resources.tracking import TrackingResource
from dwc_resources.xr_tools import XRToolsResource


def ai_resource():
    """The local provider unless DWC_AI_PROVIDER=openai points at an OpenAI-compatible endpoint."""
    choice = os.environ.get("DWC_AI_PROVIDER", "local")
    if choice == "local":
        return LocalAIResource(embedding_model=os.environ.get("DWC_EMBEDDING_MODEL", "wordllama"))
    if choice == "openai":
        return LLMResource(
            base_url=os.environ.get("DWC_LLM_BASE_URL") or None,
            model=dg.EnvVar("DWC_LLM_MODEL"),
            embedding_model=os.environ.get("DWC_LLM_EMBEDDING_MODEL", "text-embedding-3-small"),
            api_key=dg.EnvVar("DWC_LLM_API_KEY"),
            prompt_usd_per_1k_tokens=float(os.environ.get("DWC_LLM_PROMPT_USD_PER_1K", "0")),
            completion_usd_per_1k_tokens=float(os.environ.get("DWC_LLM_COMPLETION_USD_PER_1K", "0")),
            budget_usd=float(os.environ["DWC_LLM_BUDGET_USD"]) if os.environ.get("DWC_LLM_BUDGET_USD") else None,
            max_concurrency=int(os.environ.get("DWC_LLM_CONCURRENCY", "4")),
        )
    raise ValueError(f"DWC_AI_PROVIDER must be 'local' or 'openai', not {choice!r}")


def lakehouse_resource(env: str | None = None) -> LakehouseResource:
    """The lake: under DWC_HOME with SQLite catalogs (local), or the PostgreSQL catalogs and shared data
    paths of DWC_LAKE_CATALOG, DWC_LAKE_DATA_PATH, DWC_ANALYST_CATALOG, DWC_ANALYST_DATA_PATH (production;
    the catalogs' password, if any, in DWC_CATALOG_PASSWORD)."""
    if (env or os.environ.get("DWC_ENV", "local")) == "local" and not os.environ.get("DWC_LAKE_CATALOG"):
        return LakehouseResource.local()
    return LakehouseResource(
        catalog=dg.EnvVar("DWC_LAKE_CATALOG"),
        data_path=dg.EnvVar("DWC_LAKE_DATA_PATH"),
        analyst_catalog=dg.EnvVar("DWC_ANALYST_CATALOG"),
        analyst_data_path=dg.EnvVar("DWC_ANALYST_DATA_PATH"),
        catalog_password=dg.EnvVar("DWC_CATALOG_PASSWORD") if os.environ.get("DWC_CATALOG_PASSWORD") else None,
        work_dir=os.environ.get("DWC_WORK_DIR") or os.path.join(os.environ.get("DWC_HOME") or "/tmp", "work"),
        memory_limit=os.environ.get("DWC_WAREHOUSE_MEMORY", "4GB"),
        snapshot_retention=os.environ.get("DWC_SNAPSHOT_RETENTION", "7 days"),
    )


def broker_resource() -> BrokerResource:
    """The MQTT broker of DWC_MQTT_HOST/PORT (`make demo` starts an embedded one when none is set)."""
    return BrokerResource(
        host=os.environ.get("DWC_MQTT_HOST", "127.0.0.1"),
        port=int(os.environ.get("DWC_MQTT_PORT", "1883")),
        tls=os.environ.get("DWC_MQTT_TLS", "false") == "true",
        ca_certs=os.environ.get("DWC_MQTT_CA_CERTS") or None,
        username=os.environ.get("DWC_MQTT_USERNAME") or None,
        password=dg.EnvVar("DWC_MQTT_PASSWORD") if os.environ.get("DWC_MQTT_PASSWORD") else None,
        client_id=os.environ.get("DWC_MQTT_CLIENT_ID", "dwc-consumer"),
    )


def chain_resource(deployments_path: str | None = None) -> ChainResource:
    """The chains of DWC_CHAINS (default: `embedded`, the in-process chain under DWC_HOME). Any other
    name NAME reads DWC_CHAIN_NAME_RPC_URL, _CHAIN_ID, _KEY (or _KEYSTORE and _KEYSTORE_PASSWORD),
    _REGISTRY, _CERTIFICATE, _CONFIRMATIONS, _AUTO_DEPLOY and _EXPLORER_URL; secrets through dg.EnvVar."""
    local = ChainResource.local()
    networks = []
    for name in [n.strip() for n in os.environ.get("DWC_CHAINS", "embedded").split(",") if n.strip()]:
        env = lambda key: os.environ.get(f"DWC_CHAIN_{name.upper()}_{key}") or None  # noqa: E731
        if name == "embedded" and not env("RPC_URL"):
            key = dg.EnvVar("DWC_CHAIN_EMBEDDED_KEY") if env("KEY") else None
            networks.append(local.networks[0].model_copy(update={"private_key": key}))
            continue
        networks.append(
            NetworkConfig(
                name=name,
                kind="rpc",
                rpc_url=env("RPC_URL"),
                chain_id=int(env("CHAIN_ID")) if env("CHAIN_ID") else None,
                private_key=dg.EnvVar(f"DWC_CHAIN_{name.upper()}_KEY") if env("KEY") else None,
                keystore_path=env("KEYSTORE"),
                keystore_password=dg.EnvVar(f"DWC_CHAIN_{name.upper()}_KEYSTORE_PASSWORD")
                if env("KEYSTORE_PASSWORD")
                else None,
                registry_address=env("REGISTRY"),
                certificate_address=env("CERTIFICATE"),
                auto_deploy=None if env("AUTO_DEPLOY") is None else env("AUTO_DEPLOY") == "true",
                confirmations=int(env("CONFIRMATIONS") or 0),
                explorer_url=env("EXPLORER_URL"),
            )
        )
    return ChainResource(networks=networks, deployments_path=deployments_path or local.deployments_path)


def drop_folders(local: bool) -> dict:
    """`<name>_folder` for each drop folder: DWC_<NAME>_PATH if set, else beside the landing zone (under
    DWC_HOME locally, beside DWC_LANDING_PATH in production)."""
    folders = {}
    for name in DROP_FOLDERS:
        var = f"DWC_{name.upper()}_PATH"
        if os.environ.get(var):
            folders[f"{name}_folder"] = DropFolderResource(path=dg.EnvVar(var))
        elif local or not os.environ.get("DWC_LANDING_PATH"):
            folders[f"{name}_folder"] = DropFolderResource.local(name)
        else:
            beside = os.path.dirname(os.path.abspath(os.environ["DWC_LANDING_PATH"]))
            folders[f"{name}_folder"] = DropFolderResource(path=os.path.join(beside, name))
    return folders


def local_resources() -> dict:
    """Embedded defaults: everything under DWC_HOME (default .dwc), no service to install."""
    return {
        "warehouse": lakehouse_resource("local"),
        "landing": LandingZoneResource.local(),
        **drop_folders(local=True),
        "blob_store": BlobStoreResource.local(),
        "ai": ai_resource(),
        "notifications": NotificationsResource.local(),
        "tracking": TrackingResource.local(),
        "model_store": ModelStoreResource.local(),
        "quantum": QuantumResource(),
        "broker": broker_resource(),
        "chain": chain_resource(),
        "xr_tools": XRToolsResource.local(),
    }


def production_resources() -> dict:
    """Paths on shared storage, given by the deployment's environment."""
    return {
        "warehouse": lakehouse_resource("production"),
        "landing": LandingZoneResource(path=dg.EnvVar("DWC_LANDING_PATH")),
        **drop_folders(local=False),
        "blob_store": BlobStoreResource(root=dg.EnvVar("DWC_BLOB_ROOT"), **encryption_from_env()),
        "ai": ai_resource(),
        "notifications": NotificationsResource(
            log_path=dg.EnvVar("DWC_NOTIFY_LOG"),
            outbox_dir=os.environ.get("DWC_OUTBOX_DIR") or None,
            smtp_host=os.environ.get("DWC_SMTP_HOST") or None,
            smtp_port=int(os.environ.get("DWC_SMTP_PORT", "587")),
            smtp_username=os.environ.get("DWC_SMTP_USERNAME") or None,
            smtp_password=dg.EnvVar("DWC_SMTP_PASSWORD") if os.environ.get("DWC_SMTP_PASSWORD") else None,
            smtp_starttls=os.environ.get("DWC_SMTP_STARTTLS", "true") == "true",
            mail_from=os.environ.get("DWC_MAIL_FROM", "dwc@localhost"),
            mail_to=[a for a in os.environ.get("DWC_MAIL_TO", "").split(",") if a],
            webhook_url=dg.EnvVar("DWC_WEBHOOK_URL") if os.environ.get("DWC_WEBHOOK_URL") else None,
            slack_webhook_url=dg.EnvVar("DWC_SLACK_WEBHOOK_URL") if os.environ.get("DWC_SLACK_WEBHOOK_URL") else None,
            failure_channels=os.environ.get("DWC_FAILURE_CHANNELS", "email,slack").split(","),
        ),
        "tracking": TrackingResource(
            tracking_uri=dg.EnvVar("DWC_MLFLOW_TRACKING_URI"), ui_url=os.environ.get("DWC_MLFLOW_UI_URL") or None
        ),
        "model_store": ModelStoreResource(path=dg.EnvVar("DWC_MODEL_STORE")),
        "quantum": QuantumResource(
            backend=os.environ.get("DWC_QUANTUM_BACKEND", "aer_statevector"),
            ibm_token=dg.EnvVar("DWC_IBM_TOKEN") if os.environ.get("DWC_IBM_TOKEN") else None,
            ibm_backend=os.environ.get("DWC_IBM_BACKEND") or None,
        ),
        "broker": broker_resource(),
        "chain": chain_resource(os.environ.get("DWC_CHAIN_DEPLOYMENTS") or None),
        "xr_tools": XRToolsResource(scenes_dir=dg.EnvVar("DWC_XR_SCENES_DIR")),
    }


def resources_for(env: str | None = None) -> dict:
    env = env or os.environ.get("DWC_ENV", "local")
    if env == "local":
        return local_resources()
    if env == "production":
        return production_resources()
    raise ValueError(f"DWC_ENV must be 'local' or 'production', not {env!r}")


def executor_for(kind: str | None = None):
    """The executor, by DWC_EXECUTOR: `multiprocess` (default: steps in subprocesses of the run, at
    most two at once on this two-core machine) or `celery` (steps as tasks on the Celery workers of
    DWC_CELERY_BROKER, RabbitMQ by default: workers on other hosts, edge hosts near devices included,
    run them; `dagster-celery worker start -A dagster_celery.app` starts one)."""
    kind = kind or os.environ.get("DWC_EXECUTOR", "multiprocess")
    if kind == "multiprocess":
        return dg.multiprocess_executor.configured(
            {"max_concurrent": int(os.environ.get("DWC_MAX_CONCURRENT_STEPS", "2"))}
        )
    if kind == "celery":
        from dagster_celery import celery_executor  # the `deploy` extra

        return celery_executor.configured(
            {
                "broker": os.environ.get("DWC_CELERY_BROKER", "pyamqp://guest@127.0.0.1:5672//"),
                "backend": os.environ.get("DWC_CELERY_BACKEND", "rpc://"),
                "config_source": {"task_default_queue": os.environ.get("DWC_CELERY_QUEUE", "dagster")},
            }
        )
    raise ValueError(f"DWC_EXECUTOR must be multiprocess or celery, not {kind!r}")


def light_executor():
    """For a job whose steps are cheap next to a process start (a few seconds each here): on the
    local multiprocess default, every step in the run's own process; with a distributed executor
    (celery), None, so that the job uses the code location's."""
    if os.environ.get("DWC_EXECUTOR", "multiprocess") == "multiprocess":
        return dg.in_process_executor
    return None
