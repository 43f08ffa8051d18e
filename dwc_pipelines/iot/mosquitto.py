"""A Mosquitto of our own, started with deploy/mosquitto.conf on a free loopback port (loss tests
and bench/telemetry). As root, mosquitto drops to the `mosquitto` user, so its directory (outside
any private temporary tree) is handed to that user."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

CONF = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto.conf"


def binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if os.path.exists(p)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Mosquitto:
    def __init__(self, root: Path | None = None, port: int | None = None):
        self.root = Path(root or tempfile.mkdtemp(prefix="dwc-mosquitto-"))
        self.port = port or free_port()
        self.root.mkdir(parents=True, exist_ok=True)
        conf = [line for line in CONF.read_text().splitlines() if not line.startswith("listener")]
        conf += [
            f"listener {self.port} 127.0.0.1",
            f"persistence_location {self.root}/",
            f"log_dest file {self.root}/mosquitto.log",
            f"pid_file {self.root}/mosquitto.pid",
        ]
        (self.root / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        if os.geteuid() == 0:
            user = pwd.getpwnam("mosquitto")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 20.0) -> Mosquitto:
        self.proc = subprocess.Popen(
            [binary() or "mosquitto", "-c", str(self.root / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.2)
        log = self.root / "mosquitto.log"
        raise RuntimeError(f"mosquitto did not start on port {self.port}: {log.read_text() if log.exists() else ''}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # a clean stop writes the persistence file
            self.proc.wait(timeout=30)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
