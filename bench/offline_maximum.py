"""The offline maximum of a precision: what the model alone does, with no server in the way.

The load's sentences tokenized in memory, sorted by length, in batches of 32, through the same
task code the server runs (fill-mask: the encoder, then the masked-LM head at the masks only;
text classification: the encoder and the classifier on [CLS]); only the model calls are timed.
The best of five passes is kept: noise on a shared machine only slows a pass down.
"""

import time
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


def offline_maximum(
    checkpoint: Path,
    precision: PrecisionChoice,
    sentences: list[str],
    device: str = "cpu",
    compile: CompileChoice = "off",
) -> float:
    """Sentences per second, the best of PASSES passes, through the checkpoint's own task: fill-mask,
    or text classification (the same sentences, masks and all, are its texts)."""
    served = load_served_model(str(checkpoint), device=device, precision=precision, compile=compile)  # type: ignore[arg-type]
    task: Any = served.tasks[served.primary_task]
    if served.primary_task == "fill-mask":
        encoded = task.encode(sentences, FillMaskOptions())
    elif served.primary_task == "text-classification":
        encoded = task.encode([(sentence, None) for sentence in sentences], ClassificationOptions())
    else:
        raise ValueError(f"the benchmark's sentences are single texts; {served.primary_task} needs more")
    valid = [item for item in encoded if not isinstance(item, InvalidInputError)]
    features = sorted((f for item in valid for f in item.features), key=lambda f: len(f.input_ids))
    batches = [features[start : start + BATCH_SIZE] for start in range(0, len(features), BATCH_SIZE)]
    task.forward(batches[0])  # warm-up: one-time kernel and allocator costs (and compiling)
    task.forward(batches[-1])
    best = 0.0
    for _ in range(PASSES):
        started = time.perf_counter()
        for batch in batches:
            task.forward(batch)
        best = max(best, len(features) / (time.perf_counter() - started))
    return best
