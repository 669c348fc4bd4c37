"""The training run: transformers' Trainer (with accelerate) on the task's features.

Each epoch is evaluated through the server's task code on the validation split and saved; the
best checkpoint by the task's metric is kept with the last one (for resuming), and loaded at the
end. `--resume auto` continues from the last checkpoint in DIR/checkpoints with its optimizer,
scheduler and RNG states.
"""

import logging
import shutil
from collections import Counter
from typing import Any

import torch
from transformers import (
    AutoTokenizer,
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    Trainer,
    TrainingArguments,
    set_seed,
)
from transformers.trainer_utils import get_last_checkpoint

from app.cpu_features import read_cpu_features
from app.finetuning.data import TaskData
from app.finetuning.features import classification_features, ner_features, qa_features
from app.finetuning.options import FinetuneOptions
from app.finetuning.scoring import bind, split_metrics
from app.runtime import cpu_supports_bf16
from app.tasks.registry import TASKS

logger = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"


def load_tokenizer(options: FinetuneOptions) -> PreTrainedTokenizerBase:
    tokenizer: PreTrainedTokenizerBase = AutoTokenizer.from_pretrained(options.model)
    return tokenizer


def load_model(options: FinetuneOptions, labels: list[str] | None) -> PreTrainedModel:
    """The checkpoint with the task's head; a new head (a bare encoder, a masked LM) is logged."""
    label_fields: dict[str, Any] = {}
    if labels is not None:
        label_fields = {
            "num_labels": len(labels),
            "id2label": dict(enumerate(labels)),
            "label2id": {name: index for index, name in enumerate(labels)},
        }
    model, info = TASKS[options.task].head_class.from_pretrained(
        options.model, output_loading_info=True, dtype=torch.float32, **label_fields
    )
    created = sorted(info.get("missing_keys", []))
    if created:
        logger.info("New %s head, trained from scratch: %s", options.task, ", ".join(created))
    if options.lora:
        from app.finetuning.lora import parameter_counts, with_lora

        model = with_lora(model, options, created)
        logger.info("LoRA: %s", parameter_counts(model))
    return model  # type: ignore[no-any-return]


def training_features(
    options: FinetuneOptions, data: TaskData, tokenizer: PreTrainedTokenizerBase, split: str
) -> Any:
    examples = data.splits[split]
    length = options.resolved_max_seq_length
    if options.task == "text-classification":
        return classification_features(examples, data.labels or [], tokenizer, length)
    if options.task == "token-classification":
        return ner_features(examples, data.labels or [], tokenizer, length)
    return qa_features(examples, tokenizer, min(length, tokenizer.model_max_length), options.doc_stride)


def resolved_precision(options: FinetuneOptions) -> str:
    """auto: bf16 autocast where it runs fast (a GPU with bf16, a CPU with AMX), else fp32."""
    if options.precision != "auto":
        return options.precision
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_supports_bf16() and read_cpu_features().amx else "fp32"


class TaskTrainer(Trainer):
    """A Trainer whose loss may weigh classes (`--class-weights balanced`)."""

    def __init__(self, *args: Any, class_weights: torch.Tensor | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.class_weights = class_weights
        # BERT's heads take **kwargs, so Trainer thinks they sum their loss over num_items_in_batch and
        # multiplies it by the world size under DDP; they (and the weighted loss below) average it.
        self.model_accepts_loss_kwargs = False

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        if self.class_weights is None:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        labels = inputs.pop("labels")
        outputs = model(**inputs)
        loss = torch.nn.functional.cross_entropy(
            outputs.logits, labels, weight=self.class_weights.to(outputs.logits.device)
        )
        return (loss, outputs) if return_outputs else loss


def balanced_weights(data: TaskData) -> torch.Tensor:
    """sklearn's 'balanced': n_examples / (n_classes * count of the class)."""
    labels = data.labels or []
    counts = Counter(example.label for example in data.splits["train"])
    total = sum(counts.values())
    return torch.tensor([total / (len(labels) * max(1, counts[name])) for name in labels], dtype=torch.float)


def build_trainer(
    options: FinetuneOptions, data: TaskData, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel
) -> TaskTrainer:
    has_validation = "validation" in data.splits
    precision = resolved_precision(options)
    arguments = TrainingArguments(
        output_dir=str(options.output / CHECKPOINTS),
        num_train_epochs=options.epochs,
        max_steps=options.max_steps or -1,
        learning_rate=options.resolved_learning_rate,
        per_device_train_batch_size=options.batch_size,
        per_device_eval_batch_size=options.batch_size,
        warmup_steps=options.warmup_ratio,  # a float under 1 is a share of all steps
        weight_decay=options.weight_decay,
        seed=options.seed,
        data_seed=options.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        eval_strategy="epoch" if has_validation else "no",
        save_strategy="epoch",
        logging_strategy="steps",
        logging_steps=max(1, min(50, _steps_per_epoch(options, data) // 4)),
        save_total_limit=2 if has_validation else 1,  # the best and the last
        load_best_model_at_end=has_validation,
        metric_for_best_model=options.best_metric if has_validation else None,
        greater_is_better=True,
        report_to="none",
        disable_tqdm=False,
        dataloader_num_workers=0,
        # Without use_cpu, accelerate runs each of torchrun's processes on a CPU alone, not data-parallel;
        # with it, they join one gloo process group.
        use_cpu=not torch.cuda.is_available(),
        ddp_find_unused_parameters=False,  # every weight of these heads takes part in each step
    )
    train = training_features(options, data, tokenizer, "train")
    evaluation = training_features(options, data, tokenizer, "validation") if has_validation else None
    collator: Any = (
        DataCollatorForTokenClassification(tokenizer)
        if options.task == "token-classification"
        else DataCollatorWithPadding(tokenizer)
    )
    trainer: TaskTrainer

    def validation_metrics(_: Any) -> dict[str, float]:
        """Ignores the eval loop's logits: scores what the served model would answer."""
        bound = bind(options.task, trainer.model, tokenizer)  # type: ignore[arg-type]
        return split_metrics(options.task, bound, data.splits["validation"], data.labels, options.doc_stride)

    callbacks = (
        [EarlyStoppingCallback(options.early_stopping_patience)]
        if options.early_stopping_patience and has_validation
        else []
    )
    trainer = TaskTrainer(
        model=model,
        args=arguments,
        train_dataset=train,
        eval_dataset=evaluation,
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=validation_metrics if has_validation else None,
        callbacks=callbacks,
        class_weights=balanced_weights(data) if options.class_weights == "balanced" else None,
    )
    return trainer


def _steps_per_epoch(options: FinetuneOptions, data: TaskData) -> int:
    return max(1, len(data.splits["train"]) // options.batch_size)


def train(options: FinetuneOptions, data: TaskData) -> tuple[TaskTrainer, PreTrainedTokenizerBase]:
    set_seed(options.seed)
    tokenizer = load_tokenizer(options)
    model = load_model(options, data.labels)
    trainer = build_trainer(options, data, tokenizer, model)
    checkpoints = options.output / CHECKPOINTS
    resume_from = (
        get_last_checkpoint(str(checkpoints)) if options.resume == "auto" and checkpoints.is_dir() else None
    )
    if resume_from:
        logger.info("Resuming from %s", resume_from)
    elif options.resume == "never" and checkpoints.is_dir() and trainer.is_world_process_zero():
        # Left there, an earlier run's checkpoints outlive this run's rotation and a later
        # `--resume auto` would continue from one of them.
        logger.info("Starting over: removing the checkpoints of an earlier run in %s", checkpoints)
        shutil.rmtree(checkpoints)
    trainer.train(resume_from_checkpoint=resume_from)
    return trainer, tokenizer
