"""One request's examples through a task and the engine: encode, run the features, decode."""

import asyncio
from collections.abc import Sequence
from typing import Any

from app.engine.engine import InferenceEngine
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Task, first_error


async def predict(
    engine: InferenceEngine,
    task: Task[Any],
    examples: Sequence[Any],
    options: Any,
    deadline: float | None = None,
) -> list[Any]:
    """Each example's answer, in order; the first example that cannot be scored fails the request."""
    loop = asyncio.get_running_loop()
    # Tokenizing a long input takes a while: keep it off the event loop too.
    encoded = await loop.run_in_executor(None, task.encode, examples, options)
    error = first_error(encoded)
    if error is not None:
        raise error
    valid = [item for item in encoded if not isinstance(item, InvalidInputError)]
    outputs = await engine.run(task, [feature for item in valid for feature in item.features], deadline)
    return decode_all(task, valid, outputs, options)


def decode_all(
    task: Task[Any], encoded: Sequence[Encoded[Any]], outputs: list[Any], options: Any
) -> list[Any]:
    """Split the flat feature outputs back per example and decode each."""
    answers = []
    cursor = 0
    for item in encoded:
        count = len(item.features)
        answers.append(task.decode(item, outputs[cursor : cursor + count], options))
        cursor += count
    return answers
