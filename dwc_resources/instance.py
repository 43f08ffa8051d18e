"""Where the embedded Dagster instance keeps its state, with defaults relative to the project.

Dagster's `dagster.yaml` reads a path from an environment variable (`env: NAME`) but has no
default for it, so the instance failed to load without the Makefile's variables. These are
Dagster's own SQLite storage, artifact storage and compute-log manager, whose `base_dir` is
optional: an explicit `base_dir` wins, then `DWC_DAGSTER_DIR` (`DWC_DAGSTER_LOGS` for compute logs),
then `$DWC_HOME/dagster` (`.dwc/dagster` in the directory `dagster dev` or `dwc` runs from).
"""

from __future__ import annotations

import os

from dagster import Field, StringSource
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager
from dagster._core.storage.root import LocalArtifactStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage

from .lakehouse import dwc_home

_OPTIONAL_DIR = {"base_dir": Field(StringSource, is_required=False)}


def instance_dir(config_value=None) -> str:
    """The directory that holds run, event and schedule storage and run artifacts."""
    explicit = (config_value or {}).get("base_dir")
    return os.path.abspath(explicit or os.environ.get("DWC_DAGSTER_DIR") or os.path.join(dwc_home(), "dagster"))


def compute_log_dir(config_value=None) -> str:
    explicit = (config_value or {}).get("base_dir")
    return os.path.abspath(
        explicit or os.environ.get("DWC_DAGSTER_LOGS") or os.path.join(instance_dir(), "compute_logs")
    )


class ProjectSqliteStorage(DagsterSqliteStorage):
    @classmethod
    def config_type(cls):
        return _OPTIONAL_DIR

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls.from_local(instance_dir(config_value), inst_data=inst_data)


class ProjectArtifactStorage(LocalArtifactStorage):
    @classmethod
    def config_type(cls):
        return _OPTIONAL_DIR

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(instance_dir(config_value), inst_data=inst_data)


class ProjectComputeLogManager(LocalComputeLogManager):
    @classmethod
    def config_type(cls):
        return {**LocalComputeLogManager.config_type(), **_OPTIONAL_DIR}

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        rest = {k: v for k, v in (config_value or {}).items() if k != "base_dir"}
        return cls(compute_log_dir(config_value), inst_data=inst_data, **rest)
