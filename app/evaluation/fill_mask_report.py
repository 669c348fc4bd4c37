"""report.md and the accuracy@k chart of an evaluation."""

from pathlib import Path
from typing import Any

from app.evaluation.charts import pyplot, save


def write_report(metrics: dict[str, Any], path: Path) -> None:
    lines = [
        "# Fill-mask evaluation",
        "",
        f"- examples scored: {metrics['examples']}; masks: {metrics['masks']} "
        f"({metrics['masks_scored']} scored, {metrics['masks_gold_not_single_token']} with a gold string "
        "that is not one token of the vocabulary, reported apart)",
        f"- top-1 accuracy: {metrics['top1_accuracy']:.4f}; MRR@{metrics['top_k']}: {metrics['mrr']:.4f}",
    ]
    if "pseudo_perplexity" in metrics:
        lines.append(f"- pseudo-perplexity of the unmasked texts: {metrics['pseudo_perplexity']:.3f}")
    skipped = {reason: n for reason, n in metrics.get("examples_skipped", {}).items() if n}
    if skipped:
        lines.append(f"- examples skipped: {skipped}")
    lines += ["", "| k | accuracy@k |", "|---:|---:|"]
    lines += [f"| {k} | {value:.4f} |" for k, value in metrics["topk_accuracy"].items()]
    if "by_relation" in metrics:
        lines += ["", "| relation | masks scored | top-1 | MRR |", "|---|---:|---:|---:|"]
        lines += [
            f"| {name} | {m['masks_scored']} | {m['top1_accuracy']:.4f} | {m['mrr']:.4f} |"
            for name, m in metrics["by_relation"].items()
        ]
    path.write_text("\n".join(lines) + "\n")


def write_chart(metrics: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    ks = [int(k) for k in metrics["topk_accuracy"]]
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(ks, list(metrics["topk_accuracy"].values()), marker="o")
    axes.set(title="Fill-mask accuracy@k", xlabel="k", ylabel="accuracy", ylim=(0, 1), xscale="log")
    axes.grid(True, alpha=0.3)
    save(figure, path)
