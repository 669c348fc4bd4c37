"""What one model batch costs, by rows and length: the numbers the batching policy trades between.

Times fill-mask batches of n identical rows of L tokens (one mask each) through the served task,
as the engine runs them, and fits time = a + b * (n * L): a, the cost of a batch however small
(dispatch, the head, the softmax over the vocabulary); b, the cost of one padded token. a / b is
the padding, in tokens, that costs as much as a batch of its own: the batching policy
(app/engine/batching.py) should pad less than that to avoid a split.

    python -m bench.batch_cost --checkpoint bench/checkpoints/bert-base-random --precision bf16
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from app.tasks.checkpoint import load_served_model
from bench.run import DEFAULT_CHECKPOINT

ROWS = (1, 4, 8, 16, 32)
LENGTHS = (12, 18, 24, 32)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "int8"])
    parser.add_argument("--compile", default="auto", choices=["auto", "on", "off"])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    served = load_served_model(str(args.checkpoint), precision=args.precision, compile=args.compile)
    task = served.tasks["fill-mask"]
    print(f"{args.checkpoint} {args.precision}, compiled: {served.compiled}")
    samples = []
    for rows in ROWS:
        for length in LENGTHS:
            batch = [[101, *range(1000, 1000 + length - 3), task.mask_token_id, 102]] * rows
            for _ in range(2):
                task.predict_encoded(batch, 1)
            times = []
            for _ in range(args.runs):
                started = time.perf_counter()
                task.predict_encoded(batch, 1)
                times.append(time.perf_counter() - started)
            seconds = statistics.median(times)
            samples.append((rows * length, seconds))
            print(
                f"rows {rows:2d} x {length:2d} tokens: {seconds * 1000:7.1f} ms, {rows / seconds:6.1f} rows/s"
            )
    tokens = np.array([[1, padded] for padded, _ in samples], dtype=float)
    seconds = np.array([time for _, time in samples])
    (per_batch, per_token), *_ = np.linalg.lstsq(tokens, seconds, rcond=None)
    print(
        f"fit: {per_batch * 1000:.2f} ms per batch + {per_token * 1e6:.1f} µs per padded token; "
        f"a batch costs as much as {per_batch / per_token:.0f} padded tokens"
    )


if __name__ == "__main__":
    main()
