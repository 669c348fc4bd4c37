"""What a fine-tuning run leaves in DIR besides the model: metrics, predictions, report, charts
and the resolved configuration."""

import hashlib
import json
import platform
import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

from app.evaluation.charts import pyplot, save
from app.finetuning.options import FinetuneOptions

LIBRARIES = ("torch", "transformers", "accelerate", "datasets", "scikit-learn", "seqeval", "peft")


def write_config(options: FinetuneOptions, labels: list[str] | None, precision: str) -> None:
    """finetune_config.json: every resolved argument, library versions, data checksums, the seed."""
    config = {
        "arguments": options.as_json(),
        "precision_used": precision,
        "labels": labels,
        "data_sha256": {
            split: _sha256(path)
            for split, path in (
                ("train", options.train),
                ("validation", options.validation),
                ("test", options.test),
            )
            if path is not None
        },
        "versions": {"python": platform.python_version(), **{name: _version(name) for name in LIBRARIES}},
    }
    (options.output / "finetune_config.json").write_text(json.dumps(config, indent=2) + "\n")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def train_summary(
    log_history: list[dict[str, Any]], best_metric: str, best_value: float | None
) -> dict[str, Any]:
    """From the Trainer's log: the last train loss, throughput, wall time and the best epoch."""
    final: dict[str, Any] = next((entry for entry in reversed(log_history) if "train_runtime" in entry), {})
    evaluations = [entry for entry in log_history if f"eval_{best_metric}" in entry]
    best_epoch = next(
        (
            entry["epoch"]
            for entry in evaluations
            if best_value is not None and entry[f"eval_{best_metric}"] == best_value
        ),
        evaluations[-1]["epoch"] if evaluations else final.get("epoch"),
    )
    return {
        "loss": final.get("train_loss"),
        "examples_per_s": final.get("train_samples_per_second"),
        "wall_time_s": final.get("train_runtime"),
        "epochs": final.get("epoch"),
        "best_epoch": best_epoch,
        "best_metric": best_metric,
    }


def collect_split(output: Path, split: str, evaluation_dir: Path) -> None:
    """The evaluation's predictions as DIR/predictions/<split>.jsonl."""
    (output / "predictions").mkdir(exist_ok=True)
    shutil.copyfile(evaluation_dir / "predictions.jsonl", output / "predictions" / f"{split}.jsonl")


def learning_curves(log_history: list[dict[str, Any]], best_metric: str, path: Path) -> None:
    """Train loss per logging step, validation loss and the best-checkpoint metric per epoch."""
    plt = pyplot()
    train = [(entry["epoch"], entry["loss"]) for entry in log_history if "loss" in entry and "epoch" in entry]
    evaluation = [entry for entry in log_history if "eval_loss" in entry]
    figure, (losses, metric) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        losses.plot(*zip(*train, strict=True), label="train loss")
    if evaluation:
        losses.plot(
            [e["epoch"] for e in evaluation],
            [e["eval_loss"] for e in evaluation],
            "o-",
            label="validation loss",
        )
        scores = [(e["epoch"], e[f"eval_{best_metric}"]) for e in evaluation if f"eval_{best_metric}" in e]
        if scores:
            metric.plot(*zip(*scores, strict=True), "o-")
    losses.set(title="Loss", xlabel="epoch")
    losses.legend()
    losses.grid(True, alpha=0.3)
    metric.set(title=f"Validation {best_metric}", xlabel="epoch")
    metric.grid(True, alpha=0.3)
    save(figure, path)


def write_report(
    options: FinetuneOptions, sizes: dict[str, int], labels: list[str] | None, metrics: dict[str, Any]
) -> None:
    train = metrics["train"]
    lines = [
        f"# Fine-tuning: {options.task}",
        "",
        f"- model: `{options.model}` → `{options.output / 'model'}`",
        "- data: "
        + ", ".join(f"{split} {count} ({getattr(options, split)})" for split, count in sizes.items()),
        f"- settings: {options.epochs:g} epochs, learning rate {options.resolved_learning_rate:g}, batch "
        f"{options.batch_size}, max length {options.resolved_max_seq_length}, seed {options.seed}",
    ]
    if labels is not None:
        lines.append(f"- labels ({len(labels)}): {', '.join(labels)}")
    lines += [
        f"- training: loss {_number(train['loss'])}, {_number(train['examples_per_s'])} examples/s, "
        f"{_number(train['wall_time_s'])} s; best epoch {_number(train['best_epoch'])} "
        f"by {train['best_metric']}",
        "",
        "| split | " + " | ".join(HEADLINES[options.task]) + " |",
        "|---|" + "---:|" * len(HEADLINES[options.task]),
    ]
    for split in ("validation", "test"):
        if split in metrics:
            values = [_number(metrics[split].get(name)) for name in HEADLINES[options.task]]
            lines.append(f"| {split} | " + " | ".join(values) + " |")
    lines += ["", "Learning curves: `learning_curves.png`; per-split details in `evaluation/<split>/`."]
    (options.output / "report.md").write_text("\n".join(lines) + "\n")


HEADLINES = {
    "text-classification": ("accuracy", "macro_f1", "weighted_f1"),
    "token-classification": ("precision", "recall", "f1", "accuracy"),
    "question-answering": ("exact_match", "f1"),
}


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else "-"
