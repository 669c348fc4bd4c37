"""The offline maximum of a precision: what the model alone does, with no server in the way.

The load's sentences tokenized in memory, sorted by length, in batches of 32, through the same
task code the server runs (encoder, then the masked-LM head at the masks only); only the model
calls are timed. The best of five passes is kept: noise on a shared machine only slows a pass.
"""

import time
from pathlib import Path

from app.errors import InvalidInputError
from app.runtime import PrecisionChoice
from app.tasks.checkpoint import load_fill_mask_model
from app.tasks.fill_mask import FillMaskOptions

BATCH_SIZE = 32
PASSES = 5


def offline_maximum(
    checkpoint: Path, precision: PrecisionChoice, sentences: list[str], device: str = "cpu"
) -> float:
    """Sentences per second, the best of PASSES passes."""
    model = load_fill_mask_model(str(checkpoint), device=device, precision=precision)  # type: ignore[arg-type]
    encoded = [
        item for item in model.encode(sentences, FillMaskOptions()) if not isinstance(item, InvalidInputError)
    ]
    features = sorted(
        (feature for item in encoded for feature in item.features), key=lambda f: len(f.input_ids)
    )
    batches = [features[start : start + BATCH_SIZE] for start in range(0, len(features), BATCH_SIZE)]
    model.forward(batches[0])  # warm-up: one-time kernel and allocator costs
    best = 0.0
    for _ in range(PASSES):
        started = time.perf_counter()
        for batch in batches:
            model.forward(batch)
        best = max(best, len(features) / (time.perf_counter() - started))
    return best
