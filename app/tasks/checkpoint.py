"""The served model: a checkpoint loaded once (`app.tasks.loading`), its encoder compiled where
that pays (`app.compilation`), bound to the tasks its trained heads can answer."""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.compilation import CompileChoice, measure_compile_speedup, prepare_encoder
from app.config import Settings, TaskName
from app.errors import InvalidRequestError
from app.model_source import ModelSource, local_folder, resolve_model_source
from app.runtime import DeviceChoice, Precision, PrecisionChoice, configure_threads
from app.tasks.base import Task, label_names
from app.tasks.embedding_config import PoolingMode
from app.tasks.feature_extraction import FeatureExtractionTask
from app.tasks.fill_mask import FillMaskTask
from app.tasks.loading import load_runnable_model
from app.tasks.registry import TASKS

logger = logging.getLogger(__name__)


@dataclass
class ServedModel:
    """One loaded checkpoint and the tasks it answers, sharing its weights."""

    source: str
    tasks: dict[TaskName, Task[Any]]
    precision: Precision = "fp32"
    device: str = "cpu"
    compiled: bool = False
    labels: list[str] | None = None
    # Tasks a request might expect but this checkpoint cannot answer, and why.
    unavailable: dict[TaskName, str] = field(default_factory=dict)
    tokenizer: PreTrainedTokenizerBase | None = None  # the tasks', for what needs no model (TEI's /tokenize)

    @property
    def primary_task(self) -> TaskName:
        return next(iter(self.tasks))

    def task(self, name: TaskName) -> Task[Any]:
        if name in self.tasks:
            return self.tasks[name]
        reason = self.unavailable.get(name)
        if reason is not None:
            raise InvalidRequestError(reason)
        raise InvalidRequestError(f"This model {TASKS[self.primary_task].does}; it does not do {name}.")

    def describe(self) -> dict[str, Any]:
        """For /health/ready."""
        described: dict[str, Any] = {
            "model": self.source,
            "tasks": list(self.tasks),
            "precision": self.precision,
            "device": self.device,
            "compiled": self.compiled,
        }
        if self.labels is not None:
            described["labels"] = self.labels
        return described


def load_served_model(
    source: ModelSource | str,
    device: DeviceChoice = "auto",
    precision: PrecisionChoice = "fp32",
    task: TaskName | None = None,
    compile: CompileChoice = "off",
    compiled_package: Path | None = None,
    compile_cache: Path | None = None,
    pooling: PoolingMode | None = None,
    auto_truncate: bool = False,
) -> ServedModel:
    """Load once; raise ModelLoadError with a message that says what to do.

    The encoder runs from `compiled_package` (made by `python -m app compile`) when given, or
    (unless `compile` is off) from the one in the model folder's `compiled/<precision>/` when that
    matches this machine; else as `compile` says."""
    started = time.perf_counter()
    loaded = load_runnable_model(source, device, precision, task)
    runnable, resolved, torch_device = loaded.model, loaded.precision, loaded.device
    compiled = prepare_encoder(
        runnable,
        compile,
        resolved,
        torch_device,
        loaded.untrained_encoder_weights,
        package=compiled_package,
        model_folder=local_folder(loaded.source),
        cache_dir=compile_cache,
        speedup=measure_compile_speedup,
    )
    served = ServedModel(
        source=str(loaded.source),
        tasks={
            name: bind_task(name, runnable, loaded.tokenizer, str(loaded.source), pooling, auto_truncate)
            for name in loaded.tasks
        },
        precision=resolved,
        device=str(torch_device),
        compiled=compiled,
        labels=label_names(runnable.config)
        if loaded.tasks[0] in ("text-classification", "token-classification")
        else None,
        unavailable=loaded.unavailable,
        tokenizer=loaded.tokenizer,
    )
    logger.info(
        "Loaded %s for %s (%s on %s, %s) in %.1f s",
        loaded.source,
        ", ".join(served.tasks),
        resolved,
        torch_device,
        "compiled" if compiled else "eager",
        time.perf_counter() - started,
    )
    return served


def bind_task(
    name: TaskName,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    source: str,
    pooling: PoolingMode | None = None,
    auto_truncate: bool = False,
) -> Task[Any]:
    """`pooling` and `auto_truncate`: the server's choices for an embedding model (POOLING over the
    folder's own config; AUTO_TRUNCATE for a request that does not say)."""
    task = TASKS[name].bind(model, tokenizer, source)
    if isinstance(task, FeatureExtractionTask):
        return task.configured(pooling, auto_truncate)
    return task


def load_configured_model(settings: Settings, source: ModelSource | None = None) -> ServedModel:
    """The model as the settings describe it: source, task, device, precision and torch's threads."""
    configure_threads(settings.torch_threads)
    return load_served_model(
        source or resolve_model_source(settings),
        settings.device,
        settings.precision,
        settings.task,
        settings.compile,
        settings.compiled_package,
        settings.compile_cache_dir,
        settings.pooling,
        settings.auto_truncate,
    )


def load_fill_mask_model(
    source: ModelSource | str, device: DeviceChoice = "auto", precision: PrecisionChoice = "fp32"
) -> FillMaskTask:
    """A checkpoint's fill-mask task alone (tests, benchmarks, offline jobs)."""
    served = load_served_model(source, device, precision, "fill-mask")
    task = served.tasks["fill-mask"]
    assert isinstance(task, FillMaskTask)
    return task
