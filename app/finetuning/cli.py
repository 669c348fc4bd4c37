"""`python -m app finetune TASK --train FILE --output DIR ...`: arguments, then the run."""

import argparse
import sys
from pathlib import Path

from app.datasets.records import DatasetError
from app.finetuning.options import (
    FINETUNE_TASKS,
    LORA_ALPHA,
    LORA_DROPOUT,
    LORA_R,
    LORA_TARGETS,
    Columns,
    FinetuneOptions,
)


def add_finetune_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = commands.add_parser(
        "finetune", help="Fine-tune a checkpoint for classification, NER or QA; DIR/model is servable."
    )
    parser.add_argument(
        "finetune_task", metavar="TASK", choices=FINETUNE_TASKS, help=", ".join(FINETUNE_TASKS)
    )
    parser.add_argument(
        "--train", required=True, type=Path, help="Training data (JSONL, JSON, CSV, Parquet, ...)."
    )
    parser.add_argument("--validation", type=Path, help="Evaluated each epoch; picks the best checkpoint.")
    parser.add_argument("--test", type=Path, help="Scored once, with the best checkpoint.")
    parser.add_argument(
        "--output", required=True, type=Path, help="DIR: model/, metrics.json, report.md, ..."
    )
    parser.add_argument("--model", dest="base_model", default="bert-base-cased", help="Hub id or folder.")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--learning-rate", type=float, help="Default 2e-5 (QA: 3e-5).")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, help="Default 128 (QA: 384).")
    parser.add_argument("--doc-stride", type=int, default=128, help="QA: overlap of context windows.")
    parser.add_argument("--warmup-ratio", type=float, default=0.0)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--precision", dest="train_precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto"
    )
    parser.add_argument(
        "--early-stopping-patience", type=int, help="Epochs without improvement before stopping."
    )
    parser.add_argument("--resume", choices=["auto", "never"], default="auto")
    parser.add_argument("--max-train-samples", type=int)
    parser.add_argument("--max-eval-samples", type=int)
    parser.add_argument("--max-steps", type=int, help="Stop after this many optimizer steps (smoke runs).")
    parser.add_argument("--class-weights", choices=["none", "balanced"], default="none")
    parser.add_argument("--label-names", help="Names of integer labels or tags, in id order: a,b,c.")
    parser.add_argument(
        "--dry-run", action="store_true", help="Check the data, print the plan, train nothing."
    )
    lora = parser.add_argument_group("LoRA (peft; defaults as Azure's fine-tuning component)")
    lora.add_argument(
        "--lora", action="store_true", help="Train a LoRA adapter and the head, not every weight."
    )
    lora.add_argument("--lora-r", type=int, default=LORA_R)
    lora.add_argument("--lora-alpha", type=int, default=LORA_ALPHA)
    lora.add_argument("--lora-dropout", type=float, default=LORA_DROPOUT)
    lora.add_argument(
        "--lora-targets", default=",".join(LORA_TARGETS), help="Modules the adapter wraps, comma-separated."
    )
    lora.add_argument("--merge", action="store_true", help="With --lora: also write DIR/model, merged.")
    columns = parser.add_argument_group("columns (defaults: the shared datasets' names)")
    columns.add_argument("--text-column", default="text")
    columns.add_argument("--text-pair-column")
    columns.add_argument("--label-column", default="label")
    columns.add_argument("--tokens-column", default="tokens")
    columns.add_argument("--tags-column", help="Default: ner_tags_str where rows have it, else ner_tags.")
    columns.add_argument("--question-column", default="question")
    columns.add_argument("--context-column", default="context")
    columns.add_argument("--answers-column", default="answers")


def options_from(args: argparse.Namespace) -> FinetuneOptions:
    return FinetuneOptions(
        task=args.finetune_task,
        train=args.train,
        validation=args.validation,
        test=args.test,
        output=args.output,
        model=args.base_model,
        epochs=args.epochs,
        learning_rate=args.learning_rate,
        batch_size=args.batch_size,
        max_seq_length=args.max_seq_length,
        doc_stride=args.doc_stride,
        warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay,
        seed=args.seed,
        precision=args.train_precision,
        early_stopping_patience=args.early_stopping_patience,
        resume=args.resume,
        max_train_samples=args.max_train_samples,
        max_eval_samples=args.max_eval_samples,
        max_steps=args.max_steps,
        class_weights=args.class_weights,
        label_names=tuple(name.strip() for name in args.label_names.split(",")) if args.label_names else None,
        columns=Columns(
            text=args.text_column,
            text_pair=args.text_pair_column,
            label=args.label_column,
            tokens=args.tokens_column,
            tags=args.tags_column,
            question=args.question_column,
            context=args.context_column,
            answers=args.answers_column,
        ),
        dry_run=args.dry_run,
        lora=args.lora,
        lora_r=args.lora_r,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        lora_targets=tuple(name.strip() for name in args.lora_targets.split(",") if name.strip()),
        merge=args.merge,
    )


def finetune_command(args: argparse.Namespace) -> int:
    from app.finetuning.run import finetune  # torch and transformers load only here

    options = options_from(args)
    try:
        metrics = finetune(options)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: could not load '{options.model}': {str(exc).splitlines()[0]}", file=sys.stderr)
        return 1
    for split in ("validation", "test"):
        if split in metrics:
            headline = {
                name: round(value, 4) for name, value in metrics[split].items() if isinstance(value, float)
            }
            print(f"{split}: {headline}")
    if metrics and (options.output / "model").is_dir():
        print(f"model in {options.output / 'model'}; python -m app serve --model {options.output / 'model'}")
    if metrics and options.lora:
        print(f"LoRA adapter in {options.output / 'adapter'}")
    return 0
