"""Triton's statistics extension (`GET /v2/models[/<name>[/versions/1]]/stats`,
tritonclient's `get_inference_statistics`), read from the server's Prometheus series, so that with
WORKERS=N it is the whole server's: requests counted by the front-ends, batches by the engine.

A batch here is one call through the model, head included, so its time is all `compute_infer`;
`compute_input` and `compute_output` count the batches with 0 ns (tokenizing and decoding happen
in the request, outside the batch). `queue` is each input's wait for its batch. No response cache:
`cache_hit` and `cache_miss` stay 0.
"""

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from app.serving.model_naming import MODEL_VERSION

NS = 1e9


def _duration(count: float, seconds: float) -> dict[str, int]:
    return {"count": int(count), "ns": int(seconds * NS)}


class _Series:
    """The samples this extension reads, summed by (sample name, model[, one more label])."""

    def __init__(self, samples: Iterable[Any]) -> None:
        self.values: dict[tuple[str, str, str], float] = defaultdict(float)
        for sample in samples:
            model = sample.labels.get("model")
            if model is None:
                continue
            extra = (
                sample.labels.get("status")
                or sample.labels.get("outcome")
                or sample.labels.get("batch_size")
                or ""
            )
            self.values[(sample.name, model, extra)] += sample.value

    def get(self, name: str, model: str, extra: str = "") -> float:
        return self.values.get((name, model, extra), 0.0)

    def by_extra(self, name: str, model: str) -> dict[str, float]:
        return {
            extra: value
            for (sample, owner, extra), value in self.values.items()
            if (sample, owner) == (name, model)
        }


def model_statistics(samples: Iterable[Any], models: list[str]) -> dict[str, Any]:
    series = _Series(samples)
    return {"model_stats": [_one_model(series, model) for model in models]}


def _one_model(series: _Series, model: str) -> dict[str, Any]:
    statuses = series.by_extra("bert_serving_model_requests_total", model)
    succeeded = sum(count for status, count in statuses.items() if status.startswith("2"))
    failed = sum(statuses.values()) - succeeded
    inferences = series.get("bert_serving_batch_size_sum", model)
    executions = series.get("bert_serving_batch_size_count", model)
    seconds = "bert_serving_model_request_outcome_seconds_total"
    sizes = series.by_extra("bert_serving_batches_by_size_total", model)
    compute = series.by_extra("bert_serving_batch_seconds_by_size_total", model)
    return {
        "name": model,
        "version": MODEL_VERSION,
        "last_inference": int(
            series.get("bert_serving_model_last_inference_timestamp_seconds", model) * 1000
        ),
        "inference_count": int(inferences),
        "execution_count": int(executions),
        "inference_stats": {
            "success": _duration(succeeded, series.get(seconds, model, "success")),
            "fail": _duration(failed, series.get(seconds, model, "fail")),
            "queue": _duration(inferences, series.get("bert_serving_model_queue_seconds_total", model)),
            "compute_input": _duration(executions, 0),
            "compute_infer": _duration(
                executions, series.get("bert_serving_model_busy_seconds_total", model)
            ),
            "compute_output": _duration(executions, 0),
            "cache_hit": _duration(0, 0),
            "cache_miss": _duration(0, 0),
        },
        "batch_stats": [
            {
                "batch_size": int(size),
                "compute_input": _duration(count, 0),
                "compute_infer": _duration(count, compute.get(size, 0.0)),
                "compute_output": _duration(count, 0),
            }
            for size, count in sorted(sizes.items(), key=lambda item: int(item[0]))
        ],
        "memory_usage": [],
    }
