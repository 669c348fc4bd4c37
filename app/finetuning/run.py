"""One fine-tuning run, start to finish: check the data, train, keep the best model, score the
splits with it, write DIR."""

import json
import logging
import os
import shutil
import statistics
from typing import Any

from app.datasets.records import DatasetError
from app.finetuning.data import TaskData, load_task_data
from app.finetuning.options import FinetuneOptions
from app.finetuning.outputs import collect_split, learning_curves, train_summary, write_config, write_report
from app.finetuning.scoring import bind, write_split_results
from app.finetuning.training import load_tokenizer, resolved_precision, train

logger = logging.getLogger(__name__)
MODEL_DIR = "model"


def finetune(options: FinetuneOptions) -> dict[str, Any]:
    """metrics.json's content; raises DatasetError (nothing written) when the data is at fault."""
    if options.class_weights == "balanced" and options.task != "text-classification":
        raise DatasetError("--class-weights balanced is for text-classification")
    data = load_task_data(options)
    if "train" not in data.splits or not data.splits["train"]:
        raise DatasetError(f"{options.train.name} holds no training examples")
    if options.dry_run:
        print(json.dumps(dry_run_summary(options, data), indent=2))
        return {}
    options.output.mkdir(parents=True, exist_ok=True)
    if int(os.environ.get("RANK", "0")) == 0:  # torchrun starts one process per rank
        write_config(options, data.labels, resolved_precision(options))  # first: explains a crashed run too
    trainer, tokenizer = train(options, data)
    if not trainer.is_world_process_zero():
        return {}
    model_dir = options.output / MODEL_DIR
    lora: dict[str, Any] | None = None
    if options.lora:
        from app.finetuning.lora import save_adapter

        lora = save_adapter(trainer.model, tokenizer, options.output)  # type: ignore[arg-type]
    else:
        trainer.save_model(str(model_dir))  # the best checkpoint, with its tokenizer and label names
    bound = bind(options.task, trainer.model.eval(), tokenizer)  # type: ignore[union-attr,arg-type]
    metrics: dict[str, Any] = {}
    for split in ("validation", "test"):
        if split in data.splits:
            directory = options.output / "evaluation" / split
            metrics[split] = write_split_results(
                options.task, bound, data.splits[split], data.labels, directory
            )
            collect_split(options.output, split, directory)
    confusion = next(
        (
            options.output / "evaluation" / s / "confusion_matrix.png"
            for s in ("test", "validation")
            if s in metrics
        ),
        None,
    )
    if confusion is not None and confusion.is_file():
        shutil.copyfile(confusion, options.output / "confusion_matrix.png")
    history = trainer.state.log_history
    metrics["train"] = train_summary(history, options.best_metric, trainer.state.best_metric)
    if lora is not None:
        metrics["train"]["lora"] = lora
        if options.merge:
            from app.finetuning.lora import save_merged

            save_merged(trainer.model, tokenizer, model_dir)  # type: ignore[arg-type]
    (options.output / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    learning_curves(history, options.best_metric, options.output / "learning_curves.png")
    write_report(options, data.sizes(), data.labels, metrics)
    return metrics


def dry_run_summary(options: FinetuneOptions, data: TaskData) -> dict[str, Any]:
    """The resolved configuration, the label set with counts, and per-split sizes and lengths."""
    tokenizer = load_tokenizer(options)
    summary: dict[str, Any] = {"configuration": options.as_json(), "precision": resolved_precision(options)}
    if data.labels is not None:
        summary["labels"] = {
            split: _label_counts(options, examples, data.labels) for split, examples in data.splits.items()
        }
    summary["splits"] = {}
    for split, examples in data.splits.items():
        lengths = [len(ids) for ids in _token_ids(options, tokenizer, examples)]
        limit = options.resolved_max_seq_length
        summary["splits"][split] = {
            "examples": len(examples),
            "tokens": {
                "min": min(lengths, default=0),
                "median": statistics.median(lengths) if lengths else 0,
                "max": max(lengths, default=0),
                f"over_{limit}": sum(length > limit for length in lengths),
            },
        }
    return summary


def _label_counts(options: FinetuneOptions, examples: list[Any], labels: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(labels, 0)
    for example in examples:
        for label in [example.label] if options.task == "text-classification" else example.tags:
            counts[label] += 1
    return counts


def _token_ids(options: FinetuneOptions, tokenizer: Any, examples: list[Any]) -> list[list[int]]:
    if options.task == "text-classification":
        return [tokenizer(e.text, e.text_pair)["input_ids"] for e in examples]
    if options.task == "token-classification":
        return [tokenizer(e.tokens, is_split_into_words=True)["input_ids"] for e in examples]
    return [tokenizer(e.question, e.context)["input_ids"] for e in examples]
