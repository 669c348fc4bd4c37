"""LoRA fine-tuning through peft: the encoder frozen but for low-rank adapters on its attention
projections, the task head (and any module the checkpoint lacked) trained whole and saved with the
adapter (peft's `modules_to_save`; without it, a head trained here would be lost on save, peft #310).
"""

from pathlib import Path
from typing import Any

from peft import LoraConfig, PeftModel, TaskType, get_peft_model
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from app.finetuning.options import FinetuneOptions

TASK_TYPES = {
    "text-classification": TaskType.SEQ_CLS,
    "token-classification": TaskType.TOKEN_CLS,
    "question-answering": TaskType.QUESTION_ANS,
}
ADAPTER_DIR = "adapter"


def with_lora(model: PreTrainedModel, options: FinetuneOptions, created: list[str]) -> PeftModel:
    """`model` with adapters; `created`: the weights transformers initialised (the new head, a
    pooler a masked LM's checkpoint lacks), whose modules train whole."""
    prefix = f"{model.base_model_prefix}."
    trained_whole = sorted({key.removeprefix(prefix).split(".")[0] for key in created})
    config = LoraConfig(
        task_type=TASK_TYPES[options.task],
        r=options.lora_r,
        lora_alpha=options.lora_alpha,
        lora_dropout=options.lora_dropout,
        target_modules=list(options.lora_targets),
        modules_to_save=trained_whole or None,
    )
    return get_peft_model(model, config)


def parameter_counts(model: Any) -> dict[str, int]:
    trainable = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    total = sum(parameter.numel() for parameter in model.parameters())
    return {"trainable_parameters": trainable, "total_parameters": total}


def save_adapter(model: PeftModel, tokenizer: PreTrainedTokenizerBase, output: Path) -> dict[str, Any]:
    """DIR/adapter: adapter_config.json naming the base, the weights, the tokenizer, and the task
    model's config.json (its labels, which peft does not keep); the adapter's size and parameter
    counts, for metrics.json."""
    folder = output / ADAPTER_DIR
    model.save_pretrained(str(folder))
    model.get_base_model().config.save_pretrained(str(folder))  # type: ignore[union-attr,operator]
    tokenizer.save_pretrained(str(folder))
    size = sum(path.stat().st_size for path in folder.glob("adapter_model.*"))
    return parameter_counts(model) | {"adapter_bytes": size}


def save_merged(model: PeftModel, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """A plain checkpoint: the adapters folded into the weights (the PEFT model is used up)."""
    merged = model.merge_and_unload()
    merged.save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
