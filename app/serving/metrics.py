"""Prometheus metrics of one app instance, in a registry of its own (tests build many apps).

With WORKERS=N every process of the server (the engine and each front-end) writes its series to
files in PROMETHEUS_MULTIPROC_DIR, set by the supervisor before any of them starts, and `/metrics`
on any front-end sums them (prometheus-client's multiprocess mode). The gauges are then set every
GAUGE_REFRESH_S by each process (`refresh`), since a callback can only be read in its own process."""

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from app.compilation import COMPILATIONS

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
BATCH_TOKEN_BUCKETS = (16, 64, 256, 512, 1024, 2048, 4096, 8192, 16384)
GAUGE_REFRESH_S = 1.0
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class CompilationsCollector(Collector):
    """Encoders compiled by this process: 1 on a first start with COMPILE, 0 when the package came
    from the cache or COMPILED_PACKAGE. The compiled graph serves every shape, so traffic never
    adds one."""

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(
            "bert_serving_model_compilations",
            "Encoders this process compiled (not loaded from a package); never rises with traffic.",
            value=COMPILATIONS.count,
        )


class ServiceMetrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.multiprocess = MULTIPROCESS_DIR in os.environ
        self._tracked: list[tuple[Gauge, Callable[[], float]]] = []
        self._compilations_counted = 0
        self.registry = CollectorRegistry()
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._model_series: dict[tuple[str, int], tuple[Any, ...]] = {}
        self.requests = Counter(
            "bert_serving_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "bert_serving_request_duration_seconds",
            "Time from request to response, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refused_requests = Counter(
            "bert_serving_requests_refused",
            "Inference requests refused with 429 by admission control, before routing.",
            registry=self.registry,
        )
        self.unauthorized_requests = Counter(
            "bert_serving_requests_unauthorized",
            "POSTs refused with 401 (no or a wrong API key), before routing.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "bert_serving_queue_inputs",
            "Inputs waiting for the model.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.in_flight = Gauge(
            "bert_serving_requests_in_flight",
            "Inference requests admitted and not yet answered.",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.refused_connections = Counter(
            "bert_serving_connections_refused",
            "Requests answered 408 or 431 before routing, by reason: header_timeout, header_bytes, "
            "header_count (their connection then closes).",
            ["reason"],
            registry=self.registry,
        )
        self.bodies_receiving = Gauge(
            "bert_serving_request_bodies_receiving",
            "POST bodies still arriving (they hold no admission slot; at most MAX_PENDING_BODIES).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.model_requests = Counter(
            "bert_serving_model_requests",
            "Inference requests by the model they named (or the default one) and status.",
            ["model", "status"],
            registry=self.registry,
        )
        self.model_request_seconds = Histogram(
            "bert_serving_model_request_duration_seconds",
            "Time from request to response, by model.",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "bert_serving_batch_size",
            "Inputs per model batch, by model.",
            ["model"],
            buckets=BATCH_SIZE_BUCKETS,
            registry=self.registry,
        )
        self.batch_tokens = Histogram(
            "bert_serving_batch_tokens",
            "Tokens per model batch (real ones: batches run without padding), by model.",
            ["model"],
            buckets=BATCH_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.model_busy_seconds = Counter(
            "bert_serving_model_busy_seconds",
            "Seconds the engine spent computing each model's batches: the rate of their sum is the share "
            "of time it is busy.",
            ["model"],
            registry=self.registry,
        )
        # What Triton's statistics extension reports (`/v2/models/<name>/stats`), whole-server.
        self.model_request_outcome_seconds = Counter(
            "bert_serving_model_request_outcome_seconds",
            "Seconds from request to response, summed, by model and outcome (success: 2xx; fail).",
            ["model", "outcome"],
            registry=self.registry,
        )
        self.model_queue_seconds = Counter(
            "bert_serving_model_queue_seconds",
            "Seconds each input waited in the queue before its batch, summed, by model.",
            ["model"],
            registry=self.registry,
        )
        self.batches_by_size = Counter(
            "bert_serving_batches_by_size",
            "Batches by model and their exact number of inputs.",
            ["model", "batch_size"],
            registry=self.registry,
        )
        self.batch_seconds_by_size = Counter(
            "bert_serving_batch_seconds_by_size",
            "Seconds computing batches, by model and their exact number of inputs.",
            ["model", "batch_size"],
            registry=self.registry,
        )
        self.model_last_inference = Gauge(
            "bert_serving_model_last_inference_timestamp_seconds",
            "When the model last answered an inference request (Unix time).",
            ["model"],
            registry=self.registry,
            multiprocess_mode="max",
        )
        self.models_loaded = Gauge(
            "bert_serving_models_loaded",
            "Models loaded and ready to serve.",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.engine_instances = Gauge(
            "bert_serving_engine_instances",
            "Batches the engine runs at once over one copy of the weights (INSTANCES).",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.engine_threads_per_instance = Gauge(
            "bert_serving_engine_threads_per_instance",
            "torch intra-op threads of each engine instance.",
            registry=self.registry,
            multiprocess_mode="livemax",
        )
        self.model_load_seconds = Gauge(
            "bert_serving_model_load_seconds",
            "Time to load and warm up the model.",
            registry=self.registry,
            multiprocess_mode="max",
        )
        if self.multiprocess:  # the engine process's count, written to its file like the rest
            self.compilations = Counter(
                "bert_serving_model_compilations",
                "Encoders this process compiled (not loaded from a package); never rises with traffic.",
                registry=self.registry,
            )
        else:
            self.registry.register(CompilationsCollector())

    # `labels()` checks and joins its arguments under a lock on every call, a fifth of what metrics
    # cost per request; each label set's series are looked up once here, then reused.

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """By method too: `GET /` (Azure's liveness probe) and `POST /` (the HF API) share a path."""
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.requests.labels(method=method, route=route, status=str(status)),
                self.request_seconds.labels(method=method, route=route),
            )
        series[0].inc()
        series[1].observe(seconds)

    def observe_model_request(self, model: str, status: int, seconds: float) -> None:
        key = (model, status)
        series = self._model_series.get(key)
        if series is None:
            outcome = "success" if 200 <= status < 300 else "fail"
            series = self._model_series[key] = (
                self.model_requests.labels(model=model, status=str(status)),
                self.model_request_seconds.labels(model=model),
                self.model_request_outcome_seconds.labels(model=model, outcome=outcome),
                self.model_last_inference.labels(model=model),
            )
        series[0].inc()
        series[1].observe(seconds)
        series[2].inc(seconds)
        series[3].set(time.time())

    def observe_batch(self, model: str, size: int, tokens: int, seconds: float, queued: float = 0.0) -> None:
        self.batch_size.labels(model=model).observe(size)
        self.batch_tokens.labels(model=model).observe(tokens)
        self.model_busy_seconds.labels(model=model).inc(seconds)
        self.model_queue_seconds.labels(model=model).inc(queued)
        self.batches_by_size.labels(model=model, batch_size=str(size)).inc()
        self.batch_seconds_by_size.labels(model=model, batch_size=str(size)).inc(seconds)

    def track(
        self,
        queue_depth: Callable[[], float],
        in_flight: Callable[[], float],
        models_loaded: Callable[[], float] = lambda: 0,
        bodies_receiving: Callable[[], float] = lambda: 0,
        instances: Callable[[], float] = lambda: 0,
        threads_per_instance: Callable[[], float] = lambda: 0,
    ) -> None:
        tracked = [
            (self.queue_depth, queue_depth),
            (self.in_flight, in_flight),
            (self.bodies_receiving, bodies_receiving),
            (self.models_loaded, models_loaded),
            (self.engine_instances, instances),
            (self.engine_threads_per_instance, threads_per_instance),
        ]
        if self.multiprocess:
            self._tracked = tracked
        else:  # read when scraped
            for gauge, read in tracked:
                gauge.set_function(read)

    def refresh(self) -> None:
        """This process's gauges (and compilations), into its files: multiprocess mode only."""
        for gauge, read in self._tracked:
            gauge.set(read())
        if self.multiprocess and COMPILATIONS.count > self._compilations_counted:
            self.compilations.inc(COMPILATIONS.count - self._compilations_counted)
            self._compilations_counted = COMPILATIONS.count

    def count_refused_connection(self, reason: str) -> None:
        self.refused_connections.labels(reason).inc()

    def samples(self) -> Iterator[Any]:
        """Every sample of the server's series (every process's, summed, with WORKERS=N)."""
        registry = self.registry
        if self.multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        for family in registry.collect():
            yield from family.samples

    def render(self) -> bytes:
        if self.multiprocess:  # every process's files, summed
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)
