"""The platform as the service reaches it: resources of this environment (DWC_ENV), the lake readers,
the Dagster instance, and run launching through Dagster's GraphQL API. Nothing here runs pipeline
logic: work is launched as runs, reads come from what assets materialized."""

from __future__ import annotations

import functools
import threading
from contextlib import contextmanager
from urllib.parse import urlparse

from .problems import Problem
from .settings import Settings


class Platform:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._lock = threading.Lock()

    @functools.cached_property
    def resources(self) -> dict:
        from dwc_pipelines.resources import resources_for

        return resources_for()

    def resource(self, key: str):
        with self._lock:
            cache = self.__dict__.setdefault("_initialized", {})
            if key not in cache:
                cache[key] = self.resources[key].process_config_and_initialize()
            return cache[key]

    def llm(self):
        """The language model for text generation: the `ai` resource when it is the OpenAI-compatible
        provider, else one configured by DWC_LLM_MODEL / DWC_LLM_API_KEY (/ DWC_LLM_BASE_URL) beside the
        offline provider; None when there is none."""
        import os

        ai = self.resource("ai")
        if hasattr(ai, "client"):
            return ai
        if not (os.environ.get("DWC_LLM_MODEL") and os.environ.get("DWC_LLM_API_KEY")):
            return None
        with self._lock:
            if "_llm" not in self.__dict__:
                from dwc_resources.llm import LLMResource

                self._llm = LLMResource(
                    base_url=os.environ.get("DWC_LLM_BASE_URL") or None,
                    model=os.environ["DWC_LLM_MODEL"],
                    api_key=os.environ["DWC_LLM_API_KEY"],
                )
            return self._llm

    @property
    def lake(self):
        return self.resource("warehouse")

    # Opening a lake reader attaches its catalog (50-400 ms here); a request takes a cursor of a
    # connection kept per process instead, reopened after READER_TTL_S so that it never drifts far
    # from the catalog (each query is its own DuckLake transaction and sees the latest snapshot).
    READER_TTL_S = 30.0

    def _base(self, masked: bool, fresh: bool = False):
        import time

        with self._lock:
            cache = self.__dict__.setdefault("_readers", {})
            hit = cache.get(masked)
            if hit and not fresh and time.monotonic() - hit[2] < self.READER_TTL_S:
                return hit[0], hit[1]
        ctx = self.lake.reader() if masked else self.lake.unmasked_reader()
        con = ctx.__enter__()
        database = con.execute("SELECT current_database()").fetchone()[0]
        with self._lock:
            old = cache.get(masked)
            cache[masked] = (con, database, time.monotonic(), ctx)
        if old is not None:
            # Cursors still open keep the old database alive; the context closes only its connection.
            old[3].__exit__(None, None, None)
        return con, database

    @contextmanager
    def reader(self, masked: bool):
        """A read-only lake connection: the masked analyst lake, or the lake itself."""
        import duckdb

        try:
            try:
                base, database = self._base(masked)
                cur = base.cursor()
            except duckdb.ConnectionException:  # the base was closed under us: reopen once
                base, database = self._base(masked, fresh=True)
                cur = base.cursor()
            cur.execute(f"USE {database}")
        except (FileNotFoundError, duckdb.InvalidInputException, duckdb.IOException) as exc:
            raise Problem(
                503, "lake_unavailable", f"the lake cannot be read (has anything been materialized yet?): {exc}"
            ) from exc
        try:
            yield cur
        finally:
            cur.close()

    @functools.cached_property
    def instance(self):
        from dwc_pipelines.cli_support import dagster_instance

        return dagster_instance()

    def _client(self):
        from dagster_graphql import DagsterGraphQLClient

        url = urlparse(self.settings.dagster_url)
        return DagsterGraphQLClient(
            url.hostname or "127.0.0.1",
            port_number=url.port,
            use_https=url.scheme == "https",
            timeout=30,
            path_prefix=url.path.rstrip("/"),
        )

    def _unreachable(self, exc: Exception) -> Problem:
        return Problem(
            503,
            "dagster_unavailable",
            f"cannot reach the Dagster webserver at {self.settings.dagster_url} (start it with `make ui`, or set "
            f"DWC_DAGSTER_URL): {type(exc).__name__}",
        )

    def reload_location(self, name: str = "dwc") -> str:
        """Reload the code location, so that what the API declared (chains, models, schedules) loads."""
        from dagster_graphql import DagsterGraphQLClientError

        try:
            info = self._client().reload_repository_location(name)
        except DagsterGraphQLClientError as exc:
            if _unreachable_cause(exc):
                raise self._unreachable(exc) from exc
            raise Problem(502, "reload_failed", f"the code location did not reload: {str(exc)[:300]}") from exc
        except Exception as exc:
            raise self._unreachable(exc) from exc
        status = getattr(info.status, "value", str(info.status))
        if status != "SUCCESS":
            raise Problem(502, "reload_failed", f"the code location did not reload: {info.message or status}")
        return status

    def launch(
        self, job_name: str, run_config: dict | None = None, tags: dict | None = None, asset_selection=None
    ) -> dict:
        """Submit a run of `job_name` to the code location through the webserver's GraphQL API."""
        from dagster_graphql import DagsterGraphQLClientError

        client = self._client()
        try:
            run_id = client.submit_job_execution(
                job_name,
                run_config=run_config or {},
                tags={k: str(v) for k, v in (tags or {}).items()},
                asset_selection=asset_selection,
            )
        except DagsterGraphQLClientError as exc:
            if _unreachable_cause(exc):
                raise self._unreachable(exc) from exc
            reason = str(exc)
            if "JobNotFoundError" in reason or "PipelineNotFoundError" in reason:
                raise Problem(404, "job_not_found", f"the code location has no job {job_name!r}") from exc
            raise Problem(422, "run_rejected", f"Dagster rejected the run of {job_name}: {reason[:500]}") from exc
        except Exception as exc:  # connection refused, timeouts: the webserver is not there
            raise self._unreachable(exc) from exc
        return self.run_ref(run_id, job_name)

    def run_ref(self, run_id: str, job_name: str | None = None, status: str = "QUEUED") -> dict:
        return {
            "run_id": run_id,
            "job_name": job_name,
            "status": status,
            "status_url": f"{self.settings.public_url}/api/v3/runs/{run_id}",
            "dagster_url": f"{self.settings.dagster_url}/runs/{run_id}",
        }

    def run(self, run_id: str) -> dict | None:
        record = self.instance.get_run_record_by_id(run_id)
        if record is None:
            return None
        run = record.dagster_run
        return {
            **self.run_ref(run.run_id, run.job_name, run.status.value),
            "tags": {k: v for k, v in run.tags.items() if not k.startswith(".dagster")},
            "created_at": record.create_timestamp.isoformat(),
            "updated_at": record.update_timestamp.isoformat(),
            "start_time": record.start_time,
            "end_time": record.end_time,
        }


def _unreachable_cause(exc: BaseException) -> bool:
    """The GraphQL client wraps connection failures; they mean the webserver is not there."""
    import requests

    seen = exc
    while seen is not None:
        if isinstance(seen, (requests.ConnectionError, requests.Timeout, ConnectionError, TimeoutError)):
            return True
        seen = seen.__cause__ or seen.__context__
    return "Connection refused" in str(exc) or "Max retries exceeded" in str(exc)
