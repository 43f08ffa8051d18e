"""IoT telemetry: MQTT micro-batches to hourly partitions, device registry, rollups, anomalies, commands.

The Dagster definitions load on first use (`iot.defs`), so the consumer (`python -m
dwc_pipelines.iot.consumer`) starts without importing Dagster: on an edge host it needs paho only.
"""

_LAZY = {
    "defs",
    "telemetry_load_job",
    "iot_job",
    "TELEMETRY",
    "QUARANTINE",
    "DEVICES",
    "ROLLUPS",
    "ANOMALIES",
    "COMMANDS",
}


def __getattr__(name: str):
    if name not in _LAZY:  # submodules and anything else: the normal import machinery
        raise AttributeError(name)
    from . import definitions

    return getattr(definitions, name)
