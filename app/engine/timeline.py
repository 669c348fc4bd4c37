"""One request's way through the server, for TEI's timing headers and the request's trace: when
its texts were tokenized, which batches its inputs ran in, when its answers were decoded. Times are
`time.monotonic()` (CLOCK_MONOTONIC: one clock for every process of the server)."""

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class BatchRun:
    """One batch through the model, as every request with an input in it saw it."""

    id: int  # per engine, in the order batches finish
    size: int  # inputs
    padded_tokens: int  # size x the longest input: the padded batch the tasks build (then packed)
    started: float
    seconds: float


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    tokenized: float = 0.0
    computed: float = 0.0  # the last of its inputs' outputs back from the engine
    decoded: float = 0.0
    tokens: int = 0
    batches: list[BatchRun] = field(default_factory=list)

    @property
    def first_batch_started(self) -> float:
        return min((batch.started for batch in self.batches), default=self.computed)

    def milliseconds(self) -> dict[str, float]:
        """TEI's split of the time: tokenizing, waiting for a batch, in the model, all of it."""
        return {
            "tokenization": (self.tokenized - self.started) * 1000,
            "queue": max(0.0, self.first_batch_started - self.tokenized) * 1000,
            "inference": max(0.0, self.computed - self.first_batch_started) * 1000,
            "compute": (self.decoded - self.started) * 1000,
        }
