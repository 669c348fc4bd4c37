"""The request queue and batching loop between the routes and the model: task-blind.

Requests put one work item per feature (a model row: one per input, or one per window of a long
input) into a bounded queue. A single worker task forms batches of one task with `select_batch`,
runs each through that task's `forward` on the inference thread, off the event loop, and resolves
every item's future. An item that fails answers its own request with an error; it never takes
its batch-mates down or leaves a request unanswered.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from app.engine.batching import select_batch
from app.engine.heap import then_release_free_heap
from app.errors import DeadlineExceededError, EngineStoppedError, QueueFullError
from app.tasks.base import Feature, Task

logger = logging.getLogger(__name__)

PREPARE_THREADS = 2


@dataclass(frozen=True)
class BatchLimits:
    max_batch_tokens: int = 4096
    max_batch_size: int = 32
    max_wait_ms: float = 0
    max_queued_inputs: int = 2048


@dataclass
class WorkItem:
    task: Task[Any]
    feature: Feature
    future: "asyncio.Future[Any]"
    deadline: float | None = None  # time.monotonic() after which the answer is no longer wanted
    enqueued_at: float = field(default_factory=time.monotonic)

    def expired(self, now: float) -> bool:
        return self.deadline is not None and now > self.deadline


class InferenceEngine:
    def __init__(
        self,
        limits: BatchLimits | None = None,
        *,
        on_batch: Callable[[Task[Any], int, int, float], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.limits = limits or BatchLimits()
        self._on_batch = on_batch
        self._on_failure = on_failure
        self._queue: deque[WorkItem] = deque()
        self._arrivals = asyncio.Event()
        # One thread: torch already spreads a batch over every core.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._preparer = ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="prepare")
        self._worker: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    @property
    def queued_inputs(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        # A fresh thread per start: an app's second lifespan starts the engine its first one closed.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._preparer = ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="prepare")
        self._worker = asyncio.create_task(self._run(), name="inference-worker")
        self._worker.add_done_callback(self._on_worker_exit)

    async def run(self, task: Task[Any], features: list[Feature], deadline: float | None = None) -> list[Any]:
        """`task.forward`'s output for each feature, in order, computed in batches with other requests'."""
        if self.failure is not None or self._worker is None:
            raise EngineStoppedError("The inference worker is not running.")
        if len(self._queue) + len(features) > self.limits.max_queued_inputs:
            raise QueueFullError(
                f"The server is at capacity ({self.limits.max_queued_inputs} inputs queued); retry shortly."
            )
        loop = asyncio.get_running_loop()
        items = [WorkItem(task, feature, loop.create_future(), deadline) for feature in features]
        self._queue.extend(items)
        self._arrivals.set()
        # If this request is cancelled (client gone), gather cancels the futures and the worker
        # drops those items before compute.
        return list(await asyncio.gather(*(item.future for item in items)))

    async def prepare(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)` off the event loop, for the tokenizing and decoding of large requests: on
        PREPARE_THREADS threads, so a burst of them queues here rather than all holding their
        memory at once, which is given back to the system after each."""
        return await asyncio.get_running_loop().run_in_executor(
            self._preparer, then_release_free_heap, work, *args
        )

    async def run_exclusive(self, work: Callable[[], Any]) -> Any:
        """`work()` on the inference thread, between batches: for changes to modules a batch runs."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._arrivals.clear()
                await self._arrivals.wait()
                continue
            await self._wait_for_company()
            batch = self._take_batch()
            if batch:
                await self._run_batch(batch)

    async def _wait_for_company(self) -> None:
        """With MAX_WAIT_MS > 0, give a batch that is not full until the oldest waited that long."""
        deadline = self._queue[0].enqueued_at + self.limits.max_wait_ms / 1000
        while len(self._queue) < self.limits.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrivals.clear()
            try:
                await asyncio.wait_for(self._arrivals.wait(), remaining)
            except TimeoutError:
                return

    def _take_batch(self) -> list[WorkItem]:
        now = time.monotonic()
        for item in self._queue:
            if item.expired(now):
                _settle(item, DeadlineExceededError("The request's deadline passed before its inputs ran."))
        live = [item for item in self._queue if not item.future.done()]
        if not live:
            self._queue.clear()
            return []
        # A batch holds one task: the oldest item's.
        same_task = [item for item in live if item.task is live[0].task]
        chosen = select_batch(
            [len(item.feature.input_ids) for item in same_task],
            self.limits.max_batch_tokens,
            self.limits.max_batch_size,
        )
        batch = [same_task[index] for index in chosen]
        taken = {id(item) for item in batch}
        self._queue = deque(item for item in live if id(item) not in taken)
        return batch

    async def _run_batch(self, batch: list[WorkItem]) -> None:
        loop = asyncio.get_running_loop()
        task = batch[0].task
        started = time.perf_counter()
        try:
            outputs = await loop.run_in_executor(
                self._executor, task.forward, [item.feature for item in batch]
            )
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], exc)
                return
            logger.warning("A batch of %d failed (%r); retrying its inputs one by one", len(batch), exc)
            for item in batch:
                await self._run_batch([item])
            return
        if self._on_batch is not None:
            tokens = sum(len(item.feature.input_ids) for item in batch)
            self._on_batch(task, len(batch), tokens, time.perf_counter() - started)
        for item, output in zip(batch, outputs, strict=True):
            _settle(item, output)

    def _on_worker_exit(self, worker: "asyncio.Task[None]") -> None:
        failure = None if worker.cancelled() else worker.exception()
        if failure is not None:
            self.failure = failure
            logger.error("The inference worker died: %r", failure)
            if self._on_failure is not None:
                self._on_failure(failure)
        for item in self._queue:
            _settle(item, EngineStoppedError("The inference worker stopped before this input ran."))
        self._queue.clear()

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        self._executor.shutdown(wait=True)
        self._preparer.shutdown(wait=False, cancel_futures=True)


def _settle(item: WorkItem, outcome: Any) -> None:
    if item.future.done():
        return
    if isinstance(outcome, BaseException):
        item.future.set_exception(outcome)
    else:
        item.future.set_result(outcome)
