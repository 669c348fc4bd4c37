"""Which queued inputs form the next batch: a pure policy, testable without asyncio or torch.

Like text-embeddings-inference's queue, a batch fills up to a budget of real tokens and a count
cap. Batches run packed (app.tasks.packing): an input costs its own tokens whatever the lengths
of its batch-mates, so inputs join in arrival order, the oldest always first so that none starves
however the lengths fall; one too long for what is left of the budget waits for the next batch
while shorter ones behind it fill the rest.
"""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class BatchLimits:
    max_batch_tokens: int = 4096
    max_batch_size: int = 32
    max_wait_ms: float = 0
    max_queued_inputs: int = 2048


def select_batch(lengths: Sequence[int], max_batch_tokens: int, max_batch_size: int) -> list[int]:
    """Indices into `lengths` (token counts in arrival order) of the next batch, in arrival order."""
    chosen: list[int] = []
    tokens = 0
    for index, length in enumerate(lengths):
        if len(chosen) >= max_batch_size:
            break
        if chosen and tokens + length > max_batch_tokens:
            continue
        chosen.append(index)
        tokens += length
    return chosen


def seconds_to_wait_for_company(
    limits: BatchLimits, queued: int, oldest_enqueued_at: float, now: float
) -> float:
    """With MAX_WAIT_MS > 0, a batch that is not full waits until its oldest input waited that long."""
    if limits.max_wait_ms <= 0 or queued >= limits.max_batch_size:
        return 0.0
    return oldest_enqueued_at + limits.max_wait_ms / 1000 - now
