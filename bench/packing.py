"""How long a packed row should be: the offline rate of fill-mask by row length, against padding.

The load's sentences (bench.run's short and long loads) in batches of 32 in the load's order, and
sorted by length for the padded best case, through the fill-mask task the server runs; only the
model calls are timed, the best of five passes. Row tokens 0 is a row per input: a padded batch.
Attention over a row grows with the square of its length, so past some length a row costs more
than the padding it saves; `ROW_TOKENS` in app/tasks/packing.py is chosen from this table.

    python -m bench.packing [--checkpoint DIR] [--precisions fp32 bf16 int8] [--compile off auto]
"""

import argparse
import json
from pathlib import Path
from typing import Any

from app.errors import InvalidInputError
from app.tasks.checkpoint import load_served_model
from app.tasks.fill_mask import FillMaskOptions
from bench.offline_maximum import batches_of, rate
from bench.run import DEFAULT_CHECKPOINT, SENTENCES, ensure_checkpoint, machine_description
from bench.sentences import masked_sentences

ROW_LENGTHS = (0, 64, 128, 256, 512)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--precisions", nargs="+", default=["fp32"])
    parser.add_argument("--compile", nargs="+", default=["off", "auto"])
    parser.add_argument("--sentences", type=int, default=320, help="per load")
    args = parser.parse_args()
    checkpoint = ensure_checkpoint(args.checkpoint)
    print(machine_description(), flush=True)
    rows = []
    for precision in args.precisions:
        for compile_choice in args.compile:
            served = load_served_model(
                str(checkpoint), device="cpu", precision=precision, compile=compile_choice
            )  # type: ignore[arg-type]
            task: Any = served.tasks["fill-mask"]
            encoder = getattr(served.network, served.network.base_model_prefix)
            for load, shape in SENTENCES.items():
                texts = masked_sentences(**{**shape, "count": args.sentences})
                encoded = [
                    item
                    for item in task.encode(texts, FillMaskOptions())
                    if not isinstance(item, InvalidInputError)
                ]
                features = [item.features[0] for item in encoded]
                batches = batches_of(features)
                sorted_batches = batches_of(sorted(features, key=lambda f: len(f.input_ids)))
                row: dict[str, Any] = {
                    "precision": precision,
                    "compiled": served.compiled,
                    "load": load,
                    "mean_tokens": round(sum(len(f.input_ids) for f in features) / len(features), 1),
                }
                encoder.row_tokens = 0
                row["sorted padded"] = round(rate(task, sorted_batches), 1)
                for row_tokens in ROW_LENGTHS:
                    encoder.row_tokens = row_tokens
                    row[f"rows of {row_tokens}" if row_tokens else "padded"] = round(rate(task, batches), 1)
                print(json.dumps(row), flush=True)
                rows.append(row)
    columns = list(rows[0])
    print("\n| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(row[column]) for column in columns) + " |")


if __name__ == "__main__":
    main()
