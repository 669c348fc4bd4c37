"""Triton's model configuration extension (`GET /v2/models/<name>/config`), which Triton's own
tools (perf_analyzer, model analyzer, `tritonclient`'s `get_model_config`) read before they send a
request: the model's tensors in Triton's data types, and how this server batches and runs it.

Each input is one tensor of shape [-1] (a request's texts), so there is no implicit batch
dimension: `max_batch_size` is 0 and `dims` are the whole shape. The server batches across
requests itself, and `dynamic_batching` says how (MAX_BATCH_SIZE, MAX_WAIT_MS, MAX_QUEUED_INPUTS,
REQUEST_TIMEOUT_MS); `instance_group` is the engine's instances (INSTANCES).
"""

from typing import Any

from app.config import Settings
from app.engine.instances import EngineInstances
from app.serving.open_inference_core.metadata import MetadataTensor
from app.serving.open_inference_core.task_tensors import metadata_tensors
from app.tasks.checkpoint import ServedModel

TRITON_TYPES = {
    "BYTES": "TYPE_STRING",
    "FP32": "TYPE_FP32",
    "INT64": "TYPE_INT64",
    "INT32": "TYPE_INT32",
    "BOOL": "TYPE_BOOL",
}


def model_config(
    name: str, model: ServedModel, settings: Settings, instances: EngineInstances | None, platform: str
) -> dict[str, Any]:
    inputs, outputs = metadata_tensors(list(model.tasks))
    count = instances.count if instances is not None else 1
    return {
        "name": name,
        "platform": platform,
        "backend": "pytorch",
        "max_batch_size": 0,
        "input": _config_tensors(inputs, len(model.tasks)),
        "output": _config_tensors(outputs, 1),
        "dynamic_batching": {
            "preferred_batch_size": [settings.max_batch_size],
            "max_queue_delay_microseconds": int(settings.max_wait_ms * 1000),
            "default_queue_policy": {
                "timeout_action": "REJECT",
                "default_timeout_microseconds": settings.request_timeout_ms * 1000,
                "max_queue_size": settings.max_queued_inputs,
            },
        },
        "instance_group": [
            {
                "name": name,
                "kind": "KIND_GPU" if model.device.startswith("cuda") else "KIND_CPU",
                "count": count,
            }
        ],
        "parameters": {
            "tasks": {"string_value": ",".join(model.tasks)},
            "precision": {"string_value": model.precision},
            "max_batch_tokens": {"string_value": str(settings.max_batch_tokens)},
        },
    }


def _config_tensors(tensors: list[MetadataTensor], tasks: int) -> list[dict[str, Any]]:
    """One entry per name (a tensor several tasks share is listed once, with the most axes any of
    them has); an input is optional where some task may go without it."""
    by_name: dict[str, list[MetadataTensor]] = {}
    for tensor in tensors:
        by_name.setdefault(tensor.name, []).append(tensor)
    entries = []
    for name, same in by_name.items():
        optional = len(same) < tasks or any((tensor.parameters or {}).get("optional") for tensor in same)
        widest = max(same, key=lambda tensor: len(tensor.shape))  # a "score" has 2 or 3 axes by task
        entry: dict[str, Any] = {
            "name": name,
            "data_type": TRITON_TYPES[widest.datatype],
            "dims": widest.shape,
        }
        if optional:
            entry["optional"] = True
        entries.append(entry)
    return entries
