"""`dwc doctor`: is every configured resource reachable? A table of OK / FAILED with the reason and
the fix; exit code 1 when something required is down. Secrets never reach the output."""

from __future__ import annotations

import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dwc_resources.chain import DEV_CHAIN_IDS
from dwc_resources.landing import DROP_FOLDERS

REQUIRED = {"warehouse", "instance", "landing"}
SECRET_FIELDS = re.compile(r"(keys?|password|token|secret|webhook_url)$")


@dataclass
class Check:
    component: str
    status: str  # OK | FAILED | SKIPPED
    detail: str
    fix: str = ""


def _secrets(resources: dict) -> list[str]:
    """Every configured value that must not be printed."""
    out = []
    for res in resources.values():
        try:
            res = _resolved(res)  # the values, not the names of the env vars that hold them
        except Exception:
            continue
        out += _secret_values(res)
    for name, value in os.environ.items():
        if SECRET_FIELDS.search(name.lower()) and len(value) >= 4:
            out.append(value)
    return sorted(set(out), key=len, reverse=True)


def _secret_values(obj) -> list[str]:
    """Secret-named string fields of a resource or config, nested configs (a list of chains) included."""
    out = []
    for name in getattr(type(obj), "model_fields", {}):
        value = getattr(obj, name, None)
        if SECRET_FIELDS.search(name) and isinstance(value, str) and len(value) >= 4:
            out.append(value)
        for item in value if isinstance(value, (list, tuple)) else [value]:
            if hasattr(type(item), "model_fields"):
                out += _secret_values(item)
    return out


def redact(text: str, secrets: list[str]) -> str:
    for s in secrets:
        text = text.replace(s, "***")
    return re.sub(r"(//[^/\s:@]+:)[^@\s]+@", r"\1***@", text)  # user:password@host


def _resolved(resource):
    """The resource with its dg.EnvVar fields read from the environment (raises if one is unset)."""
    return resource.process_config_and_initialize() if hasattr(resource, "process_config_and_initialize") else resource


def _check_warehouse(res) -> Check:
    from dwc_resources import duck
    from dwc_resources.lakehouse import redact

    try:
        versions = duck.extension_versions()
    except duck.MissingExtension as exc:
        return Check("warehouse", "FAILED", str(exc), "pip install -e . (the extension wheels are dependencies)")
    pinned = ", ".join(f"{k} {v}" for k, v in versions.items())
    con = res.connect()
    try:
        snapshot = con.execute("SELECT id FROM lake.current_snapshot()").fetchall()[0][0]
        tables = len(duck.table_names(con, "lake"))
    finally:
        con.close()
    return Check(
        "warehouse",
        "OK",
        f"DuckLake {redact(res.catalog)} (data {res.data_path}): {tables} tables, "
        f"snapshot {snapshot}; analyst lake {redact(res.analyst_catalog)}; {pinned}",
    )


def _check_instance(_res) -> Check:
    import dagster as dg

    if not os.environ.get("DAGSTER_HOME"):
        return Check(
            "instance", "FAILED", "DAGSTER_HOME is not set", "run from the repository root or export DAGSTER_HOME"
        )
    with dg.DagsterInstance.get() as instance:
        instance.get_run_records(limit=1)
        kind = type(instance.run_storage).__name__
    return Check("instance", "OK", f"{kind} under DAGSTER_HOME={os.environ['DAGSTER_HOME']}")


def _check_landing(res) -> Check:
    missing = [p for p in (res.path,) if not os.path.isdir(p)]
    if missing:
        return Check("landing", "FAILED", f"{missing[0]} does not exist", "create it, or run make demo")
    return Check("landing", "OK", res.path)


def _check_drop_folder(name: str) -> Callable:
    def check(res) -> Check:
        # A drop folder appears when something is dropped into it: its absence is not a fault.
        if not os.path.isdir(res.path):
            return Check(f"{name} folder", "OK", f"{res.path} (not created yet)")
        files = sum(1 for p in Path(res.path).rglob("*") if p.is_file())
        return Check(f"{name} folder", "OK", f"{res.path} ({files} files)")

    return check


def _check_ai(res) -> Check:
    if not hasattr(res, "client"):
        return Check("ai", "OK", "local provider (offline)")
    client = res.client()
    models = client._client.models.list()
    names = [m.id for m in list(models)[:5]]
    return Check(
        "ai",
        "OK",
        f"{res.base_url or 'api.openai.com'}: model {res.model}; endpoint lists {', '.join(names) or 'no models'}",
    )


def _writable_or_creatable(path: str) -> bool:
    """The folder is writable, or the nearest existing parent is (so it can be created): the doctor
    itself creates nothing."""
    p = os.path.abspath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    return os.path.isdir(p) and os.access(p, os.W_OK)


def _check_tracking(res) -> Check:
    if res.tracking_uri.startswith("sqlite:///"):
        db = res.tracking_uri[len("sqlite:///") :]
        if not os.path.exists(db):
            ok = _writable_or_creatable(os.path.dirname(db))
            return Check(
                "mlflow",
                "OK" if ok else "FAILED",
                f"no local store yet at {db} (created by the first training)",
                "" if ok else "make the .dwc folder writable",
            )
    res.client().search_experiments(max_results=1)
    return Check("mlflow", "OK", f"{urlsplit(res.tracking_uri).scheme} store reachable")


def _check_quantum(res) -> Check:
    from qiskit import QuantumCircuit

    qc = QuantumCircuit(1)
    qc.h(0)
    p = res.probabilities(qc)
    return Check("quantum", "OK", f"{res.backend}: H|0> gives {p[0]:.2f}/{p[1]:.2f}; limit {res.max_qubits} qubits")


def _check_notifications(res) -> Check:
    parts = []
    ok = True
    if res.outbox_dir:
        writable = _writable_or_creatable(res.outbox_dir)
        ok &= writable
        parts.append("outbox writable" if writable else f"outbox {res.outbox_dir} NOT writable")
    if res.smtp_host:
        with socket.create_connection((res.smtp_host, res.smtp_port), timeout=5) as s:
            banner = s.recv(200).decode(errors="replace").strip()
        parts.append(f"SMTP {res.smtp_host}:{res.smtp_port} answers {banner[:3]}")
    for name, url in (("webhook", res.webhook_url), ("slack", res.slack_webhook_url)):
        if url:
            u = urlsplit(url)
            with socket.create_connection((u.hostname, u.port or (443 if u.scheme == "https" else 80)), timeout=5):
                pass
            parts.append(f"{name} host reachable")  # no POST: the doctor never sends a message
    log_ok = _writable_or_creatable(os.path.dirname(os.path.abspath(res.log_path)))
    ok &= log_ok
    parts.append("delivery log folder writable" if log_ok else "delivery log folder NOT writable")
    return Check("notifications", "OK" if ok else "FAILED", "; ".join(parts))


def _check_model_store(res) -> Check:
    if not _writable_or_creatable(res.path):
        return Check("model_store", "FAILED", f"{res.path} is not writable", "fix its permissions or DWC_MODEL_STORE")
    models = len(os.listdir(res.path)) if os.path.isdir(res.path) else 0
    return Check("model_store", "OK", f"{res.path}: {models} models")


def _check_blob_store(res) -> Check:
    keyring = res.config().keyring  # raises with the reason when a key is malformed
    if not _writable_or_creatable(res.root):
        return Check("blob_store", "FAILED", f"{res.root} is not writable", "fix its permissions or DWC_BLOB_ROOT")
    census = res.store().key_census() if os.path.isdir(res.root) else {}
    unreadable = sorted(k for k in census if k != "plaintext" and k not in keyring.keys)
    sealing = f"sealed with key {keyring.active}" if keyring.active else "plaintext (no DWC_BLOB_KEYS)"
    detail = f"{res.root}: {sum(census.values())} blobs, new ones {sealing}; by key: " + (
        ", ".join(f"{k} {n}" for k, n in sorted(census.items())) or "none"
    )
    if unreadable:
        return Check(
            "blob_store",
            "FAILED",
            detail + f"; no key configured for {', '.join(unreadable)}",
            "add the missing key ids back to DWC_BLOB_KEYS",
        )
    return Check("blob_store", "OK", detail)


def _check_broker(res) -> Check:
    import threading

    answered, result = threading.Event(), {}
    client = res.client()
    client.on_connect = lambda c, u, flags, rc, props: (result.setdefault("rc", rc), answered.set())
    client.connect(res.host, res.port, keepalive=10)  # OSError when nothing listens
    client.loop_start()
    try:
        where = f"{res.host}:{res.port}{' over TLS' if res.tls else ''}"
        if not answered.wait(5):
            return Check(
                "mqtt",
                "FAILED",
                f"{where} took the TCP connection but sent no CONNACK in 5 s",
                "is it an MQTT listener? check DWC_MQTT_PORT and DWC_MQTT_TLS",
            )
        if result["rc"].is_failure:
            return Check(
                "mqtt",
                "FAILED",
                f"{where} refused the connection: {result['rc']}",
                "check DWC_MQTT_USERNAME / DWC_MQTT_PASSWORD and the broker's password file and ACL",
            )
        return Check("mqtt", "OK", f"{where} accepted a connection (MQTT 3.1.1)")
    finally:
        client.disconnect()
        client.loop_stop()


def _check_chain(res) -> list[Check]:
    """Per configured chain: the node answers with the expected chain id, a signer that can pay for gas,
    the contracts deployed (or deployable). Read-only: nothing is deployed or sent."""
    out = []
    for name in res.names():
        component = f"chain {name}"
        config = res.config_of(name)
        try:
            if config.kind == "embedded" and not os.path.exists(config.state_path or ""):
                out.append(
                    Check(
                        component,
                        "OK",
                        f"embedded chain, not created yet ({config.state_path}); the first anchoring run creates it",
                    )
                )
                continue
            with res.network(name, read_only=True) as net:
                where = "embedded (py-evm)" if config.kind == "embedded" else urlsplit(config.rpc_url).netloc
                detail = f"{where}: chain id {net.chain_id}, block {net.block_number()}"
                if net.address is None:
                    out.append(
                        Check(
                            component,
                            "FAILED",
                            detail + ", no signer",
                            f"set DWC_CHAIN_{name.upper()}_KEY (or _KEYSTORE and _KEYSTORE_PASSWORD)",
                        )
                    )
                    continue
                balance = net.balance()
                detail += f", signer {net.address} with {balance / 1e18:.4f} ETH"
                contracts = {n: net.contract(n, deploy=False) for n in ("AnchorRegistry", "DwcCertificate")}
                detail += "; " + ", ".join(f"{n} {c.address if c else 'not deployed'}" for n, c in contracts.items())
                if balance == 0:
                    out.append(Check(component, "FAILED", detail, "fund the signer: every anchor is a transaction"))
                elif not all(contracts.values()) and not (config.auto_deploy or net.chain_id in DEV_CHAIN_IDS):
                    out.append(
                        Check(
                            component,
                            "FAILED",
                            detail,
                            f"dwc ledger deploy --network {name}, then set DWC_CHAIN_{name.upper()}_REGISTRY "
                            f"and _CERTIFICATE",
                        )
                    )
                else:
                    out.append(Check(component, "OK", detail))
        except Exception as exc:
            out.append(
                Check(
                    component,
                    "FAILED",
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                    f"check DWC_CHAIN_{name.upper()}_RPC_URL and _CHAIN_ID (is the node running? "
                    "make anvil starts a local one)",
                )
            )
    return out


def _check_xr_tools(res) -> Check:
    """The viewer bundle is needed; the validator, the optimiser and the browser are optional (reported)."""
    bundle = res.bundle()  # raises with the fix when missing
    missing, browser = res.validator_missing(), res.browser_path()
    parts = [
        f"viewer bundle {os.path.getsize(bundle) // 1024} KiB",
        f"validator {'missing' if missing else 'installed'}",
        f"gltf-transform {'installed' if res.optimizer() else 'missing'}",
        f"browser {browser or 'missing'}",
    ]
    return Check(
        "xr tools",
        "OK",
        f"{res.scenes_dir}: " + ", ".join(parts),
        "make install-test installs the validator and gltf-transform (npm ci in xr/); "
        "apt-get install chromium for screenshots"
        if missing or not browser
        else "",
    )


CHECKS: dict[str, tuple[str, Callable]] = {
    "warehouse": ("warehouse", _check_warehouse),
    "instance": ("warehouse", _check_instance),
    "landing": ("landing", _check_landing),
    **{f"{n} folder": (f"{n}_folder", _check_drop_folder(n)) for n in DROP_FOLDERS},
    "ai": ("ai", _check_ai),
    "mlflow": ("tracking", _check_tracking),
    "quantum": ("quantum", _check_quantum),
    "notifications": ("notifications", _check_notifications),
    "model_store": ("model_store", _check_model_store),
    "blob_store": ("blob_store", _check_blob_store),
    "mqtt": ("broker", _check_broker),
    "chain": ("chain", _check_chain),
    "xr tools": ("xr_tools", _check_xr_tools),
}
FIXES = {
    "blob_store": "DWC_BLOB_KEYS is 'key_id:base64_of_32_bytes[,...]' (make one: dwc blobs new-key)",
    "ai": "check DWC_LLM_BASE_URL / DWC_LLM_API_KEY, or unset DWC_AI_PROVIDER for the local provider",
    "mlflow": "check DWC_MLFLOW_TRACKING_URI (production) or the .dwc/mlflow folder",
    "quantum": "pip install qiskit-aer (or qiskit-ibm-runtime for ibm_runtime)",
    "notifications": "check DWC_SMTP_HOST/PORT and the webhook URLs; unset what you do not use",
    "xr tools": "cd xr && npm ci && node build.js (the viewer bundle is committed in xr/dist/)",
    "mqtt": "start Mosquitto with deploy/mosquitto.conf, or point DWC_MQTT_HOST / DWC_MQTT_PORT at the broker "
    "(make demo starts an embedded one by itself)",
}


def run_checks(resources: dict) -> list[Check]:
    secrets = _secrets(resources)
    out = []
    for component, (key, fn) in CHECKS.items():
        if key not in resources:
            out.append(Check(component, "SKIPPED", "not configured"))
            continue
        t0 = time.perf_counter()
        try:
            check = fn(_resolved(resources[key]))
        except Exception as exc:  # every failure is a row with its reason, never a traceback
            check = Check(
                component,
                "FAILED",
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                FIXES.get(component, "see the README's Production section"),
            )
        ms = (time.perf_counter() - t0) * 1000
        for c in check if isinstance(check, list) else [check]:
            c.detail = redact(f"{c.detail} ({ms:.0f} ms)", secrets)
            c.fix = redact(c.fix, secrets)
            out.append(c)
    return out


def exit_code(checks: list[Check]) -> int:
    return 1 if any(c.status == "FAILED" and c.component in REQUIRED for c in checks) else 0
