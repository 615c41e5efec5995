"""What operators watch (Prometheus, at /metrics): media answers, bytes, streams in
flight, DCS latency and failures, the breaker and the bulkhead.

Under gunicorn every worker process writes its samples to
PROMETHEUS_MULTIPROC_DIR (deploy/gunicorn.conf.py sets it) and a scrape adds
them up (prometheus_client's multi-process mode); elsewhere (the dev server,
the tests' own process) they live in this process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

media_responses = Counter(
    "lms_media_responses", "Media responses, by status and outcome", ["status", "outcome"]
)
media_bytes = Counter("lms_media_bytes_sent", "Body bytes sent by the media endpoint")
streams_in_flight = Gauge(
    "lms_media_streams_in_flight", "Media responses under way", multiprocess_mode="livesum"
)
bulkhead_rejections = Counter(
    "lms_media_bulkhead_rejections", "Media requests refused because the bulkhead was full"
)
dcs_latency = Histogram(
    "lms_dcs_request_seconds",
    "Time from a DCS request to its response head (or its failure)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
dcs_failures = Counter("lms_dcs_failures", "DCS requests that failed (connect, timeout, 5xx)")
breaker_transitions = Counter(
    "lms_dcs_breaker_transitions", "Circuit breaker transitions, by new state", ["state"]
)

BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


class BreakerCollector:
    """The breaker's state, read from the shared cache at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from media_proxy.dcs import get_breaker

        state = get_breaker().state()
        family = GaugeMetricFamily(
            "lms_dcs_breaker_state", "DCS circuit breaker: 0 closed, 1 half-open, 2 open"
        )
        family.add_metric([], BREAKER_STATES[state])
        yield family


def exposition() -> bytes:
    """Every metric in Prometheus's text format."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    output = generate_latest(registry)
    breaker = CollectorRegistry()
    breaker.register(BreakerCollector())
    return output + generate_latest(breaker)
