"""What every `dwc` command shares: the lake and the instance this environment configures, running a
job, and how a command ends (exit status 0 done, 1 a user error with one line saying what to do, 2 a
usage error, argparse's own). The CLI and the on-chain commands both build on this module, never on
each other."""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path


def lakehouse():
    """The lake this environment configures (DWC_ENV), its dg.EnvVar fields read."""
    from dwc_pipelines.resources import lakehouse_resource

    return lakehouse_resource().process_config_and_initialize()


def read_analyst():
    return lakehouse().reader()


# Exit status of every command: 0 done, 1 a user error (one line on stderr saying what to do), 2 a
# usage error (argparse's own).
USER_ERROR = 1


def fail(command: str, message: str) -> int:
    print(f"dwc {command}: {message}", file=sys.stderr)
    return USER_ERROR


def print_json(value) -> None:
    import json

    print(json.dumps(value, default=str, ensure_ascii=False, indent=1))


def ensure_dagster_home() -> None:
    """Outside the Makefile: the instance that ./dagster.yaml describes (its state under DWC_HOME)."""
    if "DAGSTER_HOME" not in os.environ and Path("dagster.yaml").exists():
        os.environ["DAGSTER_HOME"] = os.getcwd()
    if "DAGSTER_HOME" not in os.environ:
        raise SystemExit("dwc: set DAGSTER_HOME (or run from the repository root, where dagster.yaml is)")


@functools.cache
def dagster_instance():
    """The instance of this environment, one per process, disposed at exit."""
    import atexit

    import dagster as dg

    ensure_dagster_home()
    instance = dg.DagsterInstance.get()
    atexit.register(_dispose_instance, instance)
    return instance


def _dispose_instance(instance) -> None:
    import logging

    instance.dispose()
    # SQLite connections that the storages still hold when the interpreter tears down are finalized
    # after their database closed; SQLAlchemy logs each as an "Exception during reset" traceback.
    # Nothing is lost by then (every run has ended and committed), so those lines are only noise.
    logging.getLogger("sqlalchemy.pool").setLevel(logging.CRITICAL)


def run_job(job_name: str, run_config: dict) -> int:
    from dwc_pipelines.definitions import defs
    from dwc_pipelines.progress import run_with_progress

    job = defs.resolve_job_def(job_name)
    result = run_with_progress(job, dagster_instance(), time.monotonic(), run_config, label="elapsed")
    return outcome(result)


def outcome(result) -> int:
    """Print a run's result (and its failures); 0 when it succeeded."""
    print(f"run {result.run_id}: {'SUCCESS' if result.success else 'FAILURE'}")
    if not result.success:
        for ev in result.all_events:
            if ev.is_failure:
                print(ev.message, file=sys.stderr)
        return 1
    return 0
