"""Access control: nginx (Debian's package) with basic authentication in front of the Dagster
webserver, and a read-only webserver for viewers. Unauthenticated requests are refused, an
authenticated one reaches the UI, and the read-only UI cannot launch a run."""

import base64
import hashlib
import json
import os
import shutil
import string
import sys
import urllib.error
import urllib.request
from pathlib import Path

from .conftest import ROOT, require
from .test_deployment import Processes, free_port, wait_for

BIN = Path(sys.executable).parent
LAUNCH = """mutation {
  launchRun(executionParams: {selector: {repositoryLocationName: "heartbeat", repositoryName: "__repository__",
                                         jobName: "heartbeat_job"}}) {
    __typename
    ... on UnauthorizedError { message }
    ... on LaunchRunSuccess { run { runId } }
  }
}"""


def ssha(password: str) -> str:
    salt = os.urandom(8)
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def request(url: str, auth: tuple[str, str] | None = None, body: dict | None = None) -> tuple[int, str]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json"} if body else {},
    )
    if auth:
        req.add_header("Authorization", "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")
    except OSError as exc:  # not listening yet
        return 0, str(exc)


def test_nginx_authenticates_and_the_viewer_webserver_is_read_only(tmp_path):
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    require(nginx is not None, "nginx is not installed (Debian: apt-get install nginx-light)")
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    import dagster as dg

    dg.DagsterInstance.from_config(str(home)).dispose()  # storage created once, before two webservers open it
    listen, ui, viewer = free_port(), free_port(), free_port()
    (tmp_path / "htpasswd").write_text(f"alice:{ssha('correct horse')}\n")
    os.chmod(tmp_path / "htpasswd", 0o644)
    site = string.Template((ROOT / "deploy" / "nginx.conf.template").read_text()).safe_substitute(
        DWC_LISTEN=f"127.0.0.1:{listen}",
        DWC_UI_UPSTREAM=f"127.0.0.1:{ui}",
        DWC_VIEWER_UPSTREAM=f"127.0.0.1:{viewer}",
        DWC_HTPASSWD=str(tmp_path / "htpasswd"),
    )
    # As root, nginx's workers would drop to nobody, who cannot enter pytest's private tmp dir.
    user = "user root;\n" if os.geteuid() == 0 else ""
    (tmp_path / "nginx.conf").write_text(
        f"{user}worker_processes 1;\npid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/nginx-error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log {tmp_path}/nginx-access.log;\n  client_body_temp_path {tmp_path}/body;\n"
        f"  proxy_temp_path {tmp_path}/proxy;\n{site}\n}}\n"
    )
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    (tmp_path / "workspace.yaml").write_text(
        f"load_from:\n  - python_file: {{relative_path: {ROOT / 'tests' / 'locations' / 'heartbeat.py'}, "
        "location_name: heartbeat}\n"
    )
    location = ["-w", str(tmp_path / "workspace.yaml")]
    procs = Processes(tmp_path / "logs")
    try:
        procs.start("ui", [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(ui), *location], env)
        procs.start(
            "viewer",
            [
                str(BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(viewer),
                "--read-only",
                "--path-prefix",
                "/viewer",
                *location,
            ],
            env,
        )
        procs.start("nginx", [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-g", "daemon off;"], env)
        base = f"http://127.0.0.1:{listen}"
        alice = ("alice", "correct horse")
        wait_for(
            lambda: (
                request(f"{base}/server_info", alice)[0] == 200
                and request(f"{base}/viewer/server_info", alice)[0] == 200
            ),
            120,
            "both webservers behind nginx",
            procs,
        )

        assert request(f"{base}/")[0] == 401
        assert request(f"{base}/viewer/")[0] == 401
        assert request(f"{base}/", ("alice", "wrong"))[0] == 401
        assert request(f"{base}/graphql", body={"query": LAUNCH})[0] == 401
        status, page = request(f"{base}/", alice)
        assert status == 200 and ">Dagster</title>" in page
        status, page = request(f"{base}/viewer/", alice)
        assert status == 200 and ">Dagster</title>" in page

        status, body = request(f"{base}/viewer/graphql", alice, {"query": LAUNCH})
        assert status == 200 and json.loads(body)["data"]["launchRun"]["__typename"] == "UnauthorizedError", body
        status, body = request(f"{base}/graphql", alice, {"query": LAUNCH})
        assert status == 200 and json.loads(body)["data"]["launchRun"]["__typename"] == "LaunchRunSuccess", body
    finally:
        procs.stop()
