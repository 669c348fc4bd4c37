"""Markdown table and PNG chart of a benchmark run's results."""

from pathlib import Path
from typing import Any


def write_markdown(results: dict[str, Any], path: Path) -> str:
    modes = results["modes"]
    baseline = {load["concurrency"]: load for load in modes.get("baseline", {}).get("loads", [])}
    lines = [
        f"Machine: {results['machine']}; load from {results['load_client']}, closed loop, "
        f"{results['seconds']:g} s per concurrency level"
        + (f"; {results['sentences']}." if "sentences" in results else "."),
        "",
        "| mode | concurrency | sentences/s | x baseline | p50 ms | p90 ms | p99 ms | p99/p50 | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for mode, outcome in modes.items():
        if "unavailable" in outcome:
            lines.append(f"| {mode} | - | unavailable: {outcome['unavailable']} | | | | | | |")
            continue
        for load in outcome["loads"]:
            base = baseline.get(load["concurrency"]) if "@" not in mode else None  # another task
            ratio = f"{load['sentences_per_s'] / base['sentences_per_s']:.2f}" if base else "-"
            tail = load["p99_ms"] / load["p50_ms"] if load["p50_ms"] else float("nan")
            lines.append(
                f"| {mode} | {load['concurrency']} | {load['sentences_per_s']:.1f} | {ratio} | "
                f"{load['p50_ms']:.0f} | {load['p90_ms']:.0f} | {load['p99_ms']:.0f} | {tail:.2f} | "
                f"{load['errors']} |"
            )
    lines.append("")
    for mode, outcome in modes.items():
        if "offline_maximum" in outcome:
            busiest = max(outcome["loads"], key=lambda load: load["sentences_per_s"])
            busy = (
                f", the model busy {busiest['model_busy']:.0%} of the time" if "model_busy" in busiest else ""
            )
            if "mean_batch_size" in busiest:
                busy += (
                    f", batches of {busiest['mean_batch_size']:g} inputs and "
                    f"{busiest['mean_batch_tokens']:g} tokens on average"
                )
            offline = outcome.get("offline")
            ways = (
                f" (sorted padded {offline['sorted_padded']:.1f}, unsorted padded "
                f"{offline['unsorted_padded']:.1f}, packed {offline['packed']:.1f})"
                if offline
                else ""
            )
            lines.append(
                f"- {mode} offline maximum {outcome['offline_maximum']:.1f} sentences/s{ways}; the server's "
                f"best load reached {busiest['sentences_per_s'] / outcome['offline_maximum']:.0%} of it{busy}"
            )
        if "equal_to_fp32" in outcome:
            lines.append(
                f"- {mode} answers equal to fp32's: {outcome['equal_to_fp32']:.1%} of check sentences"
            )
        if "top1_agreement_with_fp32" in outcome:
            lines.append(f"- {mode} top-1 agreement with fp32: {outcome['top1_agreement_with_fp32']:.1%}")
    text = "\n".join(lines) + "\n"
    path.write_text(text)
    return text


def write_chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, tail) = plt.subplots(1, 2, figsize=(11, 4.2))
    for mode, outcome in results["modes"].items():
        loads = outcome.get("loads")
        if not loads:
            continue
        concurrency = [load["concurrency"] for load in loads]
        throughput.plot(concurrency, [load["sentences_per_s"] for load in loads], marker="o", label=mode)
        tail.plot(concurrency, [load["p99_ms"] for load in loads], marker="o", label=mode)
    throughput.set(title="Throughput", xlabel="concurrent clients", ylabel="sentences/s", xscale="log")
    tail.set(title="p99 latency", xlabel="concurrent clients", ylabel="ms", xscale="log", yscale="log")
    for axes in (throughput, tail):
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle("Fill-mask serving, bert-base-cased architecture (random weights)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
