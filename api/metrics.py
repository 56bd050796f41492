"""Prometheus metrics of one gateway process (its own registry, so tests can build many)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


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
