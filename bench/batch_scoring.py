"""Batch scoring figures for docs/batch-scoring.md: throughput against the offline maximum, and memory.

    python -m bench.batch_scoring [--checkpoint DIR] [--rows 1500] [--memory-rows 100000]

1. On the base-size checkpoint: the offline maximum (sentences already tokenized in memory,
   batched by the same policy, model calls only) against `run_batch_job` on the same sentences
   written as Azure-layout CSV files (reading, writing, ledger and all).
2. On a tiny checkpoint with the real vocabulary: peak RSS of `python -m app batch` over a file
   of 1,000 rows and one of `--memory-rows` rows.
"""

import argparse
import csv
import tempfile
import time
from pathlib import Path

from app.batch.inputs import expand_inputs
from app.batch.job import BatchOptions, run_batch_job
from app.engine.offline import forward_all
from app.errors import InvalidInputError
from app.runtime import configure_threads
from app.tasks.checkpoint import load_fill_mask_model
from app.tasks.fill_mask import FillMaskOptions, FillMaskTask
from bench.http_path import tiny_checkpoint
from bench.peak_memory import peak_rss_mb
from bench.run import DEFAULT_CHECKPOINT, ensure_checkpoint
from bench.sentences import masked_sentences


def offline_maximum(model: FillMaskTask, texts: list[str], options: BatchOptions) -> float:
    encoded = model.encode(texts, FillMaskOptions(options.top_k))
    features = [
        feature for item in encoded if not isinstance(item, InvalidInputError) for feature in item.features
    ]
    started = time.perf_counter()
    forward_all(model, features, options.max_batch_tokens, options.max_batch_size)
    return len(texts) / (time.perf_counter() - started)


def batch_job_rate(model: FillMaskTask, texts: list[str], workdir: Path) -> float:
    inputs = workdir / "inputs"
    inputs.mkdir()
    for part in range(0, len(texts), 100):
        with (inputs / f"part-{part // 100:04d}.csv").open("w", newline="") as stream:
            writer = csv.writer(stream, quoting=csv.QUOTE_ALL)
            writer.writerow(["", "input_string"])
            writer.writerows(enumerate(texts[part : part + 100]))
    summary = run_batch_job(model, expand_inputs([inputs]), BatchOptions(output_dir=workdir / "out"))
    return summary.rows / summary.seconds


def batch_peak_rss_mb(checkpoint: Path, rows: int, workdir: Path) -> float:
    source = workdir / f"rows-{rows}.txt"
    sentences = masked_sentences(1000)
    source.write_text("".join(sentences[i % len(sentences)] + "\n" for i in range(rows)))
    return peak_rss_mb(
        ["batch", str(source), "--output", str(workdir / f"out-{rows}"), "--model", str(checkpoint)]
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--memory-rows", type=int, default=100_000)
    args = parser.parse_args()

    configure_threads(None)
    model = load_fill_mask_model(str(ensure_checkpoint(args.checkpoint)), device="cpu")
    texts = masked_sentences(args.rows)
    with tempfile.TemporaryDirectory() as workdir:
        maximum = offline_maximum(model, texts, BatchOptions(output_dir=Path(workdir)))
        job = batch_job_rate(model, texts, Path(workdir))
        print(
            f"{args.rows} sentences, base-size checkpoint: offline maximum {maximum:.1f} rows/s, "
            f"batch job {job:.1f} rows/s = {job / maximum:.1%} of the maximum"
        )
        tiny = tiny_checkpoint(Path(workdir))
        small = batch_peak_rss_mb(tiny, 1000, Path(workdir))
        large = batch_peak_rss_mb(tiny, args.memory_rows, Path(workdir))
        print(f"peak RSS of `python -m app batch`: {small:.0f} MB for 1,000 rows, ", end="")
        print(f"{large:.0f} MB for {args.memory_rows:,} rows")


if __name__ == "__main__":
    main()
