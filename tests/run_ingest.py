"""Runs the ingest job on a test deployment rooted at argv[1] (used by the kill test)."""

import sys
from pathlib import Path

import dagster as dg

from tests.conftest import Env

if __name__ == "__main__":
    env = Env(Path(sys.argv[1]))
    env.configure_landing(batch_size=int(sys.argv[2]))
    (Path(sys.argv[1]) / "dagster").mkdir(exist_ok=True)
    with dg.instance_for_test(temp_dir=str(Path(sys.argv[1]) / "dagster")) as instance:
        result = env.run_ingest(instance)
    sys.exit(0 if result.success else 1)
