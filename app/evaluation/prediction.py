"""Predictions for a whole data set through the server's task code and batching policy.

Chunks of examples go to `predict_all` one after the other, so the progress bar moves and a
chunk's features are freed before the next is encoded.
"""

from collections.abc import Sequence
from typing import Any

from tqdm import tqdm

from app.engine.batching import BatchLimits
from app.engine.offline import predict_all
from app.errors import InvalidInputError
from app.tasks.base import Task

CHUNK_EXAMPLES = 256


def predict_with_progress(
    task: Task[Any], examples: Sequence[Any], options: Any, limits: BatchLimits
) -> list[Any | InvalidInputError]:
    """Each example's answer, or the error that kept it from the model; order kept."""
    answers: list[Any | InvalidInputError] = []
    with tqdm(total=len(examples), unit="examples", desc="evaluating") as progress:
        for start in range(0, len(examples), CHUNK_EXAMPLES):
            chunk = examples[start : start + CHUNK_EXAMPLES]
            answers += predict_all(task, chunk, options, limits.max_batch_tokens, limits.max_batch_size)
            progress.update(len(chunk))
    return answers
