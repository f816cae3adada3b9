"""Prometheus metrics, one registry per app (tests can run several apps in one process)."""

from __future__ import annotations

from typing import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("shopsearch_requests", "HTTP requests", ["route", "status"], registry=r)
        self.latency = Histogram("shopsearch_request_seconds", "HTTP request latency", ["route"], registry=r,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.batch_size = Histogram("shopsearch_embedding_batch_size", "texts per model call", registry=r,
                                    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256))
        self.queue_depth = Gauge("shopsearch_embedding_queue_depth", "texts waiting for the model", registry=r)
        self.tokens = Counter("shopsearch_tokens", "input tokens", ["route"], registry=r)
        self.truncations = Counter("shopsearch_truncations", "inputs cut to the token limit", registry=r)
        self.model_truncations = Gauge("shopsearch_model_truncations", "inputs the embedding model cut to its max_tokens",
                                       registry=r)
        self.cache = Counter("shopsearch_cache", "cache lookups", ["kind", "result"], registry=r)
        self.cache_errors = Counter("shopsearch_cache_errors", "cache operations that failed (answered without the cache)",
                                    ["operation"], registry=r)
        self.degraded = Counter("shopsearch_degraded_answers", "search answers that skipped a failed stage", registry=r)
        self.in_flight = Gauge("shopsearch_requests_in_flight", "API requests being served or waiting", registry=r)
        self.rejected = Counter("shopsearch_rejected", "requests refused by a limit", ["reason"], registry=r)
        self.rate_limited = Counter("shopsearch_rate_limited", "requests over their key's rate (by the key's name)",
                                    ["key"], registry=r)


class ReadCounter:
    """A counter kept elsewhere (the engine's), read at each scrape."""

    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self.name, self.documentation, self.read = name, documentation, read

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily(self.name, self.documentation, value=self.read())
