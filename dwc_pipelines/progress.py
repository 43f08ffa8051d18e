"""Progress a person can follow while `dwc demo` runs jobs in process: a line per finished step,
numbered against the job's steps, with the step's time and the time since the demo began; warnings
and failures in full. Dagster's console logger would print a dozen debug lines per step instead."""

from __future__ import annotations

import logging
import sys
import time

import dagster as dg

_DONE = {"STEP_SUCCESS": "done", "STEP_FAILURE": "FAILED", "STEP_SKIPPED": "skipped"}


def clock(started: float) -> str:
    seconds = int(time.monotonic() - started)
    return f"{seconds // 60}:{seconds % 60:02d}"


class _StepLines(logging.Handler):
    def __init__(self, total: int, started: float, label: str):
        super().__init__(logging.DEBUG)
        self.total, self.started, self.label, self.done, self.began = total, started, label, 0, {}

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event")
        kind = event.event_type_value if event is not None else None
        step = meta.get("step_key") or ""
        if kind == "STEP_START":
            self.began[step] = time.monotonic()
        elif kind in _DONE:
            self.done += 1
            took = time.monotonic() - self.began.pop(step, time.monotonic())
            name = step.replace("__", "/")
            print(
                f"  [{self.done:>3}/{self.total}] {name:<48} {_DONE[kind]:<7} {took:6.1f} s   "
                f"({self.label} {clock(self.started)})",
                flush=True,
            )
            if kind == "STEP_FAILURE" and event.step_failure_data and event.step_failure_data.error:
                print(event.step_failure_data.error.to_string(), file=sys.stderr, flush=True)
        elif event is None and record.levelno >= logging.WARNING:
            print(f"  warning: {meta.get('orig_message', record.getMessage())}", file=sys.stderr, flush=True)


def run_with_progress(job, instance, started: float, run_config: dict | None = None, label: str = "demo", **kwargs):
    """`job.execute_in_process` with step lines instead of Dagster's console log; each line ends with the
    time since `started` (the demo's start, or the command's), named by `label`."""
    total = len(job.nodes_in_topological_order)

    @dg.logger(description="Step lines for `dwc demo`")
    def progress(_init_context):
        log = logging.getLogger(f"dwc.progress.{job.name}")
        log.setLevel(logging.DEBUG)
        log.handlers = [_StepLines(total, started, label)]
        log.propagate = False
        return log

    return job.with_logger_defs({"progress": progress}).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={**(run_config or {}), "loggers": {"progress": {}}},
        **kwargs,
    )
