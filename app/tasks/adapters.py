"""LoRA adapters over one shared base: the base's encoder weights are held once; each adapter adds
its low-rank matrices to it under its own name (peft's `inject_adapter_in_model`), and its head (and
a pooler it trained whole) lives beside it. A model over the base holds an `EncoderView` where its
encoder would be: the view switches the shared encoder to that model's adapter (or to none, for the
base's own tasks) before it runs.

The engine runs one batch at a time on one thread, and a batch holds one model's rows, so one active
adapter per batch is exact. Attaching and detaching change the shared encoder's modules: they must run
on that same thread (`InferenceEngine.run_exclusive`), never beside a batch.
"""

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig, PeftConfig, inject_adapter_in_model, set_peft_model_state_dict
from peft.tuners.lora import LoraLayer
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import AutoConfig, PretrainedConfig, PreTrainedModel
from transformers.utils.hub import cached_file

from app.config import TaskName
from app.errors import ModelLoadError, ModelNotReadyError
from app.tasks.packing import packed
from app.tasks.registry import TASKS

ADAPTER_CONFIG = "adapter_config.json"
# peft's task types, as `python -m app finetune --lora` writes them, and the task each one serves.
TASK_BY_PEFT_TYPE: dict[str, TaskName] = {
    "SEQ_CLS": "text-classification",
    "TOKEN_CLS": "token-classification",
    "QUESTION_ANS": "question-answering",
}
SAVED_PREFIX = "base_model.model."  # where PeftModel.save_pretrained puts the wrapped model's keys
# Encoder modules an adapter may train whole and still share the base: the pooler runs after the
# encoder, so a view can put its own in place; anything inside the encoder cannot be swapped per batch.
OWN_ENCODER_MODULES = ("pooler",)
UNSET = object()  # the active adapter after the encoder's modules changed: the next batch sets its own


def is_adapter_folder(folder: Path) -> bool:
    return (folder / ADAPTER_CONFIG).is_file()


def adapter_base(folder: Path) -> str:
    """The base an adapter was trained on: a hub id or a folder, as its adapter_config.json says."""
    try:
        base = json.loads((folder / ADAPTER_CONFIG).read_text()).get("base_model_name_or_path")
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"Could not read {folder / ADAPTER_CONFIG}: {exc}") from exc
    if not isinstance(base, str) or not base:
        raise ModelLoadError(f"{folder / ADAPTER_CONFIG} names no base_model_name_or_path.")
    return base


class SharedEncoder:
    """One encoder's weights under many models, each LoRA adapter attached by name."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.encoder = encoder
        self.packed = packed(encoder)  # what views run: the same modules, batches packed
        self.adapters: set[str] = set()
        self._layers: list[LoraLayer] = []
        self._active: object = None

    def activate(self, adapter: str | None) -> None:
        """Run the next batch with `adapter`'s matrices, or with none (the base alone)."""
        if adapter == self._active:
            return
        if adapter is not None and adapter not in self.adapters:  # never its head on the bare base
            raise ModelNotReadyError(f"The adapter '{adapter}' has left its base (unloaded).")
        for layer in self._layers:
            layer.set_adapter(adapter if adapter is not None else [])
        self._active = adapter

    def _changed(self) -> None:
        self.encoder.eval()  # peft adds its modules in training mode: their dropout would run
        self._layers = [module for module in self.encoder.modules() if isinstance(module, LoraLayer)]
        self._active = UNSET

    def attach(self, name: str, config: LoraConfig, weights: dict[str, torch.Tensor]) -> None:
        """Add an adapter's low-rank matrices (keys as under the encoder, without adapter names)."""
        inject_adapter_in_model(config, self.encoder, adapter_name=name)
        self._changed()
        result: Any = set_peft_model_state_dict(self.encoder, weights, adapter_name=name)
        missing = [key for key in result.missing_keys if f".{name}." in key]
        if result.unexpected_keys or missing:
            self.detach(name)
            shown = (result.unexpected_keys or missing)[:3]
            raise ModelLoadError(f"The adapter '{name}' does not fit its base's encoder ({shown}).")
        self.adapters.add(name)

    def detach(self, name: str) -> None:
        for layer in self._layers:
            if name in layer.lora_A:
                layer.delete_adapter(name)
        self.adapters.discard(name)
        self._changed()


class EncoderView(torch.nn.Module):
    """The shared encoder as one model sees it: its adapter active, its own pooler where it has one."""

    def __init__(
        self, shared: SharedEncoder, adapter: str | None, pooler: torch.nn.Module | None = None
    ) -> None:
        super().__init__()
        self.shared = shared
        self.adapter = adapter
        self.encoder = shared.encoder  # a submodule here too: `model.device` and `.parameters()` see it
        self.pooler = pooler

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        self.shared.activate(self.adapter)
        outputs = self.shared.packed(*args, **kwargs)
        if self.pooler is None:
            return outputs
        own = dict(outputs) | {"pooler_output": self.pooler(outputs[0])}
        return type(outputs)(**own)


def share_encoder(model: PreTrainedModel) -> SharedEncoder:
    """Put a view in place of `model`'s encoder, so adapters can join it; the model itself runs
    with none of them. Call before binding tasks: they keep the encoder they find."""
    prefix = model.base_model_prefix
    shared = SharedEncoder(getattr(model, prefix))
    setattr(model, prefix, EncoderView(shared, None))
    return shared


@dataclass(frozen=True)
class AdapterModel:
    """An adapter's task model over the shared encoder, and the task it serves."""

    model: PreTrainedModel
    task: TaskName


def build_adapter_model(
    folder: Path, name: str, base: PreTrainedModel, shared: SharedEncoder, base_source: str
) -> tuple[LoraConfig, dict[str, torch.Tensor], AdapterModel]:
    """Read an adapter folder and build its task model around a view of `shared`; the matrices are
    returned for `shared.attach` (on the inference thread), not yet added. `base_source`: where the
    base's weights are, for a pooler the head reads that the shared encoder was loaded without."""
    config = _lora_config(folder)
    task = TASK_BY_PEFT_TYPE[str(config.task_type)]
    weights = {key.removeprefix(SAVED_PREFIX): value for key, value in _read_weights(folder).items()}
    prefix = f"{base.base_model_prefix}."
    lora = {key.removeprefix(prefix): v for key, v in weights.items() if ".lora_" in key}
    own = {key: value for key, value in weights.items() if ".lora_" not in key}
    head_config = _head_config(folder, base.config, task, own)
    with torch.device("meta"):
        model: PreTrainedModel = TASKS[task].head_class.from_config(head_config)
    meta_encoder = getattr(model, base.base_model_prefix)
    pooler = _own_encoder_module(folder, meta_encoder, own, prefix)
    reads_pooler = getattr(meta_encoder, "pooler", None) is not None
    if pooler is None and reads_pooler and getattr(shared.encoder, "pooler", None) is None:
        # An embedding model's encoder loads without BERT's pooler; a classifier trained over the
        # checkpoint's own pooler (it was not in modules_to_save) needs it back.
        pooler = _checkpoint_module(folder, meta_encoder, base_source, "pooler")
    setattr(model, base.base_model_prefix, EncoderView(shared, name, pooler))
    head = {key: value for key, value in own.items() if not key.startswith(prefix)}
    model.load_state_dict(head, strict=False, assign=True)
    untrained = [key for key, value in model.named_parameters() if value.is_meta]
    if untrained:
        raise ModelLoadError(
            f"The adapter {folder} holds no trained weights for its {task} head "
            f"({', '.join(untrained[:3])}); serving it would answer from random weights."
        )
    reference = next(shared.encoder.parameters())
    dtype, device = reference.dtype, reference.device
    for module in (m for n, m in model.named_children() if n != base.base_model_prefix):
        module.to(device=device, dtype=dtype)
    if pooler is not None:
        pooler.to(device=device, dtype=dtype)
    return config, lora, AdapterModel(model.eval(), task)


def _checkpoint_module(
    folder: Path, meta_encoder: torch.nn.Module, base_source: str, module: str
) -> torch.nn.Module:
    """An encoder module (the pooler) as the base checkpoint's weights hold it."""
    weights: dict[str, torch.Tensor] = {}
    for file in _checkpoint_files(base_source):
        with safe_open(str(file), "pt") as checkpoint:
            for key in checkpoint.keys():  # noqa: SIM118 - safe_open has no __iter__
                before, found, rest = key.rpartition(f"{module}.")
                if found and (not before or before.endswith(".")):
                    weights[rest] = checkpoint.get_tensor(key)
    if not weights:
        raise ModelLoadError(
            f"The adapter {folder}'s head reads the encoder's {module}, which neither the adapter nor its "
            f"base {base_source} holds trained weights for."
        )
    built = meta_encoder.get_submodule(module)
    built.load_state_dict(weights, strict=True, assign=True)
    return built


def _checkpoint_files(source: str) -> list[Path]:
    folder = Path(source).expanduser()
    if folder.is_dir():
        return sorted(folder.glob("*.safetensors"))
    try:
        found = cached_file(source, "model.safetensors")
    except OSError:
        return []
    return [Path(found)] if found else []


def _lora_config(folder: Path) -> LoraConfig:
    try:
        config = PeftConfig.from_pretrained(str(folder))
    except (OSError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"Could not read the adapter {folder}: {exc}") from exc
    if not isinstance(config, LoraConfig):
        raise ModelLoadError(f"The adapter {folder} is {config.peft_type}; this server serves LoRA adapters.")
    if str(config.task_type) not in TASK_BY_PEFT_TYPE:
        raise ModelLoadError(
            f"The adapter {folder} has task_type {config.task_type}; served adapters are "
            f"{', '.join(TASK_BY_PEFT_TYPE)} (python -m app finetune --lora writes them)."
        )
    # Its head and pooler are built beside the view, not wrapped inside the shared encoder.
    return dataclasses.replace(config, modules_to_save=None, inference_mode=True)


def _read_weights(folder: Path) -> dict[str, torch.Tensor]:
    safetensors = folder / "adapter_model.safetensors"
    if safetensors.is_file():
        return load_file(str(safetensors))
    legacy = folder / "adapter_model.bin"
    if legacy.is_file():
        weights: dict[str, torch.Tensor] = torch.load(legacy, map_location="cpu", weights_only=True)
        return weights
    raise ModelLoadError(f"The adapter {folder} holds no adapter_model.safetensors (or .bin).")


def _head_config(
    folder: Path, base: PretrainedConfig, task: TaskName, own: dict[str, torch.Tensor]
) -> PretrainedConfig:
    """The task model's config: the one finetune saved beside the adapter (its labels), else the
    base's with as many labels as the trained head has outputs."""
    if (folder / "config.json").is_file():
        saved: PretrainedConfig = AutoConfig.from_pretrained(str(folder))
        return saved
    config = base.__class__.from_dict(base.to_dict())
    classifier = next(
        (value for key, value in own.items() if key.startswith("classifier.") and value.ndim == 2), None
    )
    if task != "question-answering" and classifier is not None:
        config.num_labels = classifier.shape[0]
    return config


def _own_encoder_module(
    folder: Path, meta_encoder: torch.nn.Module, own: dict[str, torch.Tensor], prefix: str
) -> torch.nn.Module | None:
    """The pooler the adapter trained whole, built like the task model's own and filled from it."""
    inside = {key.removeprefix(prefix): value for key, value in own.items() if key.startswith(prefix)}
    modules = sorted({key.split(".")[0] for key in inside})
    unsupported = [module for module in modules if module not in OWN_ENCODER_MODULES]
    if unsupported:
        raise ModelLoadError(
            f"The adapter {folder} trained the encoder's {', '.join(unsupported)} whole; a shared base "
            "cannot swap those per batch. Serve its merged checkpoint (finetune --merge) instead."
        )
    if not modules:
        return None
    pooler = meta_encoder.get_submodule("pooler")
    pooler.load_state_dict(
        {key.removeprefix("pooler."): value for key, value in inside.items()}, strict=True, assign=True
    )
    return pooler
