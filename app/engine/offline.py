"""Offline prediction of many examples at once, batched by the server's own policy."""

from collections.abc import Sequence
from typing import Any

from app.engine.batching import select_batch
from app.engine.predict import decode_all
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Feature, Task


def predict_all(
    task: Task[Any], examples: Sequence[Any], options: Any, max_batch_tokens: int, max_batch_size: int
) -> list[Any | InvalidInputError]:
    """Each example's answer, or the error that kept it from the model; order kept."""
    encoded = task.encode(examples, options)
    valid: list[Encoded[Any]] = [item for item in encoded if not isinstance(item, InvalidInputError)]
    features = [feature for item in valid for feature in item.features]
    outputs = forward_all(task, features, max_batch_tokens, max_batch_size)
    answers = iter(decode_all(task, valid, outputs, options))
    return [item if isinstance(item, InvalidInputError) else next(answers) for item in encoded]


def forward_all(
    task: Task[Any], features: Sequence[Feature], max_batch_tokens: int, max_batch_size: int
) -> list[Any]:
    """`task.forward` over every feature, batch after batch as `select_batch` forms them; order kept."""
    results: list[Any] = [None] * len(features)
    pending = list(enumerate(features))
    while pending:
        chosen = set(select_batch([len(f.input_ids) for _, f in pending], max_batch_tokens, max_batch_size))
        batch = [entry for position, entry in enumerate(pending) if position in chosen]
        pending = [entry for position, entry in enumerate(pending) if position not in chosen]
        outputs = task.forward([feature for _, feature in batch])
        for (index, _), output in zip(batch, outputs, strict=True):
            results[index] = output
    return results
