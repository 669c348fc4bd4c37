"""The request queue and batching loop between the routes and the model: task-blind.

Requests put one work item per feature (a model row: one per input, or one per window of a long
input) into a bounded queue. An inference thread does nothing but take the next batch of one
task (`select_batch`) the moment its last one is done, run it through that task's `forward`, and
hand the outputs to the event loop in one callback, which resolves every item's future: no hop
through the event loop between two batches, however busy it is with HTTP. An item that fails
answers its own request with an error; it never takes its batch-mates down or leaves a request
unanswered.

There is one inference thread per model instance (`EngineInstances`, INSTANCES): K batches run at
once over the same weights, each on its own share of torch's threads. Work that changes the
modules a batch runs (`run_exclusive`) waits until no batch runs.
"""

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import torch

from app.engine.batching import BatchLimits, seconds_to_wait_for_company, select_batch
from app.engine.instances import EngineInstances
from app.engine.preparing import Preparer
from app.engine.timeline import BatchRun
from app.engine.work import ExclusiveWork, WorkItem, settle_all, settle_future, still_wanted
from app.errors import DeadlineExceededError, EngineStoppedError, QueueFullError
from app.tasks.base import Feature, Task

logger = logging.getLogger(__name__)


class InferenceEngine:
    def __init__(
        self,
        limits: BatchLimits | None = None,
        *,
        instances: EngineInstances | None = None,
        on_batch: Callable[[Task[Any], int, int, float, float], None] | None = None,
        on_failure: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.limits = limits or BatchLimits()
        self._on_batch = on_batch
        self._on_failure = on_failure
        # Shared by the event loop (which adds work) and the inference thread (which takes it).
        self._ready = threading.Condition()
        self._queue: deque[WorkItem] = deque()
        self._exclusive: deque[ExclusiveWork] = deque()
        self._stopping = False
        # None: one thread, whose torch threads are left as the process set them.
        self.instances = instances
        self._threads: dict[int, threading.Thread] = {}  # by instance
        self._running = 0  # inference threads running a batch or exclusive work now
        self._loop: asyncio.AbstractEventLoop | None = None
        self.preparer = Preparer()  # for large requests' tokenizing and decoding
        self.failure: BaseException | None = None
        self._batch_ids = itertools.count()

    @property
    def queued_inputs(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        # Fresh threads per start: an app's second lifespan starts the engine its first one closed.
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        self.preparer.start()
        self._threads = {}
        self._start_threads()

    def use_instances(self, instances: EngineInstances) -> None:
        """Run `instances` from the next batch on (INSTANCES=auto, once a probe has chosen)."""
        with self._ready:
            self.instances = instances
            self._ready.notify_all()
        if self._threads:
            self._start_threads()

    def _start_threads(self) -> None:
        for index in range(self._instance_count):
            if index not in self._threads or not self._threads[index].is_alive():
                thread = threading.Thread(
                    target=self._serve, args=(index,), name=f"inference-{index}", daemon=True
                )
                self._threads[index] = thread
                thread.start()

    @property
    def _instance_count(self) -> int:
        return self.instances.count if self.instances is not None else 1

    @property
    def _started(self) -> bool:
        return bool(self._threads)

    async def run(
        self,
        task: Task[Any],
        features: list[Feature],
        deadline: float | None = None,
        batches: list[BatchRun] | None = None,
    ) -> list[Any]:
        """`task.forward`'s output for each feature, in order, computed in batches with other requests';
        the batches they ran in are added to `batches` where one is given."""
        loop = asyncio.get_running_loop()
        items = [WorkItem(task, feature, loop.create_future(), deadline) for feature in features]
        with self._ready:
            if self.failure is not None or not self._started or self._stopping:
                raise EngineStoppedError("The inference worker is not running.")
            if len(self._queue) + len(items) > self.limits.max_queued_inputs:
                limit = self.limits.max_queued_inputs
                raise QueueFullError(f"The server is at capacity ({limit} inputs queued); retry shortly.")
            self._queue.extend(items)
            self._ready.notify()
        # If this request is cancelled (client gone), its futures are cancelled with it and the
        # inference thread drops those items before compute.
        if len(items) == 1:
            outputs = [await items[0].future]
        else:
            outputs = list(await asyncio.gather(*(item.future for item in items)))
        if batches is not None:
            batches.extend({item.batch.id: item.batch for item in items if item.batch is not None}.values())
        return outputs

    async def prepare(self, work: Callable[..., Any], *args: Any) -> Any:
        """`work(*args)` on the preparing threads (`app.engine.preparing`), off the event loop."""
        return await self.preparer.run(work, *args)

    async def run_exclusive(self, work: Callable[[], Any]) -> Any:
        """`work()` on an inference thread while no batch runs: for changes to modules a batch runs."""
        if not any(thread.is_alive() for thread in self._threads.values()):  # no batch can run beside it
            return await asyncio.to_thread(work)
        future = asyncio.get_running_loop().create_future()
        with self._ready:
            self._exclusive.append(ExclusiveWork(work, future))
            self._ready.notify()
        return await future

    # The inference threads.

    def _serve(self, index: int) -> None:
        threads = 0  # torch's threads for this one (torch.set_num_threads is per calling thread)
        work: list[WorkItem] | ExclusiveWork | None = None
        try:
            while (work := self._next_work(index)) is not None:
                try:
                    if self.instances is not None and threads != self.instances.threads:
                        threads = self.instances.threads
                        torch.set_num_threads(threads)
                    if isinstance(work, ExclusiveWork):
                        self._run_exclusive(work)
                    else:
                        self._run_batch(work)
                finally:
                    with self._ready:
                        self._running -= 1
                        self._ready.notify_all()  # exclusive work may wait for this batch to end
                work = None  # not held while waiting for the next: a model let go meanwhile is freed
        except BaseException as exc:
            # What this thread held is answered too: nothing it took is left unanswered.
            in_hand = work if isinstance(work, list) else []
            if isinstance(work, ExclusiveWork):
                self._post(settle_future, work.future, EngineStoppedError("The inference worker stopped."))
            with self._ready:
                first = self.failure is None  # or another instance died first and stopped the rest
                if first:
                    self.failure = exc
                abandoned = in_hand + list(self._queue)
                self._queue.clear()
                self._ready.notify_all()  # the other instances stop
            self._post(self._worker_died if first else self._abandon, exc, abandoned)

    def _next_work(self, index: int) -> list[WorkItem] | ExclusiveWork | None:
        """The next batch, as late as it can be chosen (the fullest it can be); None once stopping
        (or once this thread is beyond the instances wanted)."""
        with self._ready:
            while True:
                if self._stopping or self.failure is not None or index >= self._instance_count:
                    return None
                work = self._exclusive_work() if self._exclusive else self._batch_work()
                if isinstance(work, float):
                    self._ready.wait(work or None)
                    continue
                self._running += 1
                return work

    def _exclusive_work(self) -> ExclusiveWork | float:
        """The exclusive work first in line, once no batch runs; meanwhile no batch starts."""
        return self._exclusive.popleft() if self._running == 0 else 0.0

    def _batch_work(self) -> list[WorkItem] | float:
        """A batch, or how long to wait for one (0: until notified)."""
        if not self._queue:
            return 0.0
        company = seconds_to_wait_for_company(
            self.limits, len(self._queue), self._queue[0].enqueued_at, time.monotonic()
        )
        if company > 0:
            return company
        return self._take_batch() or 0.0

    def _take_batch(self) -> list[WorkItem]:
        live, expired = still_wanted(self._queue, time.monotonic())
        if expired:
            error = DeadlineExceededError("The request's deadline passed before its inputs ran.")
            self._post(settle_all, expired, error)
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

    def _run_batch(self, batch: list[WorkItem]) -> None:
        task = batch[0].task
        began = time.monotonic()  # the inputs' wait in the queue ends here
        started = time.perf_counter()
        try:
            outputs = task.forward([item.feature for item in batch])
        except Exception as exc:
            if len(batch) == 1:
                self._post(settle_all, batch, exc)
                return
            logger.warning("A batch of %d failed (%r); retrying its inputs one by one", len(batch), exc)
            for item in batch:
                self._run_batch([item])
            return
        self._post(self._finish_batch, task, batch, outputs, time.perf_counter() - started, began)

    def _run_exclusive(self, exclusive: ExclusiveWork) -> None:
        try:
            outcome = exclusive.work()
        except Exception as exc:
            outcome = exc
        self._post(settle_future, exclusive.future, outcome)

    def _post(self, callback: Callable[..., None], *args: Any) -> None:
        """`callback(*args)` on the event loop, soon."""
        assert self._loop is not None
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: nobody is left to answer
            logger.debug("The event loop closed before %s", callback)

    # Back on the event loop.

    def _finish_batch(
        self, task: Task[Any], batch: list[WorkItem], outputs: list[Any], seconds: float, began: float
    ) -> None:
        """`on_batch(task, inputs, tokens, compute seconds, queued seconds summed over the inputs)`."""
        lengths = [len(item.feature.input_ids) for item in batch]
        run = BatchRun(next(self._batch_ids), len(batch), len(batch) * max(lengths), began, seconds)
        if self._on_batch is not None:
            queued = sum(began - item.enqueued_at for item in batch)
            self._on_batch(task, len(batch), sum(lengths), seconds, queued)
        for item, output in zip(batch, outputs, strict=True):
            item.batch = run
            settle_future(item.future, output)

    def _worker_died(self, failure: BaseException, abandoned: list[WorkItem]) -> None:
        logger.error("The inference worker died: %r", failure)
        self._abandon(failure, abandoned)
        if self._on_failure is not None:
            self._on_failure(failure)

    def _abandon(self, failure: BaseException, abandoned: list[WorkItem]) -> None:
        settle_all(abandoned, EngineStoppedError("The inference worker stopped before this input ran."))
        self._abandon_exclusive()

    def _abandon_exclusive(self) -> None:
        with self._ready:
            waiting = list(self._exclusive)
            self._exclusive.clear()
        for exclusive in waiting:
            settle_future(exclusive.future, EngineStoppedError("The inference worker stopped."))

    async def close(self) -> None:
        """Stop after the batch that runs now; inputs still queued are answered that the engine stopped."""
        with self._ready:
            self._stopping = True
            self._ready.notify_all()
        for thread in list(self._threads.values()):
            await asyncio.to_thread(thread.join)
        with self._ready:
            abandoned = list(self._queue)
            self._queue.clear()
        settle_all(abandoned, EngineStoppedError("The inference worker stopped before this input ran."))
        self._abandon_exclusive()
        self.preparer.stop()
