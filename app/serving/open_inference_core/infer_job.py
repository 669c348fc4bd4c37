"""From a decoded infer request to the job for the engine: which task, its examples and options
(validated by /score's readers and parameter models), which outputs, and the deadline."""

import math
from dataclasses import dataclass

from app.config import Settings, TaskName
from app.serving.open_inference_core.requests import DecodedRequest, RequestedOutput
from app.serving.open_inference_core.task_tensors import check_inputs, request_table, requested_outputs
from app.serving.task_columns import TaskRequest, choose_task, parse_task_request
from app.tasks.checkpoint import ServedModel


@dataclass(frozen=True)
class InferJob:
    id: str | None
    task: TaskName
    request: TaskRequest
    outputs: list[RequestedOutput]
    timeout_ms: int


def prepare_job(decoded: DecodedRequest, model: ServedModel, settings: Settings) -> InferJob:
    """Everything a client can get wrong is refused here, before any compute."""
    table = request_table(decoded.texts, decoded.parameters, settings.max_inputs_per_request)
    # A checkpoint that fills masks and predicts next sentences: two inputs mean NSP, as on /score.
    task = choose_task(table, list(model.tasks), list(model.unavailable))
    model.task(task)  # a task this checkpoint cannot answer: 400 saying why
    check_inputs(task, table)
    outputs = requested_outputs(task, decoded.outputs, decoded.binary_output)
    timeout_ms = settings.request_timeout_ms
    if decoded.timeout_us is not None:  # the client's own, shorter deadline (Triton's `timeout`)
        timeout_ms = min(timeout_ms, math.ceil(decoded.timeout_us / 1000))
    return InferJob(
        decoded.id, task, parse_task_request(table, task, settings.max_top_k), outputs, timeout_ms
    )
