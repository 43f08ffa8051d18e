"""Prometheus metrics of the service: requests by route and status, latency, and the custom counters
callers post (kept in the store, so every worker reports the same values)."""

from __future__ import annotations

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

REGISTRY = CollectorRegistry()
REQUESTS = Counter("dwc_api_requests", "Requests answered", ["method", "route", "status"], registry=REGISTRY)
LATENCY = Histogram(
    "dwc_api_request_seconds",
    "Time to answer",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(route).observe(seconds)


class CustomCounters:
    """The counters of /api/v3/metrics/metrics/counter, read from the store at each scrape."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine

    def collect(self):
        from .store import counters

        family = GaugeMetricFamily("dwc_custom_metric", "Custom metrics posted to the API", labels=["name", "category"])
        with self.engine.connect() as con:
            for row in con.execute(sa.select(counters)).all():
                family.add_metric([row.name, row.category], row.value)
        yield family

    def describe(self):
        return []
