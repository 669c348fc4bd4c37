"""A served model without its weights, for a front-end: the engine process describes each model it
serves (`twin_spec`), and a front-end builds its twin from that (`build_twin`). The twin's tasks are
the engine's own task classes, bound to the same tokenizer and config, their modules on torch's
meta device (shapes, no memory), so `encode` and `decode` run in the front-end exactly as in the
engine; their `forward` is never called there."""

from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import PretrainedConfig, PreTrainedTokenizerBase

from app.config import TaskName
from app.tasks.base import Task
from app.tasks.checkpoint import ServedModel
from app.tasks.feature_extraction import FeatureExtractionTask
from app.tasks.registry import TASKS


@dataclass(frozen=True)
class TwinSpec:
    """What a front-end needs of a served model: picklable, and small (no weights)."""

    source: str
    tasks: list[TaskName]
    config: PretrainedConfig
    tokenizer: PreTrainedTokenizerBase
    described: dict[str, Any]  # ServedModel.describe(), as the engine's model says it
    unavailable: dict[TaskName, str] = field(default_factory=dict)
    # The embedding task's own settings (pooling and the rest, from the folder and POOLING), and
    # AUTO_TRUNCATE: read by the engine once, not again from the folder.
    embedding: tuple[Any, bool] | None = None
    version: int = 0  # which load of the model this is: a reload is a new twin


def twin_spec(served: ServedModel) -> TwinSpec:
    assert served.network is not None and served.tokenizer is not None
    embedding = served.tasks.get("feature-extraction")
    return TwinSpec(
        source=served.source,
        tasks=list(served.tasks),
        config=served.network.config,
        tokenizer=served.tokenizer,
        described=served.describe(),
        unavailable=dict(served.unavailable),
        embedding=(embedding.config, embedding.auto_truncate)
        if isinstance(embedding, FeatureExtractionTask)
        else None,
        version=version_of(served),
    )


def version_of(served: ServedModel | None) -> int:
    """Which load of a model this is: a reload is another object (0: none loaded)."""
    return id(served) if served is not None else 0


def build_twin(spec: TwinSpec) -> ServedModel:
    """The model's tasks over a meta-device copy of its architecture: encode and decode, no weights."""
    tasks: dict[TaskName, Task[Any]] = {}
    for name in spec.tasks:
        with torch.device("meta"):
            model = TASKS[name].head_class.from_config(spec.config)
        if name == "feature-extraction":
            assert spec.embedding is not None
            config, auto_truncate = spec.embedding
            tasks[name] = FeatureExtractionTask(model, spec.tokenizer, config, auto_truncate)
        else:
            tasks[name] = TASKS[name].bind(model, spec.tokenizer, spec.source)
    described = spec.described
    return ServedModel(
        source=spec.source,
        tasks=tasks,
        precision=described["precision"],
        device=described["device"],
        compiled=described["compiled"],
        labels=described.get("labels"),
        unavailable=spec.unavailable,
        tokenizer=spec.tokenizer,
        adapter_of=described.get("adapter_of"),
    )
