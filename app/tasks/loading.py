"""A checkpoint loaded and checked: the tasks its architecture (or --task) names, heads whose
weights it really holds, in the precision it will run in, the tokenizer beside it.

A head whose weights are missing from the checkpoint is a load error, never a randomly initialised
answer. A masked LM whose weights also hold the next-sentence head (the real bert-base-cased does)
serves both.
"""

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as transformers_logging

from app.config import TaskName
from app.cpu_features import read_cpu_features
from app.errors import ModelLoadError
from app.model_source import ModelSource, first_unreadable, looks_like_path
from app.runtime import (
    DeviceChoice,
    Precision,
    PrecisionChoice,
    apply_precision,
    measure_bf16_speedup,
    resolve_precision,
    select_device,
)
from app.tasks.adapters import is_adapter_folder
from app.tasks.next_sentence import NSP_KEY_PARTS
from app.tasks.registry import TASKS

logger = logging.getLogger(__name__)

# Architecture name suffix -> the tasks its head answers.
TASKS_BY_ARCHITECTURE: dict[str, tuple[TaskName, ...]] = {
    "ForMaskedLM": ("fill-mask",),
    "ForSequenceClassification": ("text-classification",),
    "ForTokenClassification": ("token-classification",),
    "ForQuestionAnswering": ("question-answering",),
    "ForNextSentencePrediction": ("next-sentence-prediction",),
    "ForPreTraining": ("fill-mask", "next-sentence-prediction"),
    "Model": ("feature-extraction",),  # a bare encoder (BertModel): sentence-transformers' folders
}
FINE_TUNED_TASKS: tuple[TaskName, ...] = tuple(name for name, spec in TASKS.items() if spec.fine_tuned)


def tasks_for(config: PretrainedConfig, task_override: TaskName | None) -> tuple[TaskName, ...]:
    architecture: str | None = (config.architectures or [None])[0]  # type: ignore[list-item]
    tasks = next(
        (
            tasks
            for suffix, tasks in TASKS_BY_ARCHITECTURE.items()
            if architecture is not None and architecture.endswith(suffix)
        ),
        None,
    )
    if task_override is not None:
        # A fine-tuned head answers its own task only, even where another head's weights share
        # its names (sequence and token classifiers both call theirs `classifier`).
        if tasks is not None and task_override not in tasks and set(tasks) <= set(FINE_TUNED_TASKS):
            raise ModelLoadError(
                f"The checkpoint's head was trained for {tasks[0]} ({architecture}); it cannot serve "
                f"{task_override}. Drop --task (env TASK) to serve {tasks[0]}."
            )
        return (task_override,)
    if tasks is not None:
        return tasks
    raise ModelLoadError(
        f"The checkpoint's architecture {architecture!r} has no task head this server can answer "
        f"({', '.join('*' + suffix for suffix in TASKS_BY_ARCHITECTURE)}). A bare encoder must be "
        "fine-tuned first (python -m app finetune); or name the task with --task (env TASK)."
    )


def _load_failure(source: ModelSource, exc: Exception) -> ModelLoadError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ModelLoadError(
        f"Could not load model '{source}': {reason} "
        "To fix: pass --model (or set MODEL_ID) to a local folder with config.json, weights and "
        "tokenizer, or give the machine access to huggingface.co (the first start downloads "
        "bert-base-cased, about 430 MB)."
    )


def _permission_error(source: ModelSource, unreadable: Path) -> ModelLoadError:
    return ModelLoadError(
        f"Could not load model '{source}': permission denied reading '{unreadable}' as uid {os.getuid()}. "
        "To fix: make the folder readable to this user (e.g. chmod -R a+rX on it; save_pretrained "
        "writes weights 0600), or run the server as the files' owner (docker run --user)."
    )


def _missing_head_error(source: ModelSource, task: TaskName, missing: list[str]) -> ModelLoadError:
    shown = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
    return ModelLoadError(
        f"The checkpoint '{source}' has no trained weights for the {task} head ({shown} missing); "
        "serving it would answer from random weights. Fine-tune it first, or pick the task its "
        "head was trained for with --task (env TASK)."
    )


@dataclass(frozen=True)
class RunnableModel:
    """A checkpoint loaded, its trained heads checked, in the precision it will run in."""

    source: ModelSource
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    tasks: tuple[TaskName, ...]
    unavailable: dict[TaskName, str]
    precision: Precision
    device: torch.device
    untrained_encoder_weights: frozenset[str]  # initialised at load, not read from the checkpoint


def load_runnable_model(
    source: ModelSource | str,
    device: DeviceChoice = "auto",
    precision: PrecisionChoice = "fp32",
    task: TaskName | None = None,
) -> RunnableModel:
    if isinstance(source, str):
        source = ModelSource.single(source)
    for location in dict.fromkeys((source.model, source.tokenizer)):
        if looks_like_path(location) and (unreadable := first_unreadable(Path(location))) is not None:
            raise _permission_error(source, unreadable)
    if looks_like_path(source.model) and is_adapter_folder(Path(source.model).expanduser()):
        raise ModelLoadError(
            f"'{source}' is a LoRA adapter folder: the server loads it over its base (serve --model "
            f"{source}); batch scoring, evaluation and compiling need its merged checkpoint "
            "(finetune --merge)."
        )
    if looks_like_path(source.model) and not (Path(source.model).expanduser() / "config.json").is_file():
        raise ModelLoadError(
            f"Model folder '{source}' has no config.json. Point --model (or MODEL_ID) at a folder "
            "holding config.json, the weights and the tokenizer files."
        )
    try:
        config = AutoConfig.from_pretrained(source.model)
        tasks = tasks_for(config, task)
        tokenizer = AutoTokenizer.from_pretrained(source.tokenizer)
        with _quiet_load_report():
            model, info = TASKS[tasks[0]].head_class.from_pretrained(
                source.model, dtype=torch.float32, output_loading_info=True
            )
    except (OSError, ValueError, KeyError) as exc:
        raise _load_failure(source, exc) from exc
    missing = sorted(info.get("missing_keys", []))
    tasks, unavailable = _tasks_with_trained_heads(source, tasks, model, missing)
    prefix = f"{model.base_model_prefix}."
    untrained = frozenset(key.removeprefix(prefix) for key in missing if key.startswith(prefix))
    torch_device = select_device(device)
    cpu = read_cpu_features()
    resolved = resolve_precision(precision, torch_device, cpu, lambda: measure_bf16_speedup(model.eval()))
    if precision == "auto":
        logger.info("PRECISION=auto chose %s on %s (%s)", resolved, torch_device, cpu.describe())
    runnable: PreTrainedModel = apply_precision(model.eval(), resolved, torch_device, cpu)  # type: ignore[assignment]
    return RunnableModel(source, runnable, tokenizer, tasks, unavailable, resolved, torch_device, untrained)


def _tasks_with_trained_heads(
    source: ModelSource, tasks: tuple[TaskName, ...], model: PreTrainedModel, missing: list[str]
) -> tuple[tuple[TaskName, ...], dict[TaskName, str]]:
    """The tasks whose heads the weights hold, and why NSP is not among them where it is not.

    A masked LM is loaded with the pre-training heads, so the next-sentence head comes along when
    the weights hold it; any other missing weight means a head that was never trained.
    """
    if tasks[0] != "fill-mask":
        if missing:
            raise _missing_head_error(source, tasks[0], missing)
        return tasks, {}
    nsp_missing = [key for key in missing if any(part in key for part in NSP_KEY_PARTS)]
    mlm_missing = [key for key in missing if key not in nsp_missing]
    if mlm_missing:
        raise _missing_head_error(source, "fill-mask", mlm_missing)
    if hasattr(model, "cls") and hasattr(model.cls, "seq_relationship") and not nsp_missing:
        return ("fill-mask", "next-sentence-prediction"), {}
    logger.info("%s has no next-sentence-prediction head in its weights: it only fills masks", source)
    return ("fill-mask",), {
        "next-sentence-prediction": "This checkpoint's weights hold no next-sentence-prediction head "
        "(cls.seq_relationship and the pooler); it only fills masks."
    }


@contextlib.contextmanager
def _quiet_load_report() -> Iterator[None]:
    """transformers reports heads it had to initialise as a warning table; this module decides
    what a missing head means (an error, or a task not served) and says so itself."""
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
