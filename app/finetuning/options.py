"""Every setting of a fine-tuning run, resolved once from the command line and written to
finetune_config.json, so a run can be read back and repeated."""

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

FinetuneTask = Literal["text-classification", "token-classification", "question-answering"]
FINETUNE_TASKS: tuple[FinetuneTask, ...] = (
    "text-classification",
    "token-classification",
    "question-answering",
)
TrainPrecision = Literal["auto", "fp32", "bf16", "fp16"]

# The anchors' defaults: Azure's components and transformers' run_classification/run_ner/run_qa.
LEARNING_RATE = {"text-classification": 2e-5, "token-classification": 2e-5, "question-answering": 3e-5}
MAX_SEQ_LENGTH = {"text-classification": 128, "token-classification": 128, "question-answering": 384}
# LoRA as Azure's fine-tuning component sets it (azureml-assets finetune_acft_hf_nlp: r 8, alpha 128,
# dropout 0), on the attention projections PEFT picks for BERT.
LORA_R, LORA_ALPHA, LORA_DROPOUT, LORA_TARGETS = 8, 128, 0.0, ("query", "value")
# The metric that picks the best checkpoint, as metrics.json names it.
BEST_METRIC = {"text-classification": "macro_f1", "token-classification": "f1", "question-answering": "f1"}


@dataclass(frozen=True)
class Columns:
    text: str = "text"
    text_pair: str | None = None
    label: str = "label"
    tokens: str = "tokens"
    tags: str | None = None  # None: ner_tags_str where a row has it, else ner_tags
    question: str = "question"
    context: str = "context"
    answers: str = "answers"


@dataclass(frozen=True)
class FinetuneOptions:
    task: FinetuneTask
    train: Path
    output: Path
    validation: Path | None = None
    test: Path | None = None
    model: str = "bert-base-cased"
    epochs: float = 3.0
    learning_rate: float | None = None  # None: the task's default
    batch_size: int = 16
    max_seq_length: int | None = None  # None: the task's default
    doc_stride: int = 128
    warmup_ratio: float = 0.0
    weight_decay: float = 0.0
    seed: int = 42
    precision: TrainPrecision = "auto"
    early_stopping_patience: int | None = None
    resume: Literal["auto", "never"] = "auto"
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    class_weights: Literal["none", "balanced"] = "none"
    label_names: tuple[str, ...] | None = None
    columns: Columns = field(default_factory=Columns)
    dry_run: bool = False
    lora: bool = False  # train a LoRA adapter (and the head) instead of every weight
    lora_r: int = LORA_R
    lora_alpha: int = LORA_ALPHA
    lora_dropout: float = LORA_DROPOUT
    lora_targets: tuple[str, ...] = LORA_TARGETS
    merge: bool = False  # with lora: also write the adapter merged into a plain checkpoint
    max_steps: int | None = None  # for tests and smoke runs: stop after this many optimizer steps

    @property
    def resolved_learning_rate(self) -> float:
        return self.learning_rate if self.learning_rate is not None else LEARNING_RATE[self.task]

    @property
    def resolved_max_seq_length(self) -> int:
        return self.max_seq_length if self.max_seq_length is not None else MAX_SEQ_LENGTH[self.task]

    @property
    def best_metric(self) -> str:
        return BEST_METRIC[self.task]

    def as_json(self) -> dict[str, Any]:
        resolved = asdict(self)
        resolved |= {
            "learning_rate": self.resolved_learning_rate,
            "max_seq_length": self.resolved_max_seq_length,
            "best_metric": self.best_metric,
        }
        return {name: str(value) if isinstance(value, Path) else value for name, value in resolved.items()}
