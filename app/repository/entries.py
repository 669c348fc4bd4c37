"""What the repository holds per model: its state, its entry (the counts that admission and
unloading read), and the checkpoints in memory that models run on."""

import asyncio
import enum
from dataclasses import dataclass, field
from typing import Any

from app.repository.specs import ModelSpec
from app.tasks.checkpoint import PreparedAdapter, ServedModel


class ModelState(enum.StrEnum):
    LOADING = "LOADING"
    READY = "READY"
    UNLOADING = "UNLOADING"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass
class LoadedBase:
    """A checkpoint in memory, and the models that run on it."""

    served: ServedModel
    users: set[str] = field(default_factory=set)
    warmed: bool = False


@dataclass
class ModelEntry:
    spec: ModelSpec
    state: ModelState = ModelState.UNAVAILABLE
    reason: str = "not loaded yet"
    served: ServedModel | None = None
    adapter: PreparedAdapter | None = None
    in_flight: int = 0  # requests using it, bodies still arriving included: an unload waits for them
    computing: int = 0  # of those, the ones past their body, at the model: MAX_REQUESTS_PER_MODEL's count
    last_used: float = 0.0
    evicted: bool = False  # unloaded by the budget: a request loads it again
    loading: "asyncio.Task[None] | None" = None
    unloading: "asyncio.Task[None] | None" = None
    drained: asyncio.Event = field(default_factory=lambda: set_event(asyncio.Event()))  # no request in flight

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"name": self.spec.name, "state": self.state.value}
        if self.served is not None:
            described |= self.served.describe()
        else:
            described["model"] = self.spec.source.model
        if self.state is ModelState.UNAVAILABLE:
            described["reason"] = self.reason
        return described


def set_event(event: asyncio.Event) -> asyncio.Event:
    event.set()
    return event
