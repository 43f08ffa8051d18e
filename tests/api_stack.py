"""A running platform for the API's live tests and bench/api: the Dagster webserver and daemon on the
repository's workspace, and `dwc api serve` with N uvicorn workers, all on a temporary DWC_HOME."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from pathlib import Path

from .test_deployment import Processes, free_port, wait_for, webserver_up

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ADMIN_PASSWORD = "live admin password 2026"


def http(method: str, url: str, body=None, headers=None, timeout: float = 60):
    """(status, parsed JSON or text, headers) without raising on 4xx/5xx."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status, hdrs = r.read(), r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, dict(e.headers)
    try:
        return status, json.loads(raw), hdrs
    except ValueError:
        return status, raw.decode(errors="replace"), hdrs


class Stack:
    def __init__(self, root: Path, workers: int = 2, api_env: dict | None = None, events: bool = True, docs: int = 6):
        self.root = root
        self.home = root / "dwc"
        (self.home / "landing").mkdir(parents=True, exist_ok=True)
        if events:
            shutil.copytree(ROOT / "samples" / "events", self.home / "events", dirs_exist_ok=True)
        # A few real documents, so that the lake exists and chains have something to select.
        sample = sorted(p for p in (ROOT / "samples" / "landing" / "news").rglob("*") if p.is_file())[:docs]
        for p in sample:
            shutil.copy(p, self.home / "landing" / p.name)
        self.web_port, self.api_port = free_port(), free_port()
        self.procs = Processes(root / "logs")
        self.env = {
            **os.environ,
            "DAGSTER_HOME": str(ROOT),
            "DWC_HOME": str(self.home),
            "DWC_ENV": "local",
            "DWC_AI_PROVIDER": "local",
            "DWC_API_SECRET": "live-test-signing-key-" + "k" * 32,
            "DWC_API_REDIS_URL": "redis://127.0.0.1:6379",
            "DWC_API_REDIS_PREFIX": f"live_{self.api_port}",
            "DWC_DAGSTER_URL": f"http://127.0.0.1:{self.web_port}",
            "DWC_API_PUBLIC_URL": f"http://127.0.0.1:{self.api_port}",
            "MLFLOW_DISABLE_TELEMETRY": "true",
        }
        self.api_env = {**self.env, **(api_env or {})}
        self.workers = workers
        self.admin_password = ADMIN_PASSWORD
        self.url = f"http://127.0.0.1:{self.api_port}"

    def start(self, dagster: bool = True) -> Stack:
        env = self.env
        if dagster:
            # The instance's SQLite storages made once, before three processes race to migrate them.
            import subprocess

            subprocess.run(
                [sys.executable, "-c", "import dagster as dg; dg.DagsterInstance.get().dispose()"],
                env=env,
                cwd=ROOT,
                check=True,
                capture_output=True,
                timeout=120,
            )
            self.procs.start(
                "webserver",
                [
                    str(BIN / "dagster-webserver"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.web_port),
                    "-w",
                    str(ROOT / "workspace.yaml"),
                ],
                env,
            )
            self.procs.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(ROOT / "workspace.yaml")], env)
        r = os.system(  # the first admin, as a user creates one
            f"cd {ROOT} && printf '%s\\n' '{ADMIN_PASSWORD}' | DWC_HOME={self.home} DWC_API_SECRET={env['DWC_API_SECRET']} "
            f"{BIN / 'dwc'} api create-user admin --role admin --password-stdin > {self.root}/create-user.log 2>&1"
        )
        assert r == 0, (self.root / "create-user.log").read_text()
        self.procs.start(
            "api",
            [str(BIN / "dwc"), "api", "serve", "--port", str(self.api_port), "--workers", str(self.workers)],
            self.api_env,
        )
        wait_for(
            lambda: http("GET", f"{self.url}/health")[0] == 200 if up(self.api_port) else False,
            120,
            "the API",
            self.procs,
        )
        if dagster:
            wait_for(
                lambda: webserver_up(self.web_port) and self._location_loaded(), 300, "the code location", self.procs
            )
        return self

    def _location_loaded(self) -> bool:
        query = (
            "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
            "locationOrLoadError { __typename } } } } }"
        )
        status, body, _ = http("POST", f"http://127.0.0.1:{self.web_port}/graphql", {"query": query})
        entries = (
            (body.get("data") or {}).get("workspaceOrError", {}).get("locationEntries", []) if status == 200 else []
        )
        for e in entries:
            if e["loadStatus"] == "LOADED" and e["locationOrLoadError"]["__typename"] == "PythonError":
                raise AssertionError(f"the code location failed to load:\n{self.procs.log('webserver')}")
        return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)

    def token(self, user: str = "admin", password: str = ADMIN_PASSWORD) -> dict:
        status, body, _ = http(
            "POST", f"{self.url}/api/v3/security/auth/login", {"username": user, "password": password}
        )
        assert status == 200, body
        return {"Authorization": f"Bearer {body['access_token']}"}

    def wait_run(self, run_id: str, headers: dict, timeout: float = 600) -> str:
        deadline = time.time() + timeout
        while time.time() < deadline:
            status, body, _ = http("GET", f"{self.url}/api/v3/runs/{run_id}", headers=headers)
            if status == 200 and body["status"] in ("SUCCESS", "FAILURE", "CANCELED"):
                return body["status"]
            time.sleep(2)
        raise AssertionError(f"run {run_id} did not finish in {timeout}s\n{self.procs.log('daemon')}")

    def stop(self) -> None:
        self.procs.stop()


def schemathesis(
    url: str, authorization: str, report: Path, checks: str, timeout: float = 1800
) -> tuple[int, list[str], str]:
    """schemathesis (examples and fuzzing, 3 examples per operation, fixed seed) against the live schema:
    (operations tested, operations that failed a check, its output's tail)."""
    import subprocess
    import xml.etree.ElementTree as ET

    args = [str(BIN / "schemathesis"), "run", url + "/openapi.json", "-H", f"Authorization: {authorization}"]
    args += ["--checks", checks, "--phases", "examples,fuzzing", "--max-examples", "3", "--request-timeout", "60"]
    args += ["--workers", "2", "--seed", "1", "--report-junit-path", str(report)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    cases = list(ET.parse(report).getroot().iter("testcase"))
    failed = [c.get("name") for c in cases if c.find("failure") is not None or c.find("error") is not None]
    return len(cases), failed, out.stdout[-6000:]


def up(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
