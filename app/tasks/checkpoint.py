"""The served model: a checkpoint loaded once (`app.tasks.loading`), its encoder compiled where
that pays (`app.compilation`), bound to the tasks its trained heads can answer."""

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from app.compilation import CompileChoice, measure_compile_speedup, prepare_encoder
from app.config import Settings, TaskName
from app.errors import InvalidRequestError, ModelLoadError
from app.model_source import TOKENIZER_FILES, ModelSource, local_folder, resolve_model_source
from app.runtime import DeviceChoice, Precision, PrecisionChoice, configure_threads
from app.tasks.adapters import SharedEncoder, build_adapter_model, share_encoder
from app.tasks.base import Task, label_names
from app.tasks.embedding_config import PoolingMode
from app.tasks.feature_extraction import FeatureExtractionTask
from app.tasks.fill_mask import FillMaskTask
from app.tasks.loading import load_runnable_model
from app.tasks.packing import run_packed
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
    # Where adapters may join this model's encoder (loaded with `shareable`), and the model it is in.
    shared: SharedEncoder | None = None
    network: PreTrainedModel | None = None
    adapter_of: str | None = None  # an adapter's base, as its adapter_config.json names it

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
        if self.adapter_of is not None:
            described["adapter_of"] = self.adapter_of
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
    shareable: bool = False,
) -> ServedModel:
    """Load once; raise ModelLoadError with a message that says what to do.

    The encoder runs from `compiled_package` (made by `python -m app compile`) when given, or
    (unless `compile` is off) from the one in the model folder's `compiled/<precision>/` when that
    matches this machine; else as `compile` says. `shareable`: eager, in a form LoRA adapters can
    join (`load_adapter_model`); a compiled encoder's weights are frozen into its graph."""
    started = time.perf_counter()
    loaded = load_runnable_model(source, device, precision, task)
    runnable, resolved, torch_device = loaded.model, loaded.precision, loaded.device
    if shareable and resolved == "int8":
        raise ModelLoadError(
            f"LoRA adapters name {loaded.source} as their base; they join its fp32, bf16 or fp16 weights, "
            "not int8's quantized ones. Serve their merged checkpoints (finetune --merge) in int8 instead."
        )
    compiled = (
        False
        if shareable
        else prepare_encoder(
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
    )
    if not compiled and not shareable:
        run_packed(runnable, resolved)
    shared = share_encoder(runnable) if shareable else None
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
        shared=shared,
        network=runnable,
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


@dataclass(frozen=True)
class PreparedAdapter:
    """An adapter's model, ready but for its matrices joining the shared encoder: `join` must run
    on the inference thread (it changes modules a batch may be running)."""

    served: ServedModel
    name: str
    config: Any
    weights: dict[str, Any]

    def join(self) -> None:
        assert self.served.shared is not None
        self.served.shared.attach(self.name, self.config, self.weights)

    def leave(self) -> None:
        assert self.served.shared is not None
        self.served.shared.detach(self.name)


def load_adapter_model(folder: Path, name: str, base: ServedModel) -> PreparedAdapter:
    """A LoRA adapter folder over `base`, loaded with `shareable`: its task served on the base's
    weights, with its own head and tokenizer (or the base's, where the folder holds none)."""
    if base.shared is None or base.network is None:
        raise ModelLoadError(
            f"The base {base.source} of the adapter {folder} runs compiled, its weights frozen into the "
            "graph; adapters join an eager base. Serve it with COMPILE=off, or name the adapter at start."
        )
    config, weights, adapter = build_adapter_model(folder, name, base.network, base.shared, base.source)
    tokenizer = (
        AutoTokenizer.from_pretrained(str(folder))
        if any((folder / file).is_file() for file in TOKENIZER_FILES)
        else base.tokenizer
    )
    assert tokenizer is not None
    served = ServedModel(
        source=str(folder),
        tasks={adapter.task: bind_task(adapter.task, adapter.model, tokenizer, str(folder))},
        precision=base.precision,
        device=base.device,
        labels=label_names(adapter.model.config) if adapter.task != "question-answering" else None,
        tokenizer=tokenizer,
        shared=base.shared,
        network=adapter.model,
        adapter_of=base.source,
    )
    return PreparedAdapter(served, name, config, weights)


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


def load_configured_model(
    settings: Settings, source: ModelSource | None = None, shareable: bool = False
) -> ServedModel:
    """The model as the settings describe it: source, task, device, precision and torch's threads.
    TASK and COMPILED_PACKAGE name one model's: with several (MODELS, MODEL_REPOSITORY), each
    checkpoint's architecture decides its task, and its own folder holds its package."""
    configure_threads(settings.torch_threads)
    single = not settings.models and settings.model_repository is None
    return load_served_model(
        source or resolve_model_source(settings),
        settings.device,
        settings.precision,
        settings.task if single else None,
        settings.compile_choice(),
        settings.compiled_package if single else None,
        settings.compile_cache_dir,
        settings.pooling,
        settings.auto_truncate,
        shareable,
    )


def load_fill_mask_model(
    source: ModelSource | str, device: DeviceChoice = "auto", precision: PrecisionChoice = "fp32"
) -> FillMaskTask:
    """A checkpoint's fill-mask task alone (tests, benchmarks, offline jobs)."""
    served = load_served_model(source, device, precision, "fill-mask")
    task = served.tasks["fill-mask"]
    assert isinstance(task, FillMaskTask)
    return task
