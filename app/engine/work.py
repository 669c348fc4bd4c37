"""What the engine's queue holds, and how each is answered: a request's input (`WorkItem`) or work
that must run while no batch does (`ExclusiveWork`), each with the future its caller awaits."""

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from app.engine.timeline import BatchRun
from app.tasks.base import Feature, Task


@dataclass
class WorkItem:
    task: Task[Any]
    feature: Feature
    future: "asyncio.Future[Any]"
    deadline: float | None = None  # time.monotonic() after which the answer is no longer wanted
    enqueued_at: float = field(default_factory=time.monotonic)
    batch: BatchRun | None = None  # the batch it ran in, once answered

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now > self.deadline


@dataclass
class ExclusiveWork:
    work: Callable[[], Any]
    future: "asyncio.Future[Any]"


def still_wanted(items: Iterable[WorkItem], now: float) -> tuple[list[WorkItem], list[WorkItem]]:
    """(live, expired): the items whose requests still wait, and those past their deadline; a
    cancelled request's items are in neither, dropped before compute."""
    live: list[WorkItem] = []
    expired: list[WorkItem] = []
    for item in items:
        if not item.future.done():
            (expired if item.expired(now) else live).append(item)
    return live, expired


def settle_all(items: list[WorkItem], outcome: BaseException) -> None:
    for item in items:
        settle_future(item.future, outcome)


def settle_future(future: "asyncio.Future[Any]", outcome: Any) -> None:
    if future.done():
        return
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
