"""A local Anvil node (Foundry, from the npm registry: contracts/node_modules): for tests, benchmarks and
`make anvil`. Anvil writes its --state file on a clean exit, and every --state-interval seconds."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

_MODULES = Path(__file__).resolve().parents[1] / "contracts" / "node_modules"
# The platform package's binary itself: the npm launcher in .bin is a Node.js script whose child would
# outlive a kill of the launcher.
BINARY = next(iter(sorted(_MODULES.glob("@foundry-rs/anvil-*/bin/anvil"))), _MODULES / ".bin" / "anvil")
# Anvil's first development account: public knowledge, for local nodes only.
DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
CHAIN_ID = 31337


def start(port: int, state: str | None = None, state_interval: int = 1, timeout_s: float = 30.0) -> subprocess.Popen:
    """Anvil on 127.0.0.1:`port`, once it accepts connections."""
    args = [str(BINARY), "--port", str(port), "--silent"]
    if state:
        args += ["--state", str(state), "--state-interval", str(state_interval)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"anvil did not start on port {port}: {proc.stderr.read().decode()[:500]}")
