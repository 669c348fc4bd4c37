"""One request's examples through a task and the engine: encode, run the features, decode."""

import dataclasses
import time
from collections.abc import Sequence
from typing import Any

from app.engine.engine import InferenceEngine
from app.engine.timeline import Timeline
from app.errors import InvalidInputError
from app.tasks.base import Encoded, Task, first_error

# Up to this many characters a request is tokenized and decoded on the event loop (a sentence takes
# ~50 µs, less than the hop to a thread); longer ones go to the engine's preparing threads so the
# loop keeps answering.
INLINE_CHARACTERS = 1_000


async def predict(
    engine: InferenceEngine,
    task: Task[Any],
    examples: Sequence[Any],
    options: Any,
    deadline: float | None = None,
    timeline: Timeline | None = None,
) -> list[Any]:
    """Each example's answer, in order; the first example that cannot be scored fails the request.
    `timeline`, where given, is filled in as the request goes."""
    inline = characters(examples) <= INLINE_CHARACTERS
    encoded = (
        task.encode(examples, options) if inline else await engine.prepare(task.encode, examples, options)
    )
    error = first_error(encoded)
    if error is not None:
        raise error
    valid = [item for item in encoded if not isinstance(item, InvalidInputError)]
    features = [feature for item in valid for feature in item.features]
    if timeline is None:
        outputs = await engine.run(task, features, deadline)
    else:
        timeline.tokenized = time.monotonic()
        timeline.tokens = sum(len(feature.input_ids) for feature in features)
        outputs = await engine.run(task, features, deadline, timeline.batches)
        timeline.computed = time.monotonic()
    if inline:
        answers = decode_all(task, valid, outputs, options)
    else:
        answers = await engine.prepare(decode_all, task, valid, outputs, options)
    if timeline is not None:
        timeline.decoded = time.monotonic()
    return answers


def characters(value: Any) -> int:
    """The text in a request's examples: strings, in tuples, lists or dataclasses (NER's Words)."""
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list | tuple):
        return sum(characters(part) for part in value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return sum(characters(getattr(value, field.name)) for field in dataclasses.fields(value))
    return 0


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
