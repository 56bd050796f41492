"""Prometheus metrics of the gateway.

One process: its own registry (so tests can build many gateways). Several
uvicorn workers (`python -m api --workers N`): prometheus-client's
multiprocess mode. `python -m api` gives each run a fresh folder under the
data dir (`PROMETHEUS_MULTIPROC_DIR`) before the workers start; every worker
writes its counts there and `/metrics`, whichever worker answers, adds up all
of them, so a scrape sees the whole server's totals, not one worker's share.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values

log = logging.getLogger("trellis.api")

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    """Whether this process writes its metrics to the shared folder: the variable was
    set before prometheus-client was imported (it picks its value class then)."""
    return bool(os.environ.get(MULTIPROC_ENV)) and values.ValueClass is not values.MutexValue


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("trellis_gateway_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.errors = Counter("trellis_gateway_errors", "Failed requests by error class",
                              ["endpoint", "error_class"], registry=r)
        self.tokens = Counter("trellis_gateway_tokens", "Tokens by direction (input/output)",
                              ["direction"], registry=r)
        self.cost = Counter("trellis_gateway_cost_usd", "Known cost of answered calls, USD",
                            registry=r)
        self.latency = Histogram("trellis_gateway_request_seconds", "Request latency",
                                 ["endpoint", "stream"], buckets=_BUCKETS, registry=r)
        self.ttft = Histogram("trellis_gateway_ttft_seconds", "Time to first token (streams)",
                              buckets=_BUCKETS, registry=r)
        self.shared = multiprocess()
        if os.environ.get(MULTIPROC_ENV) and not self.shared:
            log.warning("%s is set but prometheus-client was imported before it: /metrics "
                        "counts this process only", MULTIPROC_ENV)

    def exposition(self) -> bytes:
        """The text a scrape gets: every worker's counts added up in multiprocess mode."""
        if not self.shared:
            return generate_latest(self.registry)
        from prometheus_client.multiprocess import MultiProcessCollector

        merged = CollectorRegistry()
        MultiProcessCollector(merged)
        return generate_latest(merged)
