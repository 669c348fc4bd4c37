"""The offline maximum of a precision: what the model alone does, with no server in the way.

The load's sentences tokenized in memory, through the same task code the server runs (fill-mask:
the encoder, then the masked-LM head at the masks only; text classification: the encoder and the
classifier on [CLS]), in batches of 32, three ways:
- sorted padded: sorted by length, each input its own row padded to its batch's longest (the
  best a padded engine can do, with the whole load known in advance);
- unsorted padded: the same, in the load's order (what a queue of mixed lengths gives a padded
  engine);
- packed: in the load's order, packed rows (app.tasks.packing), as the server runs them.
Only the model calls are timed, the best of five passes each: noise on a shared machine only slows
a pass down. The offline maximum is the best of the three.
"""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.compilation import CompileChoice
from app.errors import InvalidInputError
from app.runtime import PrecisionChoice
from app.tasks.checkpoint import load_served_model
from app.tasks.fill_mask import FillMaskOptions
from app.tasks.text_classification import ClassificationOptions

BATCH_SIZE = 32
PASSES = 5


@dataclass(frozen=True)
class OfflineRates:
    sorted_padded: float
    unsorted_padded: float
    packed: float

    @property
    def maximum(self) -> float:
        return max(self.sorted_padded, self.unsorted_padded, self.packed)


def offline_rates(
    checkpoint: Path,
    precision: PrecisionChoice,
    sentences: list[str],
    device: str = "cpu",
    compile: CompileChoice = "off",
) -> OfflineRates:
    """Sentences per second through the checkpoint's own task: fill-mask, or text classification
    (the same sentences, masks and all, are its texts)."""
    served = load_served_model(str(checkpoint), device=device, precision=precision, compile=compile)  # type: ignore[arg-type]
    task: Any = served.tasks[served.primary_task]
    if served.primary_task == "fill-mask":
        encoded = task.encode(sentences, FillMaskOptions())
    elif served.primary_task == "text-classification":
        encoded = task.encode([(sentence, None) for sentence in sentences], ClassificationOptions())
    else:
        raise ValueError(f"the benchmark's sentences are single texts; {served.primary_task} needs more")
    valid = [item for item in encoded if not isinstance(item, InvalidInputError)]
    features = [f for item in valid for f in item.features]
    in_order = batches_of(features)
    by_length = batches_of(sorted(features, key=lambda f: len(f.input_ids)))
    encoder = getattr(served.network, served.network.base_model_prefix)
    packed_rows = encoder.row_tokens
    encoder.row_tokens = 0  # a row per input: padded
    sorted_padded, unsorted_padded = rate(task, by_length), rate(task, in_order)
    encoder.row_tokens = packed_rows
    return OfflineRates(sorted_padded, unsorted_padded, rate(task, in_order))


def batches_of(features: list[Any]) -> list[list[Any]]:
    """Batches of BATCH_SIZE, in the given order."""
    return [features[start : start + BATCH_SIZE] for start in range(0, len(features), BATCH_SIZE)]


def rate(task: Any, batches: list[list[Any]]) -> float:
    """Inputs per second through `task.forward`, batch after batch, the best of PASSES passes."""
    task.forward(batches[0])  # warm-up: one-time kernel and allocator costs (and compiling)
    task.forward(batches[-1])
    count = sum(len(batch) for batch in batches)
    best = 0.0
    for _ in range(PASSES):
        started = time.perf_counter()
        for batch in batches:
            task.forward(batch)
        best = max(best, count / (time.perf_counter() - started))
    return best
